/**
 * Audio bytes → 16 kHz mono Float32 PCM, as a stream of chunks (a 10 h file never needs to be
 * in memory whole) or whole. The container is found by probing the bytes (ffprobe), never by the
 * file name, among audio/video containers only (lib/audio/containers.ts: no playlist, no
 * manifest); ffmpeg is told that container and reads the file as an open descriptor, with no
 * protocol but `fd` allowed, so nothing a file names is ever opened; it decodes over a pipe.
 * A plain 16 kHz mono s16 WAV is read directly, without ffmpeg.
 *
 * Decoded length is bounded (MAX_AUDIO_SECONDS): checked against what the container declares
 * before decoding, and enforced on the samples as they arrive, so a few hundred KB of FLAC that
 * inflate to 20 h of silence cost a refusal, not gigabytes.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { DEFAULTS } from '../config.js';
import { WhisperServeError } from '../errors.js';
import { SAMPLE_RATE } from '../windows.js';
import { DEMUXERS, demuxerOf, sniffManifest } from './containers.js';
import { findFfmpeg, type FfmpegSettings } from './ffmpeg.js';

/** A decoded file as a stream: what it is, and its PCM in chunks. */
export interface DecodedStream {
  /** Container (ffprobe's format_name) and codec of the audio stream. */
  format: string;
  codec: string;
  decoder: 'wav' | 'ffmpeg';
  /** The length the file declares (a WAV's data size, a container's duration), seconds, if any. */
  declaredSeconds: number | undefined;
  /**
   * 16 kHz mono PCM in order, each chunk read once. Throws AUDIO_TOO_LONG past maxSeconds,
   * CORRUPT_AUDIO when ffmpeg fails, ABORTED on the signal; stopping early stops ffmpeg.
   */
  chunks: AsyncIterable<Float32Array>;
}

export interface DecodedAudio {
  pcm: Float32Array;
  /** Seconds. */
  duration: number;
  /** Container (ffprobe's format_name) and codec of the audio stream. */
  format: string;
  codec: string;
  decoder: 'wav' | 'ffmpeg';
}

export interface DecodeOptions extends FfmpegSettings {
  signal?: AbortSignal;
  /** Longest audio accepted, in seconds (a shell's MAX_AUDIO_SECONDS; default 24 h). */
  maxSeconds?: number;
}

interface Probe {
  format: string;
  /** The demuxer ffmpeg is told to use (-f): the prober's answer, from DEMUXERS. */
  demuxer: string;
  channels: number;
  codec: string;
  /** What the container declares, if anything. */
  duration: number | undefined;
}

// Hours for long audio; seconds where hours would read 0.00 (a limit of a few minutes).
const hours = (s: number) => (s < 360 ? `${s.toFixed(1)} s` : `${(s / 3600).toFixed(s < 36_000 ? 2 : 1)} h`);

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

/** The input half of every ffprobe/ffmpeg command: the file as fd 3, no protocol but `fd`, listed demuxers only. */
function guardedInput(format?: string): string[] {
  return ['-protocol_whitelist', 'fd', '-format_whitelist', DEMUXERS.join(','), ...(format ? ['-f', format] : []), '-fd', '3', '-i', 'fd:'];
}

/**
 * Runs ffprobe or ffmpeg on the file, given as an open descriptor (fd 3), so the input needs no
 * `file` protocol and nothing it names can be opened. The child leads its own process group, and
 * the whole group is killed (SIGKILL) when it is stopped or aborted.
 */
function spawnOnFile(bin: string, args: string[], fd: number, signal: AbortSignal | undefined): ChildProcessByStdio<null, Readable, Readable> {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe', fd], detached: true }) as ChildProcessByStdio<null, Readable, Readable>;
  const kill = () => killGroup(child);
  signal?.addEventListener('abort', kill, { once: true });
  child.once('close', () => signal?.removeEventListener('abort', kill));
  return child;
}

/** SIGKILL for a child and anything it started (it leads its own group: spawnOnFile). */
function killGroup(child: { pid?: number | undefined; exitCode: number | null; signalCode: NodeJS.Signals | null }): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Refuses a playlist or manifest by its first bytes, whatever a demuxer would make of it. */
async function refuseManifests(path: string): Promise<void> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    const kind = sniffManifest(head.subarray(0, bytesRead));
    if (kind) throw new WhisperServeError('UNSUPPORTED_FORMAT', `the file is ${kind}: playlists and manifests are not accepted (they name other files and URLs); send the audio itself`);
  } finally {
    await file.close();
  }
}

