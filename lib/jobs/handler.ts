/**
 * One job: validated input → audio → transcript → the output the official faster-whisper
 * worker returns (plus timings). No HTTP here: the RunPod loop, the local test mode and the
 * server's job queue all call `handleJob`.
 */
import { basename } from 'node:path';
import { audioOptions, openAudio } from '../audio/source.js';
import { redactUrl } from '../net/ssrf.js';
import { startLanguage } from '../languages.js';
import type { Logger } from '../log.js';
import { openAiSegments, toSrt, toVtt } from '../output/formats.js';
import type { CueOptions } from '../output/cues.js';
import type { Progress, Segment, Transcript, TranscribeOptions } from '../whisper.js';
import { withJobTimeout, type JobTimeout } from './job-timeout.js';
import type { ModelHost } from './model-host.js';
import { suppressesNonSpeech, validateJob, type JobInput, type TextFormat } from './schema.js';

export interface Job {
  id: string;
  input: unknown;
}

export interface JobContext {
  host: ModelHost;
  log: Logger;
  signal?: AbortSignal;
  /** How far the transcription is (the server's /status reports the latest). */
  onProgress?: (progress: Progress) => void;
  /** Partial output, when the job's input asks for it (`stream: true`): each segment once final. */
  onSegment?: (segment: StreamedSegment) => void;
  /** Local test mode only: audio may be a path on this machine. */
  allowLocalFiles?: boolean;
}

/** One chunk of a job's partial output. */
export interface StreamedSegment {
  id: number;
  start: number;
  end: number;
  text: string;
}

