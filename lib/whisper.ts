/**
 * `Whisper`: a loaded model and the long-audio policy. Audio is cut into windows (≤ 30 s, cut
 * at pauses, or VAD speech regions), the windows go through the batched engine
 * (lib/batched.ts: `batchSize` windows per encoder pass, every live sequence advanced by one
 * decoder pass per step), and the results are stitched back in order with absolute times.
 *
 * What the engine does not do runs on whisper.cpp's own decoder, one sequence per whisper
 * state: beam search and word timings (windows in parallel on the state pool), and text
 * conditioned on the previous window (`conditionOnPreviousText`: the windows in order on one
 * state, whisper.cpp seeking through the audio, as whisper-cli and openai-whisper do).
 */
import { statSync } from 'node:fs';
import { DEFAULTS, type Config, type GpuMode } from './config.js';
import { boundPrompt, checkDecodeOptions, DECODE_DEFAULTS, nativeDecodeParams, withDefaults, type DecodeOptions } from './decode-options.js';
import { chooseDevice, crossCacheForm, encoderKernels, matrixForm, planBatch, type BatchPlan, type DevicePlan } from './device.js';
import { ModelLoadError, WhisperServeError, toWhisperServeError } from './errors.js';
import { quietLogger, type Logger } from './log.js';
import { SegmentStream } from './segment-stream.js';
import { readGgmlModel } from './models/ggml-format.js';
import { binding, type NativeModel, type NativeModelInfo, type NativeSegment, type NativeWindow } from './native/binding.js';
import { routeNativeLogs } from './native/log-bridge.js';
import type { VadOptions } from './vad.js';
import { decodeBatched } from './batched.js';
import { keepInWindow, SAMPLE_RATE } from './windows.js';
import { startLanguage } from './languages.js';
import { blockSeconds, PcmBlocks, planBlock, type Block } from './pcm-blocks.js';

export interface LoadOptions {
  /** true = required, false = CPU only, 'auto' = CUDA when usable (default: config.gpu, else auto). */
  gpu?: boolean | GpuMode;
  gpuDevice?: number;
  /** CPU threads in all (default: config.threads, else every core). */
  threads?: number;
  /** 30 s windows decoded at once (default: config.batchSize, else from free VRAM, or 8 on the CPU). */
  batchSize?: number;
  /**
   * Settings the caller read from its environment (lib/config.ts's readConfig: WHISPER_GPU,
   * MODEL_BATCH_SIZE, ENCODER_BATCH_SIZE, WHISPER_THREADS, WHISPER_VAD_MODEL, WHISPER_MODEL_CACHE),
   * used where an option is not given; DEFAULTS for the rest. The core reads no environment.
   */
  config?: Partial<Config>;
  flashAttn?: boolean;
  logger?: Logger;
  /** The model's registry name, for logs and `modelName` (the file is given by path). */
  name?: string;
}

export interface Progress {
  /** 0 … 1, never decreasing. */
  fraction: number;
  audioSeconds: number;
  audioSecondsDone: number;
  elapsedSeconds: number;
  /** Audio seconds transcribed per wall-clock second so far. */
  realtimeFactor: number;
}

/** Decode options (lib/decode-options.ts: each one's default and meaning), and how the call runs. */
export interface TranscribeOptions extends Partial<DecodeOptions> {
  /** Window by speech regions (Silero VAD) instead of fixed 30 s windows. */
  vad?: boolean | VadOptions;
  /** Override the model's batch size (windows decoded at once) for this call. */
  batchSize?: number;
  onProgress?: (progress: Progress) => void;
  /** A stream's length, if known (a container's declared duration): progress is a fraction of it. */
  expectedSeconds?: number;
  /** New audio per block when reading a stream (memory: 64 kB a second); default 10 min, or 2 min a window of the batch. */
  blockSeconds?: number;
  /** Each segment as soon as it and everything before it is final, in time order (ids from 0). */
  onSegment?: (segment: Segment) => void;
  signal?: AbortSignal;
}

export interface Word {
  word: string;
  start: number;
  end: number;
  probability: number;
}

export interface Segment {
  id: number;
  start: number;
  end: number;
  text: string;
  avgLogprob: number;
  noSpeechProb: number;
  /** The ids of its text tokens in the model's vocabulary (faster-whisper's and OpenAI's `tokens`). */
  tokens?: number[];
  /** The language this segment's window was decoded in: with `multilingual` only. */
  language?: string;
  words?: Word[];
}

