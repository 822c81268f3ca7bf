/** whisper-serve: the public API. */
import type { AudioInput, LoadAudioOptions } from './audio/source.js';
import { Whisper } from './api.js';
import type { LoadOptions, TranscribeOptions, Transcript } from './whisper.js';

export { Whisper } from './api.js';
export type { ModelLoadOptions } from './api.js';
export { DEFAULTS, readConfig } from './config.js';
export type { Config } from './config.js';
export { tokensToWords } from './whisper.js';
export { DECODE_DEFAULTS } from './decode-options.js';
export type { DecodeOptions } from './decode-options.js';
export type { LoadOptions, Progress, Segment, TranscribeOptions, Transcript, Word } from './whisper.js';
export type { SegmentStream } from './segment-stream.js';
export { createLogger, findFfmpeg, listCache, loadAudio, openAudio, pullModel, removeModel, resolveModel } from './api.js';
export type { AudioInput, AudioStream, LoadedAudio, LoadAudioOptions } from './audio/source.js';
export { ErrorCode, ErrorCodes, ModelLoadError, WhisperServeError } from './errors.js';
export { LANGUAGES, languageCode, languageName } from './languages.js';
export type { Language } from './languages.js';
export { FORMATS, formatTranscript } from './output/formats.js';
export type { OutputFormat } from './output/formats.js';
export { importCt2 } from './models/import-ct2.js';
export { importHf } from './models/import-hf.js';
export { importModel, detectModelFormat } from './models/import.js';
export type { PullOptions, Pulled } from './models/pull.js';
export { verifyModel } from './models/cache.js';
export { readGgmlModel } from './models/ggml-format.js';
export { knownModels } from './models/registry.js';

/** One-shot: load the model, decode the input, transcribe, free the model. */
export async function transcribe(
  input: AudioInput | Float32Array,
  options: TranscribeOptions & LoadOptions & LoadAudioOptions & { model?: string } = {},
): Promise<Transcript> {
  const whisper = await Whisper.load(options.model, options);
  try {
    return await whisper.transcribe(input, options);
  } finally {
    whisper.dispose();
  }
}

// Embedding the long-running surfaces (the CLI's `runpod` and `serve` commands use the same).
export { handleJob } from './jobs/handler.js';
export type { Job, JobContext, JobOutput } from './jobs/handler.js';
export { validateJob, JobInputSchema } from './jobs/schema.js';
export type { JobInput } from './jobs/schema.js';
export { ModelHost } from './jobs/model-host.js';
export { RunpodWorker } from './runpod/worker.js';
export { runLocalTest } from './runpod/local.js';
export { createApp } from './server/app.js';
