/**
 * The library's `Whisper`: the core model (lib/whisper.ts: a ggml file in, 16 kHz PCM in,
 * segments out) plus what a library user expects of `Whisper.load(model)` and
 * `whisper.transcribe(input)`: a registry name or a path for the model, and any audio input
 * (path, URL, Buffer, Readable, base64), decoded by lib/audio/ as it is transcribed. Like a
 * shell, it reads the environment (lib/config.ts: WHISPER_MODEL, WHISPER_MODEL_CACHE,
 * MODEL_BATCH_SIZE, MAX_AUDIO_SECONDS, …) once, at load, unless the caller passes `config`.
 */
import { Readable } from 'node:stream';
import { findFfmpeg as findFfmpegIn, type FfmpegSettings } from './audio/ffmpeg.js';
import { audioOptions, loadAudio as loadAudioWith, openAudio as openAudioWith, type AudioInput, type AudioStream, type LoadAudioOptions, type LoadedAudio } from './audio/source.js';
import { DEFAULTS, readConfig, type Config } from './config.js';
import { createLogger as createLoggerWith, quietLogger, type Logger, type LoggerOptions } from './log.js';
import { listCache as listCacheIn, removeModel as removeModelIn, type CachedModel } from './models/cache.js';
import { pullModel as pullModelWith, type PullOptions, type Pulled } from './models/pull.js';
import { obtainModel, obtainOptions, obtainVad, type ObtainOptions } from './models/obtain.js';
import { resolveModel as resolveModelIn } from './models/registry.js';
import type { VadOptions } from './vad.js';
import { SegmentStream } from './segment-stream.js';
import { both, Whisper as CoreWhisper, type LoadOptions, type Segment, type TranscribeOptions, type Transcript } from './whisper.js';

/** Whisper.load's options: the core's, and what to do about a named model not yet in the cache. */
export interface ModelLoadOptions extends LoadOptions {
  /** Download a named model missing from the cache on first use (default: WHISPER_MODEL_DOWNLOAD, on). */
  download?: boolean;
  /** A download's bytes so far, and in all where the server says. */
  onDownload?: (done: number, total: number | undefined) => void;
  signal?: AbortSignal;
}

export class Whisper extends CoreWhisper {
  /**
   * Loads a model by registry name or path; by default WHISPER_MODEL, else tiny.en. A name not
   * yet in the cache (WHISPER_MODEL_CACHE, by default ~/.cache/whisper-serve/models) is downloaded
   * there first, once, checksum-checked (WHISPER_MODEL_MIRROR as its source).
   */
  static override async load(model?: string, options: ModelLoadOptions = {}): Promise<Whisper> {
    const config: Config = options.config ? { ...DEFAULTS, ...options.config } : readConfig();
    const { path, name } = await obtainModel(model ?? config.model, fetchOptions(config, options));
    return (await super.load(path, { ...options, config, ...(name && { name }) })) as Whisper;
  }

  /**
   * Transcribes 16 kHz mono PCM (an array, or an async iterable of chunks), or any input
   * `openAudio` takes, decoded as it is transcribed: a 10 h file is never in memory whole (the
   * decode is not in `timings`). A Node Readable is audio bytes (a file's), not PCM.
   */
  override async transcribe(input: Float32Array | AsyncIterable<Float32Array> | AudioInput, options: TranscribeOptions & LoadAudioOptions = {}): Promise<Transcript> {
    if (options.vad) await this.obtainVad(options.vad, options.signal);
    if (input instanceof Float32Array || (!(input instanceof Readable) && typeof input === 'object' && Symbol.asyncIterator in input)) {
      return super.transcribe(input as Float32Array | AsyncIterable<Float32Array>, options);
    }
    const audio = await openAudioWith(input as AudioInput, { ...audioOptions(this.config), ...options });
    try {
      return await super.transcribe(audio.chunks, { ...(audio.declaredSeconds !== undefined && { expectedSeconds: audio.declaredSeconds }), ...options });
    } finally {
      await audio.close();
    }
  }

  /** The Silero VAD `vad: true` needs, downloaded on first use (`silero-vad`) where none is named or cached. */
  private async obtainVad(vad: true | VadOptions, signal: AbortSignal | undefined): Promise<void> {
    if ((vad !== true && vad.model) || this.config.vadModel) return;
    const cacheDir = (vad !== true && vad.cacheDir) || this.config.modelCache;
    await obtainVad(fetchOptions({ ...this.config, modelCache: cacheDir }, { logger: this.log, ...(signal && { signal }) }));
  }

  /** `transcribeStream` for any input `transcribe` takes. */
  override transcribeStream(input: Float32Array | AsyncIterable<Float32Array> | AudioInput, options: TranscribeOptions & LoadAudioOptions = {}): SegmentStream<Segment, Transcript> {
    return new SegmentStream((push) => this.transcribe(input, { ...options, onSegment: both(options.onSegment, push) }));
  }
}

function fetchOptions(config: Config, options: ModelLoadOptions): ObtainOptions {
  return {
    ...obtainOptions(config, options.logger ?? quietLogger),
    ...(options.download !== undefined && { download: options.download }),
    ...(options.onDownload && { onDownload: options.onDownload }),
    ...(options.signal && { signal: options.signal }),
  };
}

// The library's helpers, with the environment's settings where the caller gives none (as the CLI
// has them): the modules they wrap take every setting as an argument.

/** Decodes any input whole; limits from MAX_AUDIO_SECONDS, MAX_AUDIO_BYTES, ALLOW_PRIVATE_URLS, … unless given. */
export function loadAudio(input: AudioInput, options: LoadAudioOptions = {}): Promise<LoadedAudio> {
  return loadAudioWith(input, { ...audioOptions(readConfig()), ...options });
}

/** Opens any input as a PCM stream; limits as `loadAudio`'s. */
export function openAudio(input: AudioInput, options: LoadAudioOptions = {}): Promise<AudioStream> {
  return openAudioWith(input, { ...audioOptions(readConfig()), ...options });
}

/** Downloads a registry model into the cache (WHISPER_MODEL_CACHE; WHISPER_MODEL_MIRROR as its source) unless told otherwise. */
export function pullModel(name: string, options: Partial<PullOptions> = {}): Promise<Pulled> {
  const cfg = readConfig();
  return pullModelWith(name, { cacheDir: cfg.modelCache, ...(cfg.modelMirror && { mirror: cfg.modelMirror }), ...options });
}

export function listCache(dir: string = readConfig().modelCache): Promise<CachedModel[]> {
  return listCacheIn(dir);
}

export function removeModel(name: string, dir: string = readConfig().modelCache): string[] {
  return removeModelIn(name, dir);
}

export function resolveModel(model: string, cacheDir: string = readConfig().modelCache): ReturnType<typeof resolveModelIn> {
  return resolveModelIn(model, cacheDir);
}

/** The ffmpeg/ffprobe pair decoding will use: FFMPEG_PATH, the installed pair (FFMPEG_DIR), ffmpeg-static, PATH's. */
export function findFfmpeg(settings: FfmpegSettings = readConfig()): ReturnType<typeof findFfmpegIn> {
  return findFfmpegIn(settings);
}

/** A logger at LOG_LEVEL and LOG_FORMAT unless told otherwise. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const cfg = readConfig();
  return createLoggerWith({ level: cfg.logLevel, format: cfg.logFormat, ...options });
}
