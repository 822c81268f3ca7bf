/**
 * The one typed contract between C++ (native/*.cc) and TypeScript. Loads the addon with
 * node-gyp-build (build/Release first, so a local build wins, then prebuilds/), or from WHISPER_SERVE_ADDON.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WhisperServeError } from '../errors.js';
import type { WhisperHparams } from '../models/ggml-format.js';

/** Every field is required: the addon holds no defaults (lib/whisper.ts chooses them). */
export interface NativeLoadOptions {
  useGpu: boolean;
  gpuDevice: number;
  flashAttn: boolean;
  /** The batched engine on the CPU keeps q4_0/q8_0 matrices in ggml's CPU_REPACK/AMX layouts. */
  repackWeights: boolean;
  /** The batched engine on the CPU quantises the file's f16 matrices to q8_0 as they load. */
  q8Matrices: boolean;
  /** The batched engine on the CPU multiplies the encoder's matrices (not the convolutions) in our int8 op, on copies packed at load, and the decoder's where bf16Attention is off (AVX512-VNNI only; ignored elsewhere). */
  int8Products: boolean;
  /** The batched engine on the CPU, with flashAttn, caches cross-attention keys/values as q8_0. */
  q8CrossCache: boolean;
  /** Instead, with flashAttn: bf16 packed for our cross-attention kernel (AVX512-BF16 only; ignored elsewhere). */
  bf16CrossCache: boolean;
  /** The batched engine on the CPU, with flashAttn, runs the encoder's attention and products in our bf16 kernels (AVX512-BF16 only), and the decoder's products on its bf16 matrices packed once at load. */
  bf16Attention: boolean;
  /** That kernel in AMX tiles, and the encoder's products on bf16 matrices (where the CPU has AMX-BF16). */
  amxEncoder: boolean;
  /** Most whisper_states (concurrent windows) this model will hold. */
  poolSize: number;
}

/** The file's hyper-parameters as whisper.cpp loaded them, plus what the addon knows. */
export interface NativeModelInfo extends WhisperHparams {
  type: string;
  multilingual: boolean;
  poolSize: number;
  statesCreated: number;
  /** What the addon reported to V8 as memory held outside the JS heap for this model (its weights). */
  externalBytes: number;
}

export interface NativeWindow {
  /** First sample (16 kHz) of the window, inclusive. */
  start: number;
  /** Last sample, exclusive. */
  end: number;
}

/** Every field is required: the addon holds no defaults (lib/decode-options.ts has them). */
export interface NativeDecodeParams {
  threads: number;
  maxStates: number;
  sequential: boolean;
  conditionOnPreviousText: boolean;
  language: string;
  /** With language 'auto': each window detects its own (faster-whisper's multilingual). */
  languagePerWindow: boolean;
  translate: boolean;
  initialPrompt: string;
  temperature: number;
  temperatureIncrement: number;
  entropyThreshold: number;
  logprobThreshold: number;
  noSpeechThreshold: number;
  beamSize: number;
  bestOf: number;
  lengthPenalty: number;
  patience: number;
  wordTimestamps: boolean;
  suppressBlank: boolean;
  suppressNonSpeech: boolean;
  noTimestamps: boolean;
  /** Tokens per segment at most (0 = no limit). */
  maxTokens: number;
  /** Tokens whose text matches are never sampled (whisper.cpp's suppress_regex); '' for none. */
  suppressRegex: string;
}

export interface NativeToken {
  id: number;
  text: string;
  p: number;
  /** Seconds from the window's start. */
  t0: number;
  t1: number;
}

export interface NativeSegment {
  /** Seconds from the window's start. */
  t0: number;
  t1: number;
  text: string;
  noSpeechProb: number;
  avgLogprob: number;
  /** Its text tokens' ids, in order (timestamp and special tokens left out). */
  ids: number[];
  tokens?: NativeToken[];
  /** The language the segment's window was decoded in, where each window detects its own. */
  language?: string;
}

export interface NativeTranscription {
  language: string;
  languageProbability: number;
  /** One entry per input window, in input order. */
  windows: NativeSegment[][];
  /** With languagePerWindow: each window's detected language. */
  windowLanguages?: Array<{ language: string; probability: number }>;
  /** The params as the addon read them (floats at C++ float precision). */
  params: NativeDecodeParams;
}

