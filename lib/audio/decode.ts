/**
 * Audio bytes → 16 kHz mono Float32 PCM. The container is found by probing the bytes
 * (ffprobe), never by the file name; ffmpeg decodes straight into memory over a pipe
 * (no temp WAV). A plain 16 kHz mono s16 WAV is read directly, without ffmpeg.
 *
 * Decoded length is bounded (MAX_AUDIO_SECONDS): checked against what the container declares
 * before decoding, and enforced on the samples as they arrive, so a few hundred KB of FLAC that
 * inflate to 20 h of silence cost a refusal, not gigabytes.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { readConfig } from '../config.js';
import { WhisperServeError } from '../errors.js';
import { SAMPLE_RATE } from '../windows.js';
import { findFfmpeg } from './ffmpeg.js';

export interface DecodedAudio {
  pcm: Float32Array;
  /** Seconds. */
  duration: number;
  /** Container (ffprobe's format_name) and codec of the audio stream. */
  format: string;
  codec: string;
  decoder: 'wav' | 'ffmpeg';
}

export interface DecodeOptions {
  signal?: AbortSignal;
  /** Longest audio accepted, in seconds (default MAX_AUDIO_SECONDS). */
  maxSeconds?: number;
}

interface Probe {
  format: string;
  codec: string;
  /** What the container declares, if anything. */
  duration: number | undefined;
}

const hours = (s: number) => `${(s / 3600).toFixed(s < 36_000 ? 2 : 1)} h`;

function tooLong(what: string, seconds: number, maxSeconds: number): WhisperServeError {
  return new WhisperServeError('AUDIO_TOO_LONG', `${what} ${hours(seconds)} of audio, over the ${hours(maxSeconds)} limit (MAX_AUDIO_SECONDS=${maxSeconds})`, {
    details: { maxSeconds },
  });
}

/** ffmpeg's and ffprobe's messages start with the input path: a server path clients must not see. */
const lastLine = (stderr: string, path: string) => (stderr.trim().split('\n').pop() ?? '').split(path).join('input');

interface WavLayout {
  /** Byte offset and length of the samples. */
  offset: number;
  bytes: number;
}

/** Where a canonical 16 kHz mono s16 WAV keeps its samples; undefined for any other file. */
function plainWavLayout(path: string, fileSize: number): WavLayout | undefined {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(36);
    const n = readSync(fd, head, 0, 36, 0);
    const plain =
      n === 36 &&
      head.toString('ascii', 0, 4) === 'RIFF' &&
      head.toString('ascii', 8, 16) === 'WAVEfmt ' &&
      head.readUInt16LE(20) === 1 && // PCM
      head.readUInt16LE(22) === 1 && // mono
      head.readUInt32LE(24) === SAMPLE_RATE &&
      head.readUInt16LE(34) === 16;
    if (!plain) return undefined;
    const chunk = Buffer.alloc(8);
    for (let pos = 12; readSync(fd, chunk, 0, 8, pos) === 8; ) {
      const size = chunk.readUInt32LE(4);
      const body = pos + 8;
      if (chunk.toString('ascii', 0, 4) === 'data') {
        const present = fileSize - body;
        // 0 and 0xFFFFFFFF are what a writer leaves when it cannot seek back (a pipe, a crash): read to the end.
        if (size === 0 || size === 0xffffffff) return { offset: body, bytes: present };
        if (size > present) {
          throw new WhisperServeError('CORRUPT_AUDIO', `the WAV file is truncated: its header declares ${(size / 2 / SAMPLE_RATE).toFixed(2)} s of samples, the file holds ${(present / 2 / SAMPLE_RATE).toFixed(2)} s (cut short in transfer?)`);
        }
        return { offset: body, bytes: size };
      }
      pos = body + size + (size & 1);
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a 16 kHz mono 16-bit PCM WAV without ffmpeg; undefined for anything else (ffmpeg then
 * handles it). Only the canonical layout (fmt chunk first) is taken, and the header decides
 * (length included) before the samples are read.
 */
export function readPlainWav(path: string, maxSeconds = Infinity): Float32Array | undefined {
  const layout = plainWavLayout(path, statSync(path).size);
  if (!layout) return undefined;
  const count = Math.floor(layout.bytes / 2);
  if (count / SAMPLE_RATE > maxSeconds) throw tooLong('the WAV file holds', count / SAMPLE_RATE, maxSeconds);
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(count * 2);
  try {
    readSync(fd, buf, 0, buf.length, layout.offset);
  } finally {
    closeSync(fd);
  }
  const pcm = new Float32Array(count);
  for (let i = 0; i < count; i++) pcm[i] = buf.readInt16LE(2 * i) / 32768;
  return pcm;
}

async function probe(path: string): Promise<Probe | undefined> {
  const ff = findFfmpeg();
  if (!ff.ffprobe) return undefined;
  const args = ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,duration:format=format_name,duration', '-of', 'json', path];
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(ff.ffprobe, args, { encoding: 'utf8', timeout: 60_000, maxBuffer: 4 * 1024 * 1024 }));
  } catch (err) {
    const e = err as { stderr?: string; killed?: boolean };
    const why = e.killed ? 'probing took over 60 s' : lastLine(e.stderr ?? '', path) || 'probe failed';
    throw new WhisperServeError('UNSUPPORTED_FORMAT', `not a media file ffmpeg can read (${why})`);
  }
  const parsed = JSON.parse(stdout || '{}') as {
    streams?: Array<{ codec_type?: string; codec_name?: string; duration?: string }>;
    format?: { format_name?: string; duration?: string };
  };
  const audio = parsed.streams?.find((s) => s.codec_type === 'audio');
  const format = parsed.format?.format_name ?? 'unknown';
  if (!audio) throw new WhisperServeError('UNSUPPORTED_FORMAT', `the file (${format}) has no audio stream`);
  const declared = [audio.duration, parsed.format?.duration].map(Number).filter((d) => Number.isFinite(d) && d > 0);
  return { format, codec: audio.codec_name ?? 'unknown', duration: declared.length ? Math.max(...declared) : undefined };
}

