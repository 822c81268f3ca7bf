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
import { readConfig, type GpuMode } from './config.js';
import { nativeDecodeParams, withDefaults, type DecodeOptions } from './decode-options.js';
import { planBatch, planDevice, type BatchPlan, type DevicePlan } from './device.js';
import { ModelLoadError, WhisperServeError, toWhisperServeError } from './errors.js';
import { quietLogger, type Logger } from './log.js';
import { SegmentStream } from './segment-stream.js';
import { readGgmlModel } from './models/ggml-format.js';
import { binding, type EngineTimings, type NativeModel, type NativeModelInfo, type NativeSegment, type NativeWindow } from './native/binding.js';
import { routeNativeLogs } from './native/log-bridge.js';
import { detectSpeech, type VadOptions } from './vad.js';
import { decodeBatched } from './batched.js';
import { audibleSpans, keepInWindow, planFixedWindows, SAMPLE_RATE, windowsFromSpeech } from './windows.js';

export interface LoadOptions {
  /** true = required, false = CPU only, 'auto' (default: WHISPER_GPU) = CUDA when usable. */
  gpu?: boolean | GpuMode;
  gpuDevice?: number;
  /** CPU threads in all (default WHISPER_THREADS or every core). */
  threads?: number;
  /** 30 s windows decoded at once (default MODEL_BATCH_SIZE, else from free VRAM, or 8 on the CPU). */
  batchSize?: number;
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

function checkPcm(pcm: Float32Array): void {
  if (!(pcm instanceof Float32Array)) throw new WhisperServeError('INVALID_ARGUMENT', 'pcm must be a Float32Array of 16 kHz mono samples');
  if (pcm.length === 0) throw new WhisperServeError('EMPTY_AUDIO', 'the audio holds no samples');
  for (let i = 0; i < pcm.length; i++) {
    if (!Number.isFinite(pcm[i]!)) throw new WhisperServeError('CORRUPT_AUDIO', `the audio holds a non-finite sample (${pcm[i]}) at ${i}`);
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
    private readonly log: Logger = quietLogger,
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
    const device = planDevice(b.systemInfo(), options.gpu ?? readConfig().gpu, log);
    const batch = planBatch({
      requested: options.batchSize,
      threads: options.threads,
      device,
      modelBytes: statSync(path).size,
      shape: file.hparams,
    });
    let native: NativeModel;
    let engine: { backend: string; attention: string };
    try {
      native = await b.loadModel(path, {
        useGpu: device.useGpu,
        gpuDevice: options.gpuDevice ?? 0,
        flashAttn: options.flashAttn ?? true, // whisper.cpp's default since 1.8: faster on CPU too
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
      batchSize: batch.batchSize,
      batchSizeFrom: batch.source,
      threads: batch.threads,
    });
    return new this(native, path, name, device, batch, loadSeconds, log);
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

  /** Transcribes 16 kHz mono PCM. */
  async transcribe(pcm: Float32Array, options: TranscribeOptions = {}): Promise<Transcript> {
    const model = this.model();
    const started = performance.now();
    checkPcm(pcm);
    if (options.signal?.aborted) throw new WhisperServeError('ABORTED', 'transcription aborted');
    const info = model.info();
    const batchSize = options.batchSize ?? this.batch.batchSize;
    const decode = withDefaults(options);
    const language = decode.language ?? (info.multilingual ? 'auto' : 'en');
    if (!info.multilingual && language !== 'en' && language !== 'auto') {
      throw new WhisperServeError('INVALID_ARGUMENT', `this model is English-only; language "${language}" needs a multilingual model`);
    }
    if (!info.multilingual && decode.translate) throw new WhisperServeError('INVALID_ARGUMENT', 'this model is English-only; translation needs a multilingual model');

    // Long digital silence is left out before windowing: nothing can be said in it.
    const audible = options.vad ? [] : audibleSpans(pcm);
    // whisper.cpp's own decoder (one sequence per state, seeking through the audio) for what the
    // batched engine does not do: beam search, word timings, text conditioned on the window before.
    const engine = decode.beamSize === 1 && !decode.wordTimestamps && !decode.conditionOnPreviousText;
    const sequential = !engine && (batchSize <= 1 || decode.conditionOnPreviousText);
    const windows = options.vad
      ? windowsFromSpeech(await detectSpeech(pcm, options.vad === true ? {} : options.vad), pcm.length)
      : sequential
        ? audible // whisper.cpp seeks through each span itself
        : audible.flatMap((span) => planFixedWindows(pcm.subarray(span.start, span.end)).map((w) => ({ start: w.start + span.start, end: w.end + span.start })));
    const duration = pcm.length / SAMPLE_RATE;
    if (windows.length === 0) {
      return { text: '', language, languageProbability: 0, duration, segments: [], windows: 0, timings: { transcribeSeconds: 0, realtimeFactor: 0 } };
    }

    const abortFlag = new Int32Array(1);
    const onAbort = () => Atomics.store(abortFlag, 0, 1);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const done = new Float64Array(windows.length);
    const totalSamples = windows.reduce((a, x) => a + (x.end - x.start), 0);
    let reported = 0;
    const onProgress = options.onProgress
      ? (w: number, fraction: number) => {
          const win = windows[w];
          if (!win) return;
          done[w] = Math.max(done[w]!, fraction * (win.end - win.start));
          const fractionDone = Math.max(reported, done.reduce((a, b) => a + b, 0) / totalSamples);
          reported = fractionDone;
          const elapsed = (performance.now() - started) / 1000;
          options.onProgress!({
            fraction: fractionDone,
            audioSeconds: duration,
            audioSecondsDone: fractionDone * duration,
            elapsedSeconds: elapsed,
            realtimeFactor: elapsed > 0 ? (fractionDone * duration) / elapsed : 0,
          });
        }
      : undefined;

    // Segments leave in window order as windows become final: the engine settles them as it goes,
    // whisper.cpp's decoder all at the end.
    const segments: Segment[] = [];
    const settle = (first: number, perWindow: NativeSegment[][]) =>
      perWindow.forEach((segs, k) => {
        for (const s of keepInWindow(windows, first + k, toSegments(segs, windows[first + k]!, decode.withoutTimestamps))) {
          if (s.text.trim() === '' || isNonSpeechMarker(s.text)) continue;
          const segment = { ...s, id: segments.length };
          segments.push(segment);
          options.onSegment?.(segment);
        }
      });
    let result: { windows: NativeSegment[][]; language: string; languageProbability: number; slots?: number; timings?: EngineTimings; fallbacks?: number; resumed?: number };
    try {
      result = engine
        ? await decodeBatched(model, {
            pcm,
            windows,
            decode,
            language,
            threads: this.batch.threads,
            slots: Math.max(1, batchSize),
            encoderWindows: this.batch.encoderWindows,
            onWindowDone: onProgress && ((w) => onProgress(w, 1)),
            onWindowsFinal: settle,
            abortFlag,
          })
        : await model.transcribeWindows(
            pcm,
            windows,
            nativeDecodeParams(decode, language, {
              threads: sequential ? this.batch.threads : this.batch.threadsPerState,
              maxStates: Math.min(batchSize, info.poolSize),
              sequential,
            }),
            onProgress,
            abortFlag,
          );
    } catch (err) {
      throw toWhisperServeError(err);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    if (result.timings) {
      const seconds = Object.fromEntries(Object.entries(result.timings).map(([k, v]) => [k, Math.round(v * 1000) / 1000]));
      this.log.debug('batched engine', { windows: windows.length, fallbacks: result.fallbacks, resumed: result.resumed, ...seconds });
    }
    if (result.slots !== undefined && result.slots < Math.min(batchSize, windows.length)) {
      this.log.warn(`a batch of ${batchSize} windows did not fit in memory: ran ${result.slots} at a time`, { batchSize, batchUsed: result.slots });
    }

    if (!engine) settle(0, result.windows);
    const transcribeSeconds = (performance.now() - started) / 1000;
    return {
      text: segments.map((s) => s.text).join('').trim(),
      language: result.language,
      languageProbability: result.languageProbability,
      duration,
      segments,
      windows: windows.length,
      timings: { transcribeSeconds, realtimeFactor: duration / transcribeSeconds },
    };
  }

  /**
   * As `transcribe`, but each segment is yielded as soon as it and everything before it is final
   * (`for await (const segment of whisper.transcribeStream(pcm))`); `.result` is the transcript.
   */
  transcribeStream(pcm: Float32Array, options: TranscribeOptions = {}): SegmentStream<Segment, Transcript> {
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

