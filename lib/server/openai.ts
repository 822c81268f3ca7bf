/**
 * OpenAI's `/v1/audio/transcriptions` and `/v1/audio/translations`: the multipart upload the
 * official clients send (file, model, language, prompt, response_format, temperature,
 * timestamp_granularities[], stream). The upload streams to a per-request temp dir, removed on every path.
 */
import { createWriteStream, existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { withJobTimeout } from '../jobs/job-timeout.js';
import { audioOptions, makeJobDir, openAudio, removeJobDir } from '../audio/source.js';
import { WhisperServeError } from '../errors.js';
import type { Logger } from '../log.js';
import { knownModels } from '../models/registry.js';
import { formatTranscript, toVerboseJson } from '../output/formats.js';
import { CUE_RANGES, type CueOptions } from '../output/cues.js';
import { inNumberRange, rangeText, type NumberRange } from '../decode-options.js';
import type { ModelHost } from '../jobs/model-host.js';
import type { Segment } from '../whisper.js';

const RESPONSE_FORMATS = ['json', 'text', 'srt', 'vtt', 'verbose_json'] as const;
type ResponseFormat = (typeof RESPONSE_FORMATS)[number];

export interface OpenAiReply {
  contentType: string;
  body: string;
}

/** Opens a Server-Sent Events answer; each call of the writer sends one `data:` event. */
export type OpenEventStream = () => (event: object) => void;

interface Upload {
  file: string | undefined;
  fields: Map<string, string[]>;
}

/** A full temp disk, while an upload was written to it. */
const noRoom = (cause: unknown) => new WhisperServeError('INSUFFICIENT_STORAGE', 'the server has no room left for the upload; retry later', { cause });

/**
 * Streams the multipart body to `dir`. A client that goes away mid-upload fails this request
 * only: the file write is awaited (settled) on every path, so its error is never left unhandled.
 */
async function readUpload(req: IncomingMessage, dir: string, maxBytes: number): Promise<Upload> {
  const upload: Upload = { file: undefined, fields: new Map() };
  // Content-Length already says the body is too large: refused before a byte is read.
  if (Number(req.headers['content-length'] ?? 0) > maxBytes + 64 * 1024) throw new WhisperServeError('PAYLOAD_TOO_LARGE', `the body is over the ${maxBytes} byte upload limit`);
  let write: Promise<void> | undefined;
  let bb: busboy.Busboy;
  try {
    bb = busboy({ headers: req.headers, limits: { fileSize: maxBytes, files: 1, fields: 50 } });
  } catch (err) {
    throw new WhisperServeError('INVALID_INPUT', `expected multipart/form-data: ${(err as Error).message}`);
  }
  let tooLarge = false;
  bb.on('file', (name, stream) => {
    if (name !== 'file') {
      stream.resume();
      return;
    }
    upload.file = join(dir, 'upload');
    stream.on('limit', () => (tooLarge = true));
    write = pipeline(stream, createWriteStream(upload.file));
    // Marked handled now, awaited (and its error raised) below; a failed write (a full temp disk)
    // ends the body's read too, which would otherwise wait on the file forever.
    write.catch((err: Error) => bb.destroy(err));
  });
  bb.on('field', (raw, value) => {
    const name = raw.replace(/\[\]$/, ''); // timestamp_granularities[] is sent once per value
    upload.fields.set(name, [...(upload.fields.get(name) ?? []), value]);
  });
  try {
    // Not pipeline(req, bb): on a parse error that destroys the request, and with it the socket the
    // 400 must go out on (the rest of the body is read and dropped first: lib/server/app.ts).
    await new Promise<void>((resolve, reject) => {
      bb.once('close', resolve);
      bb.once('error', reject);
      req.once('error', reject);
      req.once('close', () => !req.complete && reject(Object.assign(new Error('the client closed the connection'), { code: 'ECONNRESET' })));
      req.pipe(bb);
    });
  } catch (err) {
    req.unpipe(bb);
    bb.on('error', () => {}); // its first error is the one handled here
    bb.destroy(err as Error); // ends the file being written, so its write settles
    await write?.catch(() => undefined);
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw noRoom(err);
    if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') throw new WhisperServeError('ABORTED', 'the client went away during the upload', { cause: err });
    throw new WhisperServeError('INVALID_INPUT', `the multipart body could not be read: ${(err as Error).message}`, { cause: err });
  }
  await write?.catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ENOSPC' ? noRoom(err) : err;
  });
  if (tooLarge) throw new WhisperServeError('PAYLOAD_TOO_LARGE', `the file is over the ${maxBytes} byte upload limit`);
  return upload;
}

interface OpenAiModel {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/**
 * GET /v1/models: "whisper-1" (OpenAI's name, here the server's own model) and every registry
 * model already in the cache (each can be asked for by name).
 */
export function openAiModels(host: ModelHost): { object: 'list'; data: OpenAiModel[] } {
  const cache = host.config.modelCache;
  const cached = Object.entries(knownModels())
    .filter(([, entry]) => existsSync(join(cache, entry.file)))
    .map(([name]) => name);
  const ids = ['whisper-1', ...cached];
  return { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'whisper-serve' })) };
}

/** OpenAI names models "whisper-1"; any name that is not in the registry means the server's default. */
function pickModel(requested: string | undefined, host: ModelHost): string {
  if (requested && requested in knownModels()) return requested;
  return host.config.model;
}