/** What the batched engine reads, every field required (defaults: lib/decode-options.ts). */
export interface NativeBatchParams {
  threads: number;
  /** Sequences decoded at once (windows in one batch). */
  slots: number;
  /** New windows per encoder graph (fewer where they do not fit). */
  encoderWindows: number;
  language: string;
  translate: boolean;
  initialPrompt: string;
  suppressBlank: boolean;
  suppressNonSpeech: boolean;
  suppressRegex: string;
  withoutTimestamps: boolean;
  maxTokensPerSegment: number;
  /** A piece asked for again (a retry's bestOf copies, a fallback) gets a copy of its encoding, not another encoder pass. */
  reuseEncodings: boolean;
  /**
   * Calls with the same number (not 0) decode pieces of the same PCM: the engine keeps the least
   * sure windows' encodings for their retries in a later call. 0: reuse within this call only.
   */
  recording: number;
  /** Time every graph node (native/op_profile.h): the result's `profile`. Slower; for measuring. */
  profile: boolean;
}

/** One window to decode: samples [start, end) of the PCM (at most 30 s), at a temperature. */
export interface NativeDecodeRequest {
  start: number;
  end: number;
  temperature: number;
  seed: number;
  /** No end-of-text after text while the last timestamp is under this many 20 ms steps from `start` (0: none). */
  endNotBefore: number;
}

export interface NativeDecodeResult {
  /** Sampled tokens (text and timestamps), end-of-text excluded. */
  tokens: Int32Array;
  logprobs: Float32Array;
  /** Log-probability of the end-of-text token; 0 when the length limit ended the window. */
  endLogprob: number;
  noSpeechProb: number;
  /** The language decoded in, and its probability among the language tokens. */
  language: string;
  languageProbability: number;
  /** The likeliest language, whether or not it was the one decoded in. */
  detectedLanguage: string;
  detectedProbability: number;
  /** Stopped early: its text ended in a loop (a token 16 times, a phrase 8 times, running); it fails the checks. */
  looped: boolean;
}

/** Special token ids (language tokens from `firstLanguage` on, one per language). */
export interface NativeSpecialTokens {
  eot: number;
  sot: number;
  translate: number;
  transcribe: number;
  solm: number;
  prev: number;
  nosp: number;
  noTimestamps: number;
  timestampBegin: number;
  firstLanguage: number;
}

export interface NativeVocabulary {
  /** Text token id → its bytes (a token may hold part of a UTF-8 character). */
  tokens: Buffer[];
  eot: number;
  timestampBegin: number;
}

/** Where a decodeBatch call's time went, in seconds (GPU graphs waited for): mel, graphs, logits copied back, decoding rules. */
export interface EngineTimings {
  mel: number;
  encoder: number;
  decoder: number;
  logits: number;
  rules: number;
  encoderGraphs: number;
  decoderSteps: number;
  /** Sequences decoded from an encoding already made (a copy, or one still in their slot) instead of an encoder pass. */
  encodingsReused: number;
}

/** One kind of node's share of a decodeBatch call (`profile` on): "encoder MUL_MAT bf16", "decoder SOFT_MAX"… */
export interface NativeOpCost {
  op: string;
  seconds: number;
  /** Floating-point operations of matrix products and fused attention (2 per multiply-add); 0 for the rest. */
  flop: number;
  nodes: number;
}

export interface NativeModel {
  readonly disposed: boolean;
  info(): NativeModelInfo;
  /** The batched engine: requests decoded many at a time, each window encoded once. */
  decodeBatch(
    pcm: Float32Array,
    requests: NativeDecodeRequest[],
    params: NativeBatchParams,
    /** Each request's result as soon as it is final; the answer (follow-up requests) joins the batch in flight, at the next indices. */
    onResult?: (request: number, result: NativeDecodeResult) => NativeDecodeRequest[] | undefined,
    abortFlag?: Int32Array,
  ): Promise<{ results: NativeDecodeResult[]; backend: string; /** Sequences at once: fewer than asked where they did not fit. */ slots: number; timings: EngineTimings; profile: NativeOpCost[] }>;
  vocabulary(): NativeVocabulary;
  /** The ids whisper.cpp's decoder uses and those the batched engine derives; `languages`: 0 for English-only models. */
  specialTokens(): { whisper: NativeSpecialTokens; engine: NativeSpecialTokens; languages: number };
  /** Loads the batched engine's weights now (else the first decodeBatch does); idempotent. */
  loadEngine(): Promise<{ backend: string; attention: 'fused' | 'softmax'; weightBytes: number; /** Matrices in ggml's CPU_REPACK (q4_0) or AMX (q8_0) layout (repackWeights). */ repackedMatrices: number }>;
  transcribeWindows(
    pcm: Float32Array,
    windows: NativeWindow[],
    params: NativeDecodeParams,
    onProgress?: (window: number, fraction: number) => void,
    abortFlag?: Int32Array,
  ): Promise<NativeTranscription>;
  dispose(): void;
}

