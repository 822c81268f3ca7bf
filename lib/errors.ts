/**
 * Every failure a user can see has one stable `code`. The API throws `WhisperServeError`,
 * the CLI prints `code: message` plus advice, HTTP and RunPod answers carry `{ code, message }`.
 */
export const ErrorCodes = {
  INVALID_ARGUMENT: 'a call was made with a wrong argument',
  INVALID_INPUT: 'a job input does not match the schema (the message names the field)',
  JOB_NOT_FOUND: 'no job has that id',
  QUEUE_FULL: 'the job queue is full; retry later',
  UNAUTHORIZED: 'a missing or wrong API key',
  PAYLOAD_TOO_LARGE: 'the request body is larger than allowed',
  MODEL_NOT_FOUND: 'the model is neither a known name nor an existing file',
  MODEL_LOAD_FAILED: 'the model file is not a valid whisper ggml model',
  MODEL_IMPORT_FAILED: 'a model directory could not be converted',
  MODEL_CHECKSUM_MISMATCH: 'a downloaded model does not have the checksum the registry names',
  MODEL_DISPOSED: 'the model was disposed',
  MODEL_ENGLISH_ONLY: 'an English-only model was asked to translate, or to hear another language: use a multilingual one (e.g. base)',
  NATIVE_ADDON_MISSING: 'the native addon is neither prebuilt nor built',
  NATIVE_ADDON_LOAD_FAILED: 'the native addon exists but the system could not load it (missing shared libraries, wrong platform)',
  CUDA_NOT_AVAILABLE: 'a GPU was required but CUDA is not usable',
  OUT_OF_MEMORY: 'a whisper state could not be allocated',
  EMPTY_AUDIO: 'the audio holds no samples',
  CORRUPT_AUDIO: 'the audio could not be decoded',
  UNSUPPORTED_FORMAT: 'the input is not audio, or has no audio stream',
  AUDIO_TOO_LONG: 'the audio lasts longer than MAX_AUDIO_SECONDS allows',
  FFMPEG_NOT_FOUND: 'no usable ffmpeg/ffprobe pair (the same version, 6.0 or newer) was found',
  SETUP_FAILED: 'an install step (ffmpeg install, a job database, the temp root) could not be done',
  JOB_STORE_UNAVAILABLE: 'the job database (JOBS_DB) stopped answering: the job is kept, retry',
  JOB_TIMEOUT: 'the job ran past its time limit (JOB_TIMEOUT)',
  INSUFFICIENT_STORAGE: 'the server has no room left for the upload (its temp disk is full)',
  DOWNLOAD_FAILED: 'the URL could not be fetched',
  DOWNLOAD_TOO_LARGE: 'the download is larger than allowed',
  DOWNLOAD_TIMEOUT: 'the download took too long',
  URL_BLOCKED: 'the URL points to a private or otherwise blocked address',
  VAD_FAILED: 'voice activity detection failed',
  TRANSCRIBE_FAILED: 'whisper.cpp failed on the audio',
  ABORTED: 'the operation was aborted',
  JOB_CRASHED: 'the server process died while running this job, more than once: it is not run again',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** The codes as values (`err.code === ErrorCode.INVALID_ARGUMENT`); `ErrorCodes` maps each to its description. */
export const ErrorCode = Object.freeze(Object.fromEntries(Object.keys(ErrorCodes).map((code) => [code, code]))) as { readonly [C in ErrorCode]: C };

export class WhisperServeError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = code === 'ABORTED' ? 'AbortError' : 'WhisperServeError';
    this.code = code;
    this.details = options?.details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

/** Model files that cannot be loaded throw this subclass, so callers can catch just that. */
export class ModelLoadError extends WhisperServeError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('MODEL_LOAD_FAILED', message, options);
    this.name = 'ModelLoadError';
  }
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && code in ErrorCodes;
}

/** Wraps anything thrown (native errors carry a `code` property) into a WhisperServeError. */
export function toWhisperServeError(err: unknown, fallback: ErrorCode = 'TRANSCRIBE_FAILED'): WhisperServeError {
  if (err instanceof WhisperServeError) return err;
  const e = err as { code?: unknown; message?: unknown; name?: unknown } | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (e?.name === 'AbortError') return new WhisperServeError('ABORTED', message, { cause: err });
  const code = isErrorCode(e?.code) ? e.code : fallback;
  return code === 'MODEL_LOAD_FAILED' ? new ModelLoadError(message, { cause: err }) : new WhisperServeError(code, message, { cause: err });
}