async function probe(path: string, settings: FfmpegSettings, signal: AbortSignal | undefined): Promise<Probe> {
  const ff = findFfmpeg(settings);
  await refuseManifests(path);
  const args = ['-v', 'error', ...guardedInput(), '-show_entries', 'stream=codec_type,codec_name,channels,duration:format=format_name,duration', '-of', 'json'];
  const file = await open(path, 'r');
  let stdout = '';
  let stderr = '';
  let code: number | null;
  let timedOut = false;
  try {
    const child = spawnOnFile(ff.ffprobe, args, file.fd, signal);
    const timer = setTimeout(() => ((timedOut = true), killGroup(child)), 60_000);
    child.stdout.on('data', (c: Buffer) => {
      if (stdout.length < 4 * 1024 * 1024) stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 4000) stderr += c.toString();
    });
    code = await new Promise<number | null>((resolve, reject) => child.once('error', reject).once('close', resolve));
    clearTimeout(timer);
  } finally {
    await file.close();
  }
  if (signal?.aborted) throw new WhisperServeError('ABORTED', 'probing aborted');
  if (code !== 0) {
    const why = timedOut ? 'probing took over 60 s' : lastLine(stderr, path) || 'probe failed';
    throw new WhisperServeError('UNSUPPORTED_FORMAT', `not an audio or video file ffmpeg may read (${why}); accepted containers: ${DEMUXERS.join(', ')}`);
  }
  const parsed = JSON.parse(stdout || '{}') as {
    streams?: Array<{ codec_type?: string; codec_name?: string; channels?: number; duration?: string }>;
    format?: { format_name?: string; duration?: string };
  };
  const audio = parsed.streams?.find((s) => s.codec_type === 'audio');
  const format = parsed.format?.format_name ?? 'unknown';
  const demuxer = demuxerOf(format);
  if (!demuxer) throw new WhisperServeError('UNSUPPORTED_FORMAT', `the ${format} format is not accepted; accepted containers: ${DEMUXERS.join(', ')}`);
  if (!audio) throw new WhisperServeError('UNSUPPORTED_FORMAT', `the file (${format}) has no audio stream`);
  const declared = [audio.duration, parsed.format?.duration].map(Number).filter((d) => Number.isFinite(d) && d > 0);
  return { format, demuxer, channels: audio.channels ?? 1, codec: audio.codec_name ?? 'unknown', duration: declared.length ? Math.max(...declared) : undefined };
}

/** Samples per chunk read from a WAV: 10 s. */
const WAV_CHUNK = 10 * SAMPLE_RATE;

async function* wavChunks(path: string, layout: WavLayout): AsyncGenerator<Float32Array> {
  const file = await open(path, 'r');
  try {
    const buf = Buffer.alloc(WAV_CHUNK * 2);
    for (let at = 0; at + 1 < layout.bytes; ) {
      const { bytesRead } = await file.read(buf, 0, Math.min(buf.length, layout.bytes - at) & ~1, layout.offset + at);
      if (bytesRead < 2) return;
      at += bytesRead;
      const out = new Float32Array(bytesRead >> 1);
      for (let i = 0; i < out.length; i++) out[i] = buf.readInt16LE(2 * i) / 32768;
      yield out;
    }
  } finally {
    await file.close();
  }
}

/**
 * To mono: ffmpeg's own rematrixing knows the layouts up to 7.1; past 8 channels (32- and 64-channel
 * WAVs have no layout it can rematrix) every channel gets an equal share.
 */
function downmix(channels: number): string[] {
  if (channels <= 8) return ['-ac', '1'];
  const gain = (1 / channels).toFixed(6);
  return ['-af', `pan=mono|c0=${Array.from({ length: channels }, (_, i) => `${gain}*c${i}`).join('+')}`];
}

