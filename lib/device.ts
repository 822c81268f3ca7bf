/**
 * GPU policy in TypeScript (the addon only reports devices): whether to use CUDA, and how many
 * 30 s windows to decode at once when MODEL_BATCH_SIZE does not say.
 */
import { CPU_BATCH, DEFAULTS, type Config, type GpuMode } from './config.js';
import { WhisperServeError } from './errors.js';
import type { Logger } from './log.js';
import { binding, type NativeDevice, type NativeSystemInfo } from './native/binding.js';
import { loadGpuVariant, variantName, type GpuVariant } from './native/variants.js';

export interface DevicePlan {
  useGpu: boolean;
  gpu: NativeDevice | undefined;
  reason: string;
}

/**
 * `variant`: the prebuild's CUDA variant where one is installed (lib/native/variants.ts), loaded
 * or not; a variant that does not load falls back to the CPU with one warning saying why.
 */
export function planDevice(info: NativeSystemInfo, mode: GpuMode | boolean, log?: Logger, variant?: GpuVariant | null): DevicePlan {
  const wanted: GpuMode = mode === true ? 'required' : mode === false ? 'off' : mode;
  const gpu = info.devices.find((d) => d.type === 'gpu');
  if (wanted === 'off') return { useGpu: false, gpu: undefined, reason: 'GPU disabled' };
  if (gpu && info.cudaBuild) return { useGpu: true, gpu, reason: `CUDA device ${gpu.description}` };
  if (variant?.error) {
    const why = `the CUDA variant ${variant.file} did not load: ${variant.error}`;
    if (wanted === 'required') throw new WhisperServeError('CUDA_NOT_AVAILABLE', `CUDA not available: ${why}`);
    log?.warn(`CUDA variant not loaded: running on the CPU, ${variantName(info)} (${why})`);
    return { useGpu: false, gpu: undefined, reason: 'CPU (CUDA variant not loaded)' };
  }
  const why = whyNoGpu(info);
  if (wanted === 'required') throw new WhisperServeError('CUDA_NOT_AVAILABLE', `CUDA not available: ${why}`);
  if (info.cudaBuild) log?.warn(`CUDA build without a usable GPU: running on the CPU (${why})`);
  return { useGpu: false, gpu: undefined, reason: info.cudaBuild ? 'CPU (no usable CUDA device)' : 'CPU' };
}

/** The GPU variant loaded where the mode allows, then the plan: what Whisper.load and `info` do. */
export function chooseDevice(mode: GpuMode | boolean, log?: Logger): { info: NativeSystemInfo; plan: DevicePlan } {
  const variant = mode === 'off' || mode === false ? null : loadGpuVariant();
  const info = binding().systemInfo();
  return { info, plan: planDevice(info, mode, log, variant) };
}

/**
 * The form the batched engine multiplies a model's matrices (not the convolutions) in on the CPU:
 * - `q8_0`: quantised as they load, for ggml's kernels; `auto` picks it where ggml's module has
 *   AMX's int8 tiles: there the products run at 3× bf16's, at the WER of bf16 within 0.6 points
 *   (bench/README.md, AMX);
 * - `int8`: copies quantised and packed at load for our op (native/int8_linear.cc, faster-whisper's
 *   int8 scheme, in AVX512-VNNI or in AVX2); `auto` picks it where ggml's module has either but no
 *   AVX512-BF16: Ice Lake and Cascade Lake (ggml multiplies their f16 in f32; 0.60–0.79×
 *   faster-whisper's time on a real one), Zen 2/3 and Haswell to Skylake (on a real Zen 3 the
 *   encoder's products 75 → ~140 GFLOP/s). On Zen 4 it runs 1.4× our bf16 op's rate, but one of
 *   tiny.en's windows on the clauses loops under one build's arithmetic and not another's, so it is
 *   opt-in there until the loop is caught (bench/README.md, "int8 products", "A real AVX2 CPU");
 * - `file`: as the file has them (f16; bf16 where the module has AVX512-BF16); elsewhere.
 * int8 asked for where the module has neither AVX512-VNNI nor AVX2 is refused.
 */
export function matrixForm(matrices: Config['matrices'], device: DevicePlan, info: NativeSystemInfo): 'file' | 'q8_0' | 'int8' {
  if (device.useGpu || matrices === 'file') return 'file';
  const vnni = info.features.includes('AVX512 = 1') && info.features.includes('AVX512_VNNI = 1');
  if (matrices === 'int8' && !vnni && !info.features.includes('AVX2 = 1')) {
    throw new WhisperServeError('INVALID_ARGUMENT', 'WHISPER_SERVE_MATRICES=int8 needs a CPU with AVX512-VNNI or AVX2 (`whisper-serve info` lists this one\'s features)');
  }
  if (matrices !== 'auto') return matrices;
  if (info.features.includes('AMX_INT8 = 1')) return 'q8_0';
  return (vnni || info.features.includes('AVX2 = 1')) && !info.features.includes('AVX512_BF16 = 1') ? 'int8' : 'file';
}