export interface Transcript {
  text: string;
  language: string;
  languageProbability: number;
  duration: number;
  segments: Segment[];
  windows: number;
  timings: { transcribeSeconds: number; realtimeFactor: number };
}

function checkPcm(pcm: unknown): asserts pcm is Float32Array | AsyncIterable<Float32Array> {
  const stream = pcm !== null && typeof pcm === 'object' && Symbol.asyncIterator in pcm;
  if (!(pcm instanceof Float32Array) && !stream) {
    throw new WhisperServeError('INVALID_ARGUMENT', 'pcm must be a Float32Array of 16 kHz mono samples, or an async iterable of them');
  }
}

/** Progress over blocks: samples done, of the whole when it is known (an array, `expectedSeconds`), else of what was read so far. */
class ProgressReport {
  private reported = 0;
  private readonly doneIn = new Map<number, number>(); // the current block's windows: samples done

  constructor(
    private readonly report: ((p: Progress) => void) | undefined,
    private readonly started: number,
    private total: number,
  ) {}

  grow(seen: number): void {
    this.total = Math.max(this.total, seen);
  }

  window(blockStart: number, windows: readonly NativeWindow[], w: number, fraction: number): void {
    const win = windows[w];
    if (!win || !this.report) return;
    this.doneIn.set(w, Math.max(this.doneIn.get(w) ?? 0, fraction * (win.end - win.start)));
    let inBlock = 0;
    for (const v of this.doneIn.values()) inBlock += v;
    this.emit(blockStart + inBlock);
  }

  /** The audio up to here is done (silence between windows included): reported too. */
  done(upTo: number): void {
    this.doneIn.clear();
    if (this.report) this.emit(upTo);
  }

  private emit(samples: number): void {
    const fraction = Math.max(this.reported, Math.min(1, samples / Math.max(1, this.total)));
    this.reported = fraction;
    const audioSeconds = this.total / SAMPLE_RATE;
    const elapsed = (performance.now() - this.started) / 1000;
    this.report!({
      fraction,
      audioSeconds,
      audioSecondsDone: fraction * audioSeconds,
      elapsedSeconds: elapsed,
      realtimeFactor: elapsed > 0 ? (fraction * audioSeconds) / elapsed : 0,
    });
  }
}

/**
 * Text that is only non-speech markers: whisper's "[BLANK_AUDIO]", "[Music]", "(wind blowing)",
 * "♪ ♪", "*applause*". Such segments are what the model says about silence and noise; they are
 * not speech and never reach a transcript or captions.
 */
export function isNonSpeechMarker(text: string): boolean {
  return /^(?:\s*(?:\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫]+)[\s.,!?-]*)+$/u.test(text);
}

