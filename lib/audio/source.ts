/**
 * Any audio input → decoded PCM, as a stream or whole: a local path, an http(s) URL, base64
 * (with or without a data: prefix), a Buffer/Uint8Array or a Readable. Bytes that are not
 * already a file go to a per-job temp dir, which is removed on every exit path.
 */
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DEFAULTS, type Config } from '../config.js';
import { WhisperServeError } from '../errors.js';
import type { Logger } from '../log.js';
import { collectPcm, openDecoded, type DecodedAudio, type DecodedStream, type DecodeOptions } from './decode.js';
import { SAMPLE_RATE } from '../windows.js';
import { download, type FetchOptions } from './fetch.js';
import { processRuns } from '../processes.js';

export type AudioInput = string | URL | Buffer | Uint8Array | Readable | { base64: string };

export interface LoadedAudio extends DecodedAudio {
  source: 'file' | 'url' | 'base64' | 'buffer' | 'stream';
  /** Bytes fetched, for URLs. */
  downloadedBytes?: number;
  downloadSeconds?: number;
  decodeSeconds: number;
}

export interface LoadAudioOptions extends FetchOptions, DecodeOptions {
  /** Parent of the per-job temp dirs (default: DEFAULTS.tempRoot, under the OS temp dir). */
  tempRoot?: string;
}

/** The audio settings of a shell's configuration (MAX_AUDIO_*, DOWNLOAD_IDLE_SECONDS, ALLOW_PRIVATE_URLS, FFMPEG_PATH, FFMPEG_DIR, WHISPER_SERVE_TMP). */
export function audioOptions(cfg: Config): LoadAudioOptions {
  return {
    maxBytes: cfg.maxAudioBytes,
    idleTimeoutMs: cfg.downloadIdleSeconds * 1000,
    privateUrls: cfg.allowPrivateUrls,
    maxSeconds: cfg.maxAudioSeconds,
    ...(cfg.ffmpegPath && { ffmpegPath: cfg.ffmpegPath }),
    ffmpegDir: cfg.ffmpegDir,
    tempRoot: cfg.tempRoot,
  };
}

/** This process's temp dirs not yet removed: whatever ends the process removes them (see below). */
const liveJobDirs = new Set<string>();
process.once('exit', () => liveJobDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/**
 * A per-job temp dir named after this process, so a later start can tell whose it was. Remove
 * it with `removeJobDir`; if the process exits first (a signal handler calling process.exit
 * included), it is removed then.
 */
export async function makeJobDir(kind: 'job' | 'upload', root: string): Promise<string> {
  let dir: string;
  try {
    await mkdir(root, { recursive: true });
    dir = await mkdtemp(join(root, `${kind}-${process.pid}-`));
  } catch (err) {
    // The temp root is the machine's setup (read-only, not ours, full), never the client's fault.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') throw new WhisperServeError('INSUFFICIENT_STORAGE', 'the temp root (WHISPER_SERVE_TMP) is full', { cause: err });
    throw new WhisperServeError('SETUP_FAILED', `the temp root (WHISPER_SERVE_TMP) cannot be written: ${code ?? (err as Error).message}`, { cause: err });
  }
  liveJobDirs.add(dir);
  return dir;
}

export async function removeJobDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveJobDirs.delete(dir);
}

/**
 * Removes the temp dirs of processes that are gone (killed mid-job: no `finally` ran). Called
 * when a server or worker starts; the dirs of live processes are left alone.
 */
export async function sweepStaleJobDirs(root: string, log?: Logger): Promise<string[]> {
  const stale = (await readdir(root).catch(() => [] as string[])).filter((name) => {
    const m = /^(?:job|upload)-(\d+)-/.exec(name);
    return m !== null && Number(m[1]) !== process.pid && !processRuns(Number(m[1]));
  });
  await Promise.all(stale.map((name) => rm(join(root, name), { recursive: true, force: true })));
  if (stale.length) log?.info('removed temp dirs left by processes that were killed', { dirs: stale.length });
  return stale;
}

function stripDataUri(b64: string): string {
  const comma = /^data:/i.test(b64) ? b64.indexOf(',') : -1; // any case: DATA:audio/wav;base64,…
  return comma >= 0 ? b64.slice(comma + 1) : b64;
}