/** whisper-serve's own fields for srt/vtt answers: the RunPod schema's names, CUE_RANGES. */
function cueFields(field: (name: string) => string | undefined): CueOptions {
  const number = (name: string, r: NumberRange) => {
    const raw = field(name);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (raw.trim() === '' || !inNumberRange(r, n)) throw new WhisperServeError('INVALID_INPUT', `${name}: ${rangeText(r)}`);
    return n;
  };
  const highlight = field('highlight_words');
  if (highlight !== undefined && highlight !== 'true' && highlight !== 'false') throw new WhisperServeError('INVALID_INPUT', 'highlight_words: true or false');
  return {
    maxLineWidth: number('max_line_width', CUE_RANGES.maxLineWidth),
    maxLineCount: number('max_line_count', CUE_RANGES.maxLineCount),
    maxCueSeconds: number('max_cue_seconds', CUE_RANGES.maxCueSeconds),
    highlightWords: highlight === 'true',
  };
}

export async function openAiTranscription(
  req: IncomingMessage,
  task: 'transcribe' | 'translate',
  ctx: {
    host: ModelHost;
    log: Logger;
    maxBytes: number;
    signal: AbortSignal;
    withSlot: <T>(fn: () => Promise<T>) => Promise<T>;
    counted: (audioSeconds: number, transcribeSeconds: number) => void;
    openEventStream: OpenEventStream;
  },
): Promise<OpenAiReply | 'streamed'> {
  const dir = await makeJobDir('upload', ctx.host.config.tempRoot);
  try {
    const { file, fields } = await readUpload(req, dir, ctx.maxBytes);
    const field = (name: string) => fields.get(name)?.[0];
    if (!file) throw new WhisperServeError('INVALID_INPUT', 'file: the multipart body has no "file" part');
    const format = (field('response_format') ?? 'json') as ResponseFormat;
    if (!RESPONSE_FORMATS.includes(format)) throw new WhisperServeError('INVALID_INPUT', `response_format: one of ${RESPONSE_FORMATS.join(', ')}`);
    const temperature = field('temperature') === undefined ? 0 : Number(field('temperature'));
    if (!(temperature >= 0 && temperature <= 1)) throw new WhisperServeError('INVALID_INPUT', 'temperature: a number from 0 to 1');
    const cues = cueFields(field);
    const words = (fields.get('timestamp_granularities') ?? []).includes('word') || !!cues.highlightWords;
    const stream = field('stream') === 'true';
    if (stream && format !== 'json' && format !== 'text') throw new WhisperServeError('INVALID_INPUT', 'stream: text deltas only, with response_format json or text');

    // The upload is in; decoding and transcribing take one of the server's slots.
    return await ctx.withSlot(async () => {
      const { whisper, release } = await ctx.host.acquire(pickModel(field('model'), ctx.host));
      try {
        return await withJobTimeout(ctx.host.config.jobTimeoutSeconds, ctx.signal, async (signal, timeout) => {
          const language = field('language');
          const prompt = field('prompt');
          const audio = await openAudio(file, { ...audioOptions(ctx.host.config), signal }); // a file already: nothing to remove
          timeout.sawAudio(audio.declaredSeconds ?? 0);
          // stream=true: OpenAI's transcript.text.delta events, one per segment as it becomes final
          // (the deltas joined are the text), then transcript.text.done.
          let send: ((event: object) => void) | undefined;
          let streamed = '';
          const onSegment = (segment: Segment) => {
            const delta = streamed === '' ? segment.text.trimStart() : segment.text;
            if (delta === '') return;
            streamed += delta;
            (send ??= ctx.openEventStream())({ type: 'transcript.text.delta', delta });
          };
          const transcript = await whisper.transcribe(audio.chunks, {
            ...(audio.declaredSeconds !== undefined && { expectedSeconds: audio.declaredSeconds }),
            ...(stream && { onSegment }),
            ...(language && { language }),
            // MULTILINGUAL: a language per window where the request names none and the model has them.
            multilingual: ctx.host.config.multilingual && !language && whisper.info().multilingual,
            ...(prompt && { initialPrompt: prompt }),
            temperature,
            translate: task === 'translate',
            wordTimestamps: words,
            signal,
            onProgress: (p) => timeout.sawAudio(p.audioSecondsDone),
          });
          ctx.counted(transcript.duration, transcript.timings.transcribeSeconds);
          ctx.log.info(`Transcription completed (${transcript.timings.realtimeFactor.toFixed(1)}x real time)`, { audioSeconds: Number(transcript.duration.toFixed(2)) });
          if (stream) {
            (send ??= ctx.openEventStream())({ type: 'transcript.text.done', text: transcript.text });
            return 'streamed';
          }
          switch (format) {
            case 'json': return { contentType: 'application/json', body: JSON.stringify({ text: transcript.text }) };
            case 'text': return { contentType: 'text/plain; charset=utf-8', body: `${transcript.text}\n` };
            case 'verbose_json': return { contentType: 'application/json', body: toVerboseJson(transcript, task) };
            default: return { contentType: format === 'srt' ? 'application/x-subrip' : 'text/vtt', body: formatTranscript(transcript, format, {}, cues) };
          }
        });
      } finally {
        release();
      }
    });
  } finally {
    await removeJobDir(dir);
  }
}