export interface JobOutput {
  segments: ReturnType<typeof openAiSegments>;
  detected_language: string;
  transcription: string;
  translation: string | null;
  device: string;
  model: string;
  word_timestamps?: Array<{ word: string; start: number; end: number; probability: number }>;
  duration: number;
  realtime_factor: number;
  timings: Record<string, number>;
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/** The job's subtitle settings, for its srt/vtt texts. */
export function cueOptions(input: JobInput): CueOptions {
  return {
    ...(input.max_line_width !== undefined && { maxLineWidth: input.max_line_width }),
    ...(input.max_line_count !== undefined && { maxLineCount: input.max_line_count }),
    ...(input.max_cue_seconds !== undefined && { maxCueSeconds: input.max_cue_seconds }),
    highlightWords: input.highlight_words,
  };
}

export function formatText(t: Transcript, format: TextFormat, cues: CueOptions = {}): string {
  switch (format) {
    case 'plain_text': return t.text;
    case 'formatted_text': return t.segments.map((s) => s.text.trim()).join('\n');
    case 'srt': return toSrt(t, cues);
    case 'vtt': return toVtt(t, cues);
  }
}

export function decodeOptions(input: JobInput): TranscribeOptions {
  const conditioned = input.condition_on_previous_text === true;
  return {
    ...(input.language && { language: input.language }),
    multilingual: input.multilingual,
    temperature: input.temperature,
    ...(input.temperature_increment_on_fallback != null && { temperatureIncrement: input.temperature_increment_on_fallback }),
    ...(input.compression_ratio_threshold != null && { compressionRatioThreshold: input.compression_ratio_threshold }),
    ...(input.logprob_threshold != null && { logprobThreshold: input.logprob_threshold }),
    ...(input.no_speech_threshold != null && { noSpeechThreshold: input.no_speech_threshold }),
    ...(input.beam_size && { beamSize: input.beam_size }),
    ...(input.best_of && { bestOf: input.best_of }),
    ...(input.patience != null && { patience: input.patience }),
    ...(input.length_penalty != null && { lengthPenalty: input.length_penalty }),
    ...(input.initial_prompt && { initialPrompt: input.initial_prompt }),
    suppressNonSpeech: suppressesNonSpeech(input.suppress_tokens),
    wordTimestamps: input.word_timestamps || input.highlight_words,
    vad: input.enable_vad,
    // Conditioning on the previous window needs that window's text first: one window at a time.
    ...(conditioned ? { batchSize: 1, conditionOnPreviousText: true } : input.batch_size && { batchSize: input.batch_size }),
  };
}

export async function handleJob(job: Job, ctx: JobContext): Promise<JobOutput> {
  const started = performance.now();
  const log = ctx.log;
  const { input, source } = validateJob(job.input, ctx.allowLocalFiles);
  log.info('Job started', { source: typeof source !== 'string' ? 'base64' : /^https?:/i.test(source) ? redactUrl(source) : source });

  return withJobTimeout(ctx.host.config.jobTimeoutSeconds, ctx.signal, (signal, timeout) => runJob(ctx, started, input, source, timeout, { signal }));
}

async function runJob(
  ctx: JobContext,
  started: number,
  input: JobInput,
  source: ReturnType<typeof validateJob>['source'],
  timeout: JobTimeout,
  signalOpt: { signal: AbortSignal },
): Promise<JobOutput> {
  const log = ctx.log;
  // The model loads (cold start) while the audio downloads and is probed (and the VAD, on first
  // use, downloads); it is decoded as it is transcribed, block by block (a 10 h file is never in
  // memory whole).
  const loading = ctx.host.acquire(input.model ?? ctx.host.config.model, log);
  const opening = openAudio(source, { ...audioOptions(ctx.host.config), ...signalOpt });
  const vadReady = input.enable_vad ? ctx.host.obtainVad(log, signalOpt.signal) : undefined;
  const [model, opened, vad] = await Promise.allSettled([loading, opening, vadReady]);
  if (model.status === 'rejected' || vad.status === 'rejected') {
    if (opened.status === 'fulfilled') await opened.value.close();
    if (model.status === 'fulfilled') model.value.release();
    throw model.status === 'rejected' ? model.reason : (vad as PromiseRejectedResult).reason;
  }
  const { whisper, loadSeconds, name, release } = model.value;
  const audio = opened.status === 'fulfilled' ? opened.value : undefined;
  try {
    // Refused before any work: what this model cannot do (an English-only one: translate, other languages).
    startLanguage({ language: input.language ?? undefined, translate: input.translate, multilingual: input.multilingual }, whisper.info());
    if (!audio) throw (opened as PromiseRejectedResult).reason;
    if (audio.downloadedBytes !== undefined) {
      log.info('Audio downloaded', { bytes: audio.downloadedBytes, seconds: round(audio.downloadSeconds ?? 0, 2) });
    }
    if (audio.decoder === 'ffmpeg') log.info('Format needs conversion: converted with ffmpeg as it is transcribed', { format: audio.format, codec: audio.codec });
    log.info('Transcription started', { ...(audio.declaredSeconds !== undefined && { audioSeconds: round(audio.declaredSeconds, 2) }) });
    timeout.sawAudio(audio.declaredSeconds ?? 0);
    const options = { ...decodeOptions(input), ...(audio.declaredSeconds !== undefined && { expectedSeconds: audio.declaredSeconds }) };
    const onSegment = input.stream && ctx.onSegment;
    const transcript = await whisper.transcribe(audio.chunks, {
      ...options,
      ...signalOpt,
      onProgress: (p: Progress) => {
        timeout.sawAudio(p.audioSecondsDone);
        ctx.onProgress?.(p);
      },
      ...(onSegment && { onSegment: (s: Segment) => onSegment({ id: s.id, start: round(s.start), end: round(s.end), text: s.text }) }),
    });
    // One real-time factor per job, the output's (audio over the job's whole time, download and
    // load included), on the "Job finished" line: this one gives the transcription's seconds.
    log.info('Transcription completed', {
      seconds: round(transcript.timings.transcribeSeconds, 2),
      audioSeconds: round(transcript.duration, 2),
      segments: transcript.segments.length,
    });
    let translation: string | null = null;
    if (input.translate) {
      const translated = await whisper.transcribe(await audio.reopen(), { ...options, ...signalOpt, translate: true });
      translation = formatText(translated, input.translation, cueOptions(input));
    }
    const words = transcript.segments.flatMap((s) => s.words ?? []);
    const totalSeconds = (performance.now() - started) / 1000;
    const realtimeFactor = round(transcript.duration / totalSeconds, 2);
    log.info('Job finished', { seconds: round(totalSeconds, 2), realtimeFactor });
    return {
      segments: openAiSegments(transcript, input.temperature),
      detected_language: transcript.language,
      transcription: formatText(transcript, input.transcription, cueOptions(input)),
      translation,
      device: whisper.device.useGpu ? 'cuda' : 'cpu',
      model: basename(name), // a registry name, or a file's base name: never a server path
      ...(input.word_timestamps && {
        word_timestamps: words.map((w) => ({ word: w.word, start: round(w.start), end: round(w.end), probability: round(w.probability) })),
      }),
      duration: round(transcript.duration),
      realtime_factor: realtimeFactor,
      timings: {
        ...(loadSeconds !== undefined && { model_load: round(loadSeconds) }),
        ...(audio.downloadSeconds !== undefined && { download: round(audio.downloadSeconds) }),
        // Decoding runs inside transcription (block by block): its time is part of `transcribe`.
        transcribe: round(transcript.timings.transcribeSeconds),
        total: round(totalSeconds),
      },
    };
  } finally {
    release();
    await audio?.close();
  }
}