/** A local input path that is a readable file, or an error that says what it is instead. */
async function checkInputFile(path: string): Promise<void> {
  const why: Record<string, string> = {
    ENOENT: 'no such file',
    ENOTDIR: 'no such file (a part of the path is not a directory)',
    ELOOP: 'too many levels of symbolic links (a symlink loop)',
    EACCES: 'permission denied',
    ENAMETOOLONG: 'the path is too long',
  };
  const s = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new WhisperServeError('INVALID_ARGUMENT', `${why[err.code ?? ''] ?? err.code ?? 'cannot read'}: ${path}`);
  });
  if (s.isDirectory()) throw new WhisperServeError('INVALID_ARGUMENT', `${path} is a directory, not an audio file`);
  if (!s.isFile()) throw new WhisperServeError('INVALID_ARGUMENT', `${path} is not a regular file`);
}

/** An input opened for decoding: what it is, its PCM as a stream, and where it came from. */
export interface AudioStream extends DecodedStream {
  source: LoadedAudio['source'];
  downloadedBytes?: number;
  downloadSeconds?: number;
  /** The PCM from the start again (a second pass: a translation), until `close()`. */
  reopen(): Promise<AsyncIterable<Float32Array>>;
  /** Removes the input's temp files: call it when done (`finally`). */
  close(): Promise<void>;
}

/**
 * Opens any input for decoding as a stream: bytes that are not a file yet (a URL's, base64, a
 * Buffer, a Readable) are written to a per-job temp dir first, removed by `close()`. Long audio
 * is never held whole here: a reader takes chunks as it goes.
 */
export async function openAudio(given: AudioInput, options: LoadAudioOptions = {}): Promise<AudioStream> {
  // A URL object as its string: file: ones as the path they name, http(s) ones fetched as any URL.
  if (given instanceof URL && !['file:', 'http:', 'https:', 'data:'].includes(given.protocol)) {
    throw new WhisperServeError('INVALID_ARGUMENT', `a URL input must be file:, http(s): or data:, not ${given.protocol}`);
  }
  const input = given instanceof URL ? (given.protocol === 'file:' ? fileURLToPath(given) : given.href) : given;
  if (typeof input === 'string' && !/^(https?:|data:)/i.test(input)) {
    await checkInputFile(input);
    const reopen = async () => (await openDecoded(input, options)).chunks;
    return { ...(await openDecoded(input, options)), source: 'file', reopen, close: async () => undefined };
  }
  const dir = await makeJobDir('job', options.tempRoot ?? DEFAULTS.tempRoot);
  try {
    let path = join(dir, 'input');
    let source: LoadedAudio['source'];
    const extra: Partial<AudioStream> = {};
    if (typeof input === 'string' && /^https?:/i.test(input)) {
      const t = performance.now();
      const got = await download(input, dir, options);
      path = got.path;
      source = 'url';
      extra.downloadedBytes = got.bytes;
      extra.downloadSeconds = (performance.now() - t) / 1000;
    } else if (typeof input === 'string' || (typeof input === 'object' && 'base64' in input)) {
      const b64 = stripDataUri(typeof input === 'string' ? input : input.base64);
      if (!/^[A-Za-z0-9+/=_\-\s]*$/.test(b64)) throw new WhisperServeError('INVALID_ARGUMENT', 'audio_base64 is not base64');
      await writeFile(path, Buffer.from(b64, 'base64'));
      source = 'base64';
    } else if (input instanceof Uint8Array) {
      await writeFile(path, input);
      source = 'buffer';
    } else if (input instanceof Readable) {
      await pipeline(input, createWriteStream(path));
      source = 'stream';
    } else {
      throw new WhisperServeError('INVALID_ARGUMENT', 'audio input must be a path, URL, base64, Buffer or Readable');
    }
    const reopen = async () => (await openDecoded(path, options)).chunks;
    return { ...(await openDecoded(path, options)), ...extra, source, reopen, close: () => removeJobDir(dir) };
  } catch (err) {
    await removeJobDir(dir);
    throw err;
  }
}

/** Any input decoded whole (`openAudio` read to the end into one array). */
export async function loadAudio(input: AudioInput, options: LoadAudioOptions = {}): Promise<LoadedAudio> {
  const audio = await openAudio(input, options);
  try {
    const t = performance.now();
    const pcm = await collectPcm(audio.chunks, audio.declaredSeconds);
    const { chunks: _chunks, declaredSeconds: _declared, reopen: _reopen, close: _close, ...what } = audio;
    return { ...what, pcm, duration: pcm.length / SAMPLE_RATE, decodeSeconds: (performance.now() - t) / 1000 };
  } finally {
    await audio.close();
  }
}