/**
 * How the batched engine caches cross-attention keys/values, which decides who reads them at
 * every decoder step (each reads all of a live window's 1500 keys and values per layer). On a CPU
 * with AVX512-BF16, or AVX2 and FMA: bf16, packed for our kernel (native/cross_attention.cc:
 * ggml's fused attention spends ~100 cycles a key on one query, two thirds of base's decoder
 * step; ours halves the decoder's time, and on AVX2 reads the same caches widened for FMA); q8_0
 * elsewhere (half f16's bytes); f16 on a GPU (untested there in other forms, and not where the
 * bound is). bf16 asked for where the CPU has neither is refused. WER (base, 14 espeak clips in 6
 * languages, greedy): bf16 49.6 %, q8_0 49.3 %, f16 49.9 %, faster-whisper 50.1 %: bench/README.md.
 */
export function crossCacheForm(choice: Config['crossCache'], device: DevicePlan, info: NativeSystemInfo): 'f16' | 'q8_0' | 'bf16' {
  if (device.useGpu) return 'f16';
  const packed = info.features.includes('AVX512_BF16 = 1') || (info.features.includes('AVX2 = 1') && info.features.includes('FMA = 1'));
  if (choice === 'bf16' && !packed) {
    throw new WhisperServeError('INVALID_ARGUMENT', 'WHISPER_SERVE_CROSS_CACHE=bf16 needs a CPU with AVX512-BF16, or AVX2 and FMA (`whisper-serve info` lists this one\'s features)');
  }
  if (choice !== 'auto') return choice;
  return packed ? 'bf16' : info.features.includes('AVX512 = 1') ? 'f16' : 'q8_0';
}

/**
 * Whose kernels run the encoder on the CPU: ours (attention and products, bf16 with f32 sums) in
 * AMX tiles where ggml's module has AMX (Sapphire Rapids on; the addon checks AMX-BF16 itself), in
 * AVX-512 registers where it has AVX512_BF16 (Zen 4); our attention alone over bf16 keys and
 * values widened for FMA where it has AVX2 and FMA (Zen 2/3, Haswell to Ice Lake; in AVX-512F
 * registers where it has those: ggml's fused attention multiplies f32 one query at a time, 68
 * GFLOP/s on two Xeon cores against ours' 84–88 under ggml's haswell module, 76 against 155–167
 * under its icelake one); else ggml's: bench/README.md, "The encoder in bf16", "Zen 4" and "A real
 * CPU without AVX512-BF16". One asked for that the CPU lacks is refused.
 */
export function encoderKernels(choice: Config['encoderKernels'], device: DevicePlan, info: NativeSystemInfo): 'ggml' | 'avx2' | 'avx512-bf16' | 'amx-bf16' {
  if (device.useGpu || choice === 'ggml') return 'ggml';
  const feature = (name: string) => info.features.includes(`${name} = 1`);
  const has = { avx2: feature('AVX2') && feature('FMA'), 'avx512-bf16': feature('AVX512_BF16'), 'amx-bf16': feature('AMX_INT8') && feature('AVX512_BF16') };
  if (choice === 'auto') return has['amx-bf16'] ? 'amx-bf16' : has['avx512-bf16'] ? 'avx512-bf16' : has.avx2 ? 'avx2' : 'ggml';
  if (!has[choice]) {
    const needs = { avx2: 'AVX2 and FMA', 'avx512-bf16': 'AVX512-BF16', 'amx-bf16': 'AMX and AVX512-BF16' }[choice];
    throw new WhisperServeError('INVALID_ARGUMENT', `WHISPER_SERVE_ENCODER_KERNELS=${choice} needs a CPU with ${needs} (\`whisper-serve info\` lists this one's features)`);
  }
  // The addon runs the widest kernels ggml's module was built for: avx2 asked where it has AVX512-BF16 runs those.
  return choice === 'avx2' && has['avx512-bf16'] ? 'avx512-bf16' : choice;
}

