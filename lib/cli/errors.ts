/** How the CLI ends: documented exit codes, and one line of advice per error code. */
import { WhisperServeError, toWhisperServeError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';

export const EXIT = { OK: 0, JOB_FAILED: 1, USAGE: 2, SETUP: 3, INTERRUPTED: 130 } as const;

const ADVICE: Partial<Record<ErrorCode, string>> = {
  MODEL_NOT_FOUND: 'run `whisper-serve models ls` to see the cache, or pass a path to a ggml .bin file',
  MODEL_LOAD_FAILED: 'the file is not a whisper.cpp ggml model; re-import or re-download it',
  NATIVE_ADDON_MISSING: 'run `npm run build:native` in the package directory',
  NATIVE_ADDON_LOAD_FAILED: 'rebuild with `npm run build:native`, or point WHISPER_SERVE_ADDON at a build for this machine',
  FFMPEG_NOT_FOUND: 'run `whisper-serve ffmpeg install`, install ffmpeg 6+ with its ffprobe, or set FFMPEG_PATH',
  CUDA_NOT_AVAILABLE: 'check nvidia-smi, or run with --no-gpu',
  UNSUPPORTED_FORMAT: 'give an audio or video file (wav, mp3, m4a, ogg, opus, webm, flac, …)',
  MODEL_ENGLISH_ONLY: 'pick a multilingual model, e.g. `-m base`',
  URL_BLOCKED: 'private addresses are refused; set ALLOW_PRIVATE_URLS=1 if you trust the URL',
};

const SETUP_CODES: ReadonlySet<ErrorCode> = new Set(['NATIVE_ADDON_MISSING', 'NATIVE_ADDON_LOAD_FAILED', 'FFMPEG_NOT_FOUND', 'SETUP_FAILED', 'CUDA_NOT_AVAILABLE', 'MODEL_NOT_FOUND', 'MODEL_LOAD_FAILED']);

export function reportError(err: unknown, verbose: boolean): number {
  const e = toWhisperServeError(err);
  process.stderr.write(`error ${e.code}: ${e.message}\n`);
  const advice = ADVICE[e.code];
  if (advice) process.stderr.write(`hint: ${advice}\n`);
  if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  if (e.code === 'INVALID_ARGUMENT' || e.code === 'MODEL_ENGLISH_ONLY') return EXIT.USAGE;
  return SETUP_CODES.has(e.code) ? EXIT.SETUP : EXIT.JOB_FAILED;
}

/**
 * For the long-running shells: a promise rejected with nobody listening is a bug, but one
 * client's request must not take every other one down with it. Logged loudly (the test suite
 * fails on this line), and the process goes on.
 */
export function logUnhandledRejections(log: Logger): void {
  process.on('unhandledRejection', (reason) => {
    log.error('BUG: unhandled promise rejection (the process goes on)', { reason: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) });
  });
}

export { WhisperServeError };