/** ffmpeg's f32le output as it comes; stops ffmpeg (its process group) when the samples pass maxSeconds, the reader stops or the signal aborts. */
async function* ffmpegChunks(path: string, probed: Probe, maxSeconds: number, options: DecodeOptions): AsyncGenerator<Float32Array> {
  const ff = findFfmpeg(options);
  const signal = options.signal;
  const maxSamples = Math.floor(maxSeconds * SAMPLE_RATE);
  const file = await open(path, 'r');
  const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', ...guardedInput(probed.demuxer), '-vn', '-map', '0:a:0', ...downmix(probed.channels), '-ar', String(SAMPLE_RATE), '-f', 'f32le', 'pipe:1'];
  const child = spawnOnFile(ff.path, args, file.fd, signal);
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    if (stderr.length < 4000) stderr += c.toString();
  });
  let failure: Error | undefined;
  child.on('error', (err) => (failure = err));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    let rest: Buffer | undefined; // a sample split between two reads
    let samples = 0;
    for await (const c of child.stdout as AsyncIterable<Buffer>) {
      if (signal?.aborted) break;
      const bytes = rest ? Buffer.concat([rest, c]) : c;
      const whole = bytes.length - (bytes.length % 4);
      rest = whole < bytes.length ? Buffer.from(bytes.subarray(whole)) : undefined;
      samples += whole / 4;
      if (samples > maxSamples) throw tooLong('the audio decodes to more than', maxSeconds, maxSeconds);
      // A view where the bytes are 4-aligned (a fresh pipe read is), else a copy.
      if (bytes.byteOffset % 4 === 0) {
        yield new Float32Array(bytes.buffer, bytes.byteOffset, whole / 4);
      } else {
        const out = new Float32Array(whole / 4);
        new Uint8Array(out.buffer).set(bytes.subarray(0, whole));
        yield out;
      }
    }
    const code = await closed;
    if (signal?.aborted) throw new WhisperServeError('ABORTED', 'decoding aborted');
    if (failure) throw new WhisperServeError('CORRUPT_AUDIO', `ffmpeg failed: ${failure.message}`);
    if (code !== 0) throw new WhisperServeError('CORRUPT_AUDIO', `ffmpeg could not decode the audio: ${lastLine(stderr, path) || `exit code ${code}`}`);
  } finally {
    killGroup(child);
    await file.close();
  }
}

/** A file's PCM as a stream (see DecodedStream); refused before any decoding when it declares more than maxSeconds. */
export async function openDecoded(path: string, options: DecodeOptions = {}): Promise<DecodedStream> {
  const maxSeconds = options.maxSeconds ?? DEFAULTS.maxAudioSeconds;
  const size = statSync(path).size;
  if (size === 0) throw new WhisperServeError('EMPTY_AUDIO', 'the audio file is empty (0 bytes)');
  const layout = plainWavLayout(path, size);
  if (layout) {
    const seconds = Math.floor(layout.bytes / 2) / SAMPLE_RATE;
    if (seconds > maxSeconds) throw tooLong('the WAV file holds', seconds, maxSeconds);
    return { format: 'wav', codec: 'pcm_s16le', decoder: 'wav', declaredSeconds: seconds, chunks: wavChunks(path, layout) };
  }
  const probed = await probe(path, options, options.signal);
  if (probed.duration !== undefined && probed.duration > maxSeconds) throw tooLong(`the ${probed.format} container declares`, probed.duration, maxSeconds);
  return {
    format: probed.format,
    codec: probed.codec,
    decoder: 'ffmpeg',
    declaredSeconds: probed.duration,
    chunks: ffmpegChunks(path, probed, maxSeconds, options),
  };
}

/**
 * A stream's chunks in one array, sized from the declared length (grown when that was short), so
 * the PCM is held once, not as chunks plus a copy. EMPTY_AUDIO when there are no samples.
 */
export async function collectPcm(chunks: AsyncIterable<Float32Array>, declaredSeconds: number | undefined): Promise<Float32Array> {
  let pcm = new Float32Array(Math.ceil(((declaredSeconds ?? 60) + 1) * SAMPLE_RATE));
  let n = 0;
  for await (const c of chunks) {
    if (n + c.length > pcm.length) {
      const grown = new Float32Array(Math.max(Math.ceil(pcm.length * 1.5), n + c.length));
      grown.set(pcm.subarray(0, n));
      pcm = grown;
    }
    pcm.set(c, n);
    n += c.length;
  }
  if (n === 0) throw new WhisperServeError('EMPTY_AUDIO', 'the audio decodes to no samples');
  // A long declared duration left spare room: give it back rather than hold it for the job.
  return pcm.length > n * 1.1 + SAMPLE_RATE ? pcm.slice(0, n) : pcm.subarray(0, n);
}