/**
 * ffmpeg's f32le output, written into one array sized from the declared duration (grown when
 * that was short), so the PCM is held once, not as chunks plus a copy. Stops ffmpeg as soon as
 * the samples pass maxSeconds.
 */
function ffmpegDecode(path: string, declaredSeconds: number | undefined, maxSeconds: number, signal?: AbortSignal): Promise<Float32Array> {
  const ff = findFfmpeg();
  const maxSamples = Math.floor(maxSeconds * SAMPLE_RATE);
  return new Promise((resolve, reject) => {
    const child = spawn(
      ff.path,
      ['-nostdin', '-hide_banner', '-loglevel', 'error', '-i', path, '-vn', '-map', '0:a:0', '-ac', '1', '-ar', String(SAMPLE_RATE), '-f', 'f32le', 'pipe:1'],
      { stdio: ['ignore', 'pipe', 'pipe'], ...(signal && { signal }) },
    );
    // Byte views stay small (a Buffer cannot span more than 4 GiB; 24 h of PCM is 5.5 GB).
    let pcm = new Float32Array(Math.min(maxSamples + 1, Math.ceil(((declaredSeconds ?? 60) + 1) * SAMPLE_RATE)));
    let filled = 0; // bytes
    let failure: WhisperServeError | undefined;
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      if (failure) return;
      if (filled + c.length > maxSamples * 4) {
        failure = tooLong('the audio decodes to more than', maxSeconds, maxSeconds);
        child.kill('SIGKILL');
        return;
      }
      if (filled + c.length > pcm.byteLength) {
        const grown = new Float32Array(Math.min(maxSamples + 1, Math.max(pcm.length * 2, Math.ceil((filled + c.length) / 4))));
        grown.set(pcm.subarray(0, Math.ceil(filled / 4)));
        pcm = grown;
      }
      new Uint8Array(pcm.buffer, filled, c.length).set(c);
      filled += c.length;
    });
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 4000) stderr += c.toString();
    });
    child.on('error', (err) => {
      reject(err.name === 'AbortError' ? new WhisperServeError('ABORTED', 'decoding aborted') : new WhisperServeError('CORRUPT_AUDIO', `ffmpeg failed: ${err.message}`));
    });
    child.on('close', (code) => {
      if (failure) return reject(failure);
      if (code !== 0) {
        return reject(new WhisperServeError('CORRUPT_AUDIO', `ffmpeg could not decode the audio: ${lastLine(stderr, path) || `exit code ${code}`}`));
      }
      const n = Math.floor(filled / 4);
      // A short declared duration left spare room: give it back rather than hold it for the job.
      resolve(pcm.length > n * 1.1 + SAMPLE_RATE ? pcm.slice(0, n) : pcm.subarray(0, n));
    });
  });
}

export async function decodeFile(path: string, options: DecodeOptions = {}): Promise<DecodedAudio> {
  const maxSeconds = options.maxSeconds ?? readConfig().maxAudioSeconds;
  if (statSync(path).size === 0) throw new WhisperServeError('EMPTY_AUDIO', 'the audio file is empty (0 bytes)');
  const plain = readPlainWav(path, maxSeconds);
  let decoded: DecodedAudio;
  if (plain) {
    decoded = { pcm: plain, duration: plain.length / SAMPLE_RATE, format: 'wav', codec: 'pcm_s16le', decoder: 'wav' };
  } else {
    const probed = await probe(path);
    if (probed?.duration !== undefined && probed.duration > maxSeconds) throw tooLong(`the ${probed.format} container declares`, probed.duration, maxSeconds);
    const pcm = await ffmpegDecode(path, probed?.duration, maxSeconds, options.signal);
    decoded = { pcm, duration: pcm.length / SAMPLE_RATE, format: probed?.format ?? 'unknown', codec: probed?.codec ?? 'unknown', decoder: 'ffmpeg' };
  }
  if (decoded.pcm.length === 0) throw new WhisperServeError('EMPTY_AUDIO', 'the audio decodes to no samples');
  return decoded;
}