export interface NativeVadParams {
  threshold?: number;
  minSpeechMs?: number;
  minSilenceMs?: number;
  maxSpeechSeconds?: number;
  speechPadMs?: number;
  samplesOverlap?: number;
}

export interface NativeVadModel {
  detect(pcm: Float32Array, params?: NativeVadParams): Promise<Array<{ start: number; end: number }>>;
  dispose(): void;
}

export interface NativeDevice {
  name: string;
  description: string;
  type: 'cpu' | 'gpu' | 'accel' | 'other';
  freeBytes: number;
  totalBytes: number;
  /** CUDA devices of a CUDA build: "9.0" on an H100. */
  computeCapability?: string;
}

export interface NativeCudaStatus {
  deviceCount: number;
  /** cudaGetDeviceCount's error, e.g. "CUDA driver version is insufficient for CUDA runtime version". */
  error?: string;
  /** 1000 × major + 10 × minor (12040 = 12.4); 0 when no driver is installed. */
  driverVersion: number;
  runtimeVersion: number;
}

export interface NativeBackend {
  /** ggml's name: "CPU", "CUDA". */
  name: string;
  /** The file its code is in: a backend module (libggml-cpu-zen4.so) or the addon, where linked in. */
  file: string;
}

export interface NativeSystemInfo {
  whisperVersion: string;
  features: string;
  /** CUDA linked into the addon, or the prebuild's CUDA variant loaded (lib/native/variants.ts). */
  cudaBuild: boolean;
  /** CUDA builds only: what the CUDA runtime says of this machine. */
  cuda?: NativeCudaStatus;
  backends: NativeBackend[];
  devices: NativeDevice[];
}

export interface NativeBinding {
  loadModel(path: string, options: NativeLoadOptions): Promise<NativeModel>;
  VadModel: new (path: string, options?: { threads?: number }) => NativeVadModel;
  systemInfo(): NativeSystemInfo;
  /** Registers ggml's backend modules in dir (ggml picks the best CPU variant); nothing where they are linked in. */
  loadBackends(dir: string): void;
  /** Registers one backend module; throws with the dynamic loader's reason when it cannot load. */
  loadBackend(path: string): { name: string; devices: number };
  /** Rows of f32 → ggml blocks (q4_0 … q8_0) with whisper.cpp's quantiser; nPerRow must split into whole blocks. */
  quantize(type: 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1' | 'q8_0', data: Float32Array, nPerRow: number): Buffer;
  /** Native log lines at or above minLevel (1 debug … 4 error) go to fn, from any thread; null: errors to stderr. */
  setLogger(fn: ((level: number, text: string) => void) | null, minLevel: number): void;
  /** Returns freed heap memory to the OS (glibc's malloc_trim); true when some was. */
  trimMemory(): boolean;
}

export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let cached: { binding: NativeBinding; path: string } | undefined;

/** Loads the addon once. Throws NATIVE_ADDON_MISSING with what to do when there is none. */
export function loadBinding(): { binding: NativeBinding; path: string } {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  let path: string;
  try {
    path = process.env.WHISPER_SERVE_ADDON || (require('node-gyp-build') as { path(dir: string): string }).path(packageRoot);
  } catch (err) {
    throw new WhisperServeError(
      'NATIVE_ADDON_MISSING',
      'no prebuilt or built whisper-serve addon for this platform: run `npm run build:native` (needs cmake and a C++17 compiler)',
      { cause: err },
    );
  }
  let binding: NativeBinding;
  try {
    binding = require(path) as NativeBinding;
    // A prebuild's CPU backend is a module per instruction set beside the addon.
    binding.loadBackends(dirname(path));
  } catch (err) {
    // A CUDA build needs the CUDA runtime and cuBLAS libraries of the toolkit it was built with.
    const libs = /lib(cudart|cublas\w*)\.so/.test(String(err))
      ? ': this is a CUDA build and the CUDA runtime / cuBLAS libraries it was linked with are not on the library path (install them, add their folder to LD_LIBRARY_PATH, or use a CPU build)'
      : '';
    throw new WhisperServeError('NATIVE_ADDON_LOAD_FAILED', `the addon at ${path} could not be loaded${libs}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  cached = { binding, path };
  return cached;
}

export function binding(): NativeBinding {
  return loadBinding().binding;
}