/** "12.4" from the CUDA runtime's 12040. */
function cudaVersion(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

/** The driver / device count / what to check, in one sentence. */
function whyNoGpu(info: NativeSystemInfo): string {
  if (!info.cudaBuild) {
    return 'this addon has no CUDA (add the prebuild\'s CUDA variant with WHISPER_SERVE_CUDA=1 npm run build:prebuild, build with WHISPER_SERVE_CUDA=1 npm run build:native, or use the Docker image)';
  }
  const cuda = info.cuda;
  // The prebuild's CUDA variant asks no runtime questions of its own: ggml found no device.
  if (!cuda) return 'CUDA loaded but no device found (no NVIDIA driver, or a container started without --gpus): check `nvidia-smi`';
  const driver = cuda.driverVersion ? `the driver supports CUDA ${cudaVersion(cuda.driverVersion)}` : 'no NVIDIA driver was found (libcuda.so.1)';
  return (
    `${cuda.error ?? 'no usable device'} (${cuda.deviceCount} CUDA devices; ${driver}; this build needs CUDA ${cudaVersion(cuda.runtimeVersion)}): ` +
    'check `nvidia-smi`, that the driver is at least that CUDA version, and that the container was started with --gpus all'
  );
}

export interface BatchPlan {
  /** Windows decoded at once by the batched engine. */
  batchSize: number;
  /** CPU threads of one engine pass (and of the sequential path). */
  threads: number;
  /** New windows per encoder pass of the batched engine. */
  encoderWindows: number;
  /** whisper.cpp states for the paths the engine does not take (beam search, word timings). */
  poolSize: number;
  threadsPerState: number;
  source: string;
}

/**
 * Windows per encoder pass on a GPU: 1500 rows each, so a few fill the matrix units; more only
 * grow the activations. On the CPU one at a time is faster (a batch's activations outgrow the
 * caches; bench/README.md).
 */
const GPU_ENCODER_WINDOWS = 16;

/** Most windows at once on a GPU by default: past it, little speed (bench/README.md) for a later first result. */
const GPU_MAX_BATCH = 64;

/** What the GPU rule needs of a model: its ggml hyper-parameters. */
export interface ModelShape {
  nAudioCtx: number;
  nAudioState: number;
  nTextCtx: number;
  nTextState: number;
  nTextLayer: number;
}

/** large-v3-turbo's shape (what `info` sizes its example batch for). */
export const TURBO_SHAPE: ModelShape = { nAudioCtx: 1500, nAudioState: 1280, nTextCtx: 448, nTextState: 1280, nTextLayer: 4 };

/**
 * The batch is one engine pass, so on the CPU it does not multiply threads: every pass uses all
 * of them. GPU: as many windows as free VRAM holds, capped at GPU_MAX_BATCH. Measured on an H200
 * with large-v3-turbo's shapes (bench/README.md): the weights are on the card twice (the batched
 * engine's, whisper.cpp's), the encoder's activations take ~80 bytes per audio position and unit of
 * width for each window it encodes at once, and each window in the batch holds its caches (cross
 * and self keys/values, f16, every decoder layer). whisper.cpp states (beam search, word timings)
 * each decode on threads of their own: never more of them than threads.
 */
export function planBatch(opts: {
  requested?: number | undefined;
  threads?: number | undefined;
  /** What the caller's configuration says (MODEL_BATCH_SIZE, ENCODER_BATCH_SIZE, WHISPER_THREADS), below the options. */
  config?: Partial<Pick<Config, 'batchSize' | 'encoderBatchSize' | 'threads'>>;
  device: DevicePlan;
  modelBytes: number;
  shape: ModelShape;
}): BatchPlan {
  const cfg = opts.config ?? {};
  const threads = opts.threads ?? cfg.threads ?? DEFAULTS.threads;
  const encoderWindows = opts.device.useGpu ? (cfg.encoderBatchSize ?? GPU_ENCODER_WINDOWS) : 1;
  let batchSize: number;
  let source: string;
  if (opts.requested) {
    batchSize = opts.requested;
    source = 'option';
  } else if (cfg.batchSize) {
    batchSize = cfg.batchSize;
    source = 'MODEL_BATCH_SIZE';
  } else if (opts.device.useGpu && opts.device.gpu) {
    const m = opts.shape;
    const caches = 2 * m.nTextLayer * (m.nAudioCtx + m.nTextCtx) * m.nTextState * 2;
    const encoder = encoderWindows * m.nAudioCtx * m.nAudioState * 80;
    const free = opts.device.gpu.freeBytes - 2 * opts.modelBytes - encoder - 512 * 1024 * 1024;
    batchSize = Math.max(1, Math.min(GPU_MAX_BATCH, Math.floor(free / caches)));
    source = `free VRAM ${(opts.device.gpu.freeBytes / 2 ** 30).toFixed(1)} GiB`;
  } else {
    batchSize = CPU_BATCH;
    source = 'CPU default';
  }
  // Each state decodes on threads of its own: more states than cores only makes them wait on
  // each other (and ggml's spinning threads collapse when oversubscribed).
  const poolSize = opts.device.useGpu ? batchSize : Math.max(1, Math.min(batchSize, threads));
  const threadsPerState = opts.device.useGpu ? Math.min(4, threads) : Math.max(1, Math.floor(threads / poolSize));
  return { batchSize, threads, encoderWindows, poolSize, threadsPerState, source };
}