/** Tokens → words: a token that starts with a space starts a word; others extend it. */
export function tokensToWords(tokens: NonNullable<NativeSegment['tokens']>, offset: number): Word[] {
  const words: Word[] = [];
  for (const t of tokens) {
    if (/^\[_|^<\|/.test(t.text)) continue;
    const last = words[words.length - 1];
    if (last && !t.text.startsWith(' ')) {
      last.word += t.text;
      last.end = Math.max(last.end, t.t1 + offset);
      last.probability = Math.min(last.probability, t.p);
    } else {
      words.push({ word: t.text, start: t.t0 + offset, end: t.t1 + offset, probability: t.p });
    }
  }
  return words;
}

/** A callback that calls both (the caller's own, then the stream's). */
export function both<T>(a: ((x: T) => void) | undefined, b: (x: T) => void): (x: T) => void {
  return (x) => {
    a?.(x);
    b(x);
  };
}

/** One window's segments in the recording's time (its id set when it is settled). */
function toSegments(segs: readonly NativeSegment[], window: NativeWindow, withoutTimestamps: boolean): Segment[] {
  const offset = window.start / SAMPLE_RATE;
  const end = window.end / SAMPLE_RATE;
  let previousEnd = 0;
  return segs.map((s) => {
    // Without timestamp tokens whisper.cpp's segment t0 is meaningless (computed from a
    // timestamp that was never sampled): a segment then starts where the one before ended.
    const t0 = withoutTimestamps ? previousEnd : s.t0;
    const t1 = Math.max(s.t1, t0);
    previousEnd = t1;
    return {
      id: 0,
      start: t0 + offset,
      end: Math.min(t1 + offset, end),
      text: s.text,
      avgLogprob: s.avgLogprob,
      noSpeechProb: s.noSpeechProb,
      tokens: Array.from(s.ids),
      ...(s.language && { language: s.language }),
      ...(s.tokens && { words: tokensToWords(s.tokens, offset) }),
    };
  });
}

export class Whisper implements AsyncDisposable {
  private native: NativeModel | undefined;

  /** Use `load`: this takes a model the addon has loaded. */
  protected constructor(
    native: NativeModel,
    readonly modelPath: string,
    readonly modelName: string | undefined,
    readonly device: DevicePlan,
    readonly batch: BatchPlan,
    readonly loadSeconds: number,
    /** The caller's settings over DEFAULTS (LoadOptions.config). */
    readonly config: Config,
    protected readonly log: Logger = quietLogger,
  ) {
    this.native = native;
  }

  /**
   * Loads a ggml model file (registry names are the public API's, lib/api.ts). Fails with
   * ModelLoadError for files that are not whisper ggml models.
   */
  static async load(path: string, options: LoadOptions = {}): Promise<Whisper> {
    const log = options.logger ?? quietLogger;
    const started = performance.now();
    if (options.logger) routeNativeLogs(options.logger);
    const name = options.name;
    // Checked here first: whisper.cpp reads a truncated file short without noticing.
    const file = readGgmlModel(path);
    const b = binding();
    const config: Config = { ...DEFAULTS, ...options.config };
    const { info, plan: device } = chooseDevice(options.gpu ?? config.gpu, log);
    const matrices = matrixForm(config.matrices, device, info);
    const flashAttn = options.flashAttn ?? true; // whisper.cpp's default since 1.8: faster on CPU too
    // The q8_0 and bf16 cross caches and our encoder kernels go with fused attention only
    // (native/batch_engine.cc), so the load log says what runs. The kernels asked for are checked either way.
    const asked = crossCacheForm(config.crossCache, device, info);
    const crossCache = flashAttn ? asked : 'f16';
    const kernels = encoderKernels(config.encoderKernels, device, info);
    const encoder = flashAttn ? kernels : 'ggml';
    const batch = planBatch({
      requested: options.batchSize,
      threads: options.threads,
      config,
      device,
      modelBytes: statSync(path).size,
      shape: file.hparams,
    });
    let native: NativeModel;
    let engine: { backend: string; attention: string; repackedMatrices: number };
    try {
      native = await b.loadModel(path, {
        useGpu: device.useGpu,
        gpuDevice: options.gpuDevice ?? 0,
        flashAttn,
        repackWeights: config.repackWeights,
        q8Matrices: matrices === 'q8_0',
        int8Products: matrices === 'int8',
        q8CrossCache: crossCache === 'q8_0',
        bf16CrossCache: crossCache === 'bf16',
        bf16Attention: encoder !== 'ggml',
        amxEncoder: encoder === 'amx-bf16',
        poolSize: batch.poolSize,
      });
      // The batched engine (the default path) loads its weights now: part of the cold start.
      engine = await native.loadEngine().catch((err: unknown) => {
        native.dispose();
        throw err;
      });
    } catch (err) {
      throw new ModelLoadError(`cannot load ${path}: ${(err as Error).message}`, { cause: err });
    }
    const loadSeconds = (performance.now() - started) / 1000;
    log.info(`model loaded (cold start ${loadSeconds.toFixed(2)} s)`, {
      model: name ?? path,
      device: device.reason,
      engine: `${engine.backend}, ${engine.attention} attention`,
      ...(matrices !== 'file' && { matrices: `${matrices} (WHISPER_SERVE_MATRICES=${config.matrices})` }),
      ...(crossCache !== 'f16' && { crossCache: `${crossCache} (WHISPER_SERVE_CROSS_CACHE=${config.crossCache})` }),
      ...(encoder !== 'ggml' && { encoderKernels: `${encoder} (WHISPER_SERVE_ENCODER_KERNELS=${config.encoderKernels})` }),
      ...(engine.repackedMatrices > 0 && { repackedMatrices: engine.repackedMatrices }),
      batchSize: batch.batchSize,
      batchSizeFrom: batch.source,
      threads: batch.threads,
    });
    return new this(native, path, name, device, batch, loadSeconds, config, log);
  }

  /** VAD settings for a call: its own, over the model's configured VAD file and cache. */
  private vadOptions(vad: true | VadOptions): VadOptions {
    return { model: this.config.vadModel, cacheDir: this.config.modelCache, ...(vad === true ? {} : vad) };
  }

  get disposed(): boolean {
    return this.native === undefined || this.native.disposed;
  }

  info(): NativeModelInfo {
    return this.model().info();
  }

  private model(): NativeModel {
    if (!this.native || this.native.disposed) throw new WhisperServeError('MODEL_DISPOSED', 'the model has been disposed');
    return this.native;
  }

  /**
   * Transcribes 16 kHz mono PCM: one array, or a stream of chunks (audio as it is decoded), read
   * in blocks (lib/pcm-blocks.ts) so that memory is bounded by a block, not by the recording.
   */
  async transcribe(pcm: Float32Array | AsyncIterable<Float32Array>, options: TranscribeOptions = {}): Promise<Transcript> {
    const model = this.model();
    const started = performance.now();
    checkPcm(pcm);
    if (options.signal?.aborted) throw new WhisperServeError('ABORTED', 'transcription aborted');
    const info = model.info();
    const batchSize = options.batchSize ?? this.batch.batchSize;
    const decode = withDefaults(options);
    checkDecodeOptions(decode);
    decode.initialPrompt = boundPrompt(decode.initialPrompt);
    // The file's language: given, or the first window's; each window's own with multilingual.
    const asked = startLanguage(decode, info);
    let language = asked;
    let languageProbability = asked === 'auto' ? 0 : 1;
    const otherLanguage = new Map<string, { windows: number; firstAt: number }>();
    // whisper.cpp's own decoder (one sequence per state, seeking through the audio) for what the
    // batched engine does not do: beam search, word timings, text conditioned on the window before.
    const engine = decode.beamSize === 1 && !decode.wordTimestamps && !decode.conditionOnPreviousText;
    const sequential = !engine && (batchSize <= 1 || decode.conditionOnPreviousText);
    const changed = Object.fromEntries(Object.entries(decode).filter(([k, v]) => v !== DECODE_DEFAULTS[k as keyof DecodeOptions]));
    this.log.debug('decode', { path: engine ? 'batched engine' : sequential ? "whisper.cpp's decoder, one window at a time" : "whisper.cpp's decoder", batchSize, ...changed });

    const abortFlag = new Int32Array(1);
    const onAbort = () => Atomics.store(abortFlag, 0, 1);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const progress = new ProgressReport(options.onProgress, started, pcm instanceof Float32Array ? pcm.length : (options.expectedSeconds ?? 0) * SAMPLE_RATE);
    // Segments leave in order as windows become final: the engine settles them as it goes,
    // whisper.cpp's decoder at the end of each block.
    const segments: Segment[] = [];
    let windowCount = 0;
    let keepFrom = -Infinity; // seconds: where the block before left off in an overlap
    let shrunk = false;
    const blocks = new PcmBlocks(pcm, Math.round((options.blockSeconds ?? blockSeconds(batchSize)) * SAMPLE_RATE));
    let samples = 0;
    try {
      let next = await blocks.next();
      if (!next || next.pcm.length === 0) throw new WhisperServeError('EMPTY_AUDIO', 'the audio holds no samples');
      while (next) {
        const block: Block = next;
        const plan = await planBlock(block, options.vad && this.vadOptions(options.vad));
        samples = block.start + block.pcm.length;
        progress.grow(samples);
        const at = (w: NativeWindow) => ({ start: w.start + block.start, end: w.end + block.start });
        // The engine and the whisper.cpp pool decode windows; whisper.cpp alone seeks through spans.
        const list = sequential ? plan.spans : plan.windows.slice(0, plan.decoded);
        const context = (sequential ? plan.spans : plan.windows).map(at); // neighbours decide overlaps
        const settle = (first: number, perWindow: NativeSegment[][]) =>
          perWindow.forEach((segs, k) => {
            const w = first + k;
            for (const s of keepInWindow(context, w, toSegments(segs, context[w]!, decode.withoutTimestamps))) {
              if (s.text.trim() === '' || isNonSpeechMarker(s.text) || (s.start + s.end) / 2 < keepFrom) continue;
              const segment = { ...s, id: segments.length };
              segments.push(segment);
              options.onSegment?.(segment);
            }
          });
        const onProgress = (w: number, fraction: number) => progress.window(block.start, list, w, fraction);
        if (list.length > 0) {
          const decodeIn = decode.multilingual ? 'auto' : language;
          const result = await this.decodeBlock(model, block.pcm, list, { decode, language: decodeIn, engine, sequential, batchSize, abortFlag, settle, onProgress });
          if (language === 'auto') [language, languageProbability] = [result.language, result.languageProbability];
          for (const o of result.otherLanguage ?? []) {
            const seen = otherLanguage.get(o.language) ?? { windows: 0, firstAt: (block.start + list[o.window]!.start) / SAMPLE_RATE };
            otherLanguage.set(o.language, { ...seen, windows: seen.windows + 1 });
          }
          if (result.slots !== undefined && result.slots < Math.min(batchSize, list.length) && !shrunk) {
            shrunk = true;
            this.log.warn(`a batch of ${batchSize} windows did not fit in memory: ran ${result.slots} at a time`, { batchSize, batchUsed: result.slots });
          }
        }
        windowCount += list.length;
        progress.done(block.start + plan.used);
        // A window overlapping the next block's first: its items past the overlap's middle are the next block's.
        const last = plan.windows[plan.decoded - 1];
        const following = plan.windows[plan.decoded];
        keepFrom = !sequential && last && following && following.start < last.end ? (block.start + (following.start + last.end) / 2) / SAMPLE_RATE : -Infinity;
        next = block.last ? undefined : await blocks.next(plan.used);
      }
    } catch (err) {
      throw toWhisperServeError(err);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      await blocks.close();
    }
    if (otherLanguage.size > 0) {
      // Decoded in the file's language all the same: whisper then translates, or loops, in silence.
      const heard = [...otherLanguage].map(([code, o]) => `${o.windows} in "${code}" (first at ${o.firstAt.toFixed(1)} s)`).join(', ');
      this.log.warn(`windows that sound like another language than "${language}" were decoded as "${language}": ${heard}; multilingual detects each window's language`, {
        language,
        otherLanguages: Object.fromEntries(otherLanguage),
      });
    }
    const duration = samples / SAMPLE_RATE;
    const transcribeSeconds = (performance.now() - started) / 1000;
    return {
      text: segments.map((s) => s.text).join('').trim(),
      language,
      languageProbability,
      duration,
      segments,
      windows: windowCount,
      timings: { transcribeSeconds, realtimeFactor: duration / transcribeSeconds },
    };
  }

  /** One block's windows (or spans) through the batched engine or whisper.cpp's decoder. */
  private async decodeBlock(
    model: NativeModel,
    pcm: Float32Array,
    windows: NativeWindow[],
    o: {
      decode: DecodeOptions;
      language: string;
      engine: boolean;
      sequential: boolean;
      batchSize: number;
      abortFlag: Int32Array;
      settle: (first: number, perWindow: NativeSegment[][]) => void;
      onProgress: (window: number, fraction: number) => void;
    },
  ): Promise<{ language: string; languageProbability: number; slots?: number; otherLanguage?: Array<{ window: number; language: string }> }> {
    if (o.engine) {
      const result = await decodeBatched(model, {
        pcm,
        windows,
        decode: o.decode,
        language: o.language,
        threads: this.batch.threads,
        slots: Math.max(1, o.batchSize),
        encoderWindows: this.batch.encoderWindows,
        onWindowDone: (w) => o.onProgress(w, 1),
        onWindowsFinal: o.settle,
        abortFlag: o.abortFlag,
        profile: this.config.engineProfile,
      });
      const seconds = Object.fromEntries(Object.entries(result.timings).map(([k, v]) => [k, Math.round(v * 1000) / 1000]));
      this.log.debug('batched engine', { windows: windows.length, fallbacks: result.fallbacks, resumed: result.resumed, ...seconds });
      if (this.config.engineProfile) this.log.info('engine profile', { windows: windows.length, ops: result.profile });
      return result;
    }
    const result = await model.transcribeWindows(
      pcm,
      windows,
      nativeDecodeParams(o.decode, o.language, {
        threads: o.sequential ? this.batch.threads : this.batch.threadsPerState,
        maxStates: Math.min(o.batchSize, model.info().poolSize),
        sequential: o.sequential,
      }),
      o.onProgress,
      o.abortFlag,
    );
    const heard = result.windowLanguages;
    o.settle(0, heard ? result.windows.map((segs, w) => segs.map((s) => ({ ...s, language: heard[w]!.language }))) : result.windows);
    const opening = heard?.[0];
    return opening ? { language: opening.language, languageProbability: opening.probability } : result;
  }

  /**
   * As `transcribe`, but each segment is yielded as soon as it and everything before it is final
   * (`for await (const segment of whisper.transcribeStream(pcm))`); `.result` is the transcript.
   */
  transcribeStream(pcm: Float32Array | AsyncIterable<Float32Array>, options: TranscribeOptions = {}): SegmentStream<Segment, Transcript> {
    return new SegmentStream((push) => this.transcribe(pcm, { ...options, onSegment: both(options.onSegment, push) }));
  }

  /** Frees the native model. Safe while a transcription runs: that call rejects with MODEL_DISPOSED. */
  dispose(): void {
    this.native?.dispose();
    this.native = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}

