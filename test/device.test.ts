// How many windows one batch holds, and how whisper.cpp's states (beam search, word timings)
// share the cores.
import { describe, expect, it } from 'vitest';
import { crossCacheForm, encoderKernels, matrixForm, planBatch, TURBO_SHAPE, type ModelShape } from '../lib/device.js';
import { readConfig } from '../lib/config.js';

const TINY: ModelShape = { nAudioCtx: 1500, nAudioState: 384, nTextCtx: 448, nTextState: 384, nTextLayer: 4 };
const GIB = 2 ** 30;

describe('batch planning on the CPU', () => {
  const cpu = { useGpu: false, reason: 'CPU' } as unknown as Parameters<typeof planBatch>[0]['device'];
  it('keeps the batch asked for: one engine pass uses every thread, whatever the batch', () => {
    for (const [requested, threads] of [[8, 2], [2, 2], [1, 2], [16, 4], [3, 8]] as const) {
      const plan = planBatch({ requested, threads, device: cpu, modelBytes: 0, shape: TINY });
      expect(plan.batchSize).toBe(requested);
      expect(plan.threads).toBe(threads);
    }
  });

  it('never runs more whisper.cpp states than threads: states × threads per state stays within the cores', () => {
    for (const [requested, threads] of [[8, 2], [2, 2], [1, 2], [16, 4], [3, 8]] as const) {
      const plan = planBatch({ requested, threads, device: cpu, modelBytes: 0, shape: TINY });
      expect(plan.poolSize).toBe(Math.min(requested, threads));
      expect(plan.poolSize * plan.threadsPerState).toBeLessThanOrEqual(threads);
    }
  });

  it('defaults to 8 windows on the CPU', () => {
    const plan = planBatch({ threads: 2, device: cpu, modelBytes: 0, shape: TINY });
    expect(plan.batchSize).toBe(8);
    expect(plan.source).toBe('CPU default');
  });
});

describe('batch planning on a GPU (from free VRAM)', () => {
  const gpu = (freeGiB: number) => ({ useGpu: true, reason: 'CUDA', gpu: { freeBytes: freeGiB * GIB } }) as unknown as Parameters<typeof planBatch>[0]['device'];
  const turbo = { modelBytes: 1.62e9, shape: TURBO_SHAPE };
  const large = { modelBytes: 3.1e9, shape: { ...TURBO_SHAPE, nTextLayer: 32 } };

  it('holds the weights twice, the encoder pass and ~40 MB of caches a window (large-v3-turbo), up to 64 windows', () => {
    expect(planBatch({ device: gpu(23.5), ...turbo }).batchSize).toBe(64); // a 24 GB card: the cap
    expect(planBatch({ device: gpu(7.5), ...turbo }).batchSize).toBe(45); // an 8 GB card
    expect(planBatch({ device: gpu(3), ...turbo }).batchSize).toBe(1); // too small: one at a time, and fit() shrinks further if need be
    // large-v3's 32 decoder layers: 8× the caches a window.
    expect(planBatch({ device: gpu(23.5), ...large }).batchSize).toBe(50);
  });

  it('encodes ENCODER_BATCH_SIZE windows at once on a GPU (16 by default), one at a time on the CPU', () => {
    expect(planBatch({ device: gpu(23.5), ...turbo }).encoderWindows).toBe(16);
    expect(planBatch({ device: { useGpu: false, reason: 'CPU' } as never, ...turbo }).encoderWindows).toBe(1);
    // ENCODER_BATCH_SIZE=4, as a shell reads it and passes it down.
    expect(planBatch({ device: gpu(23.5), config: readConfig({ ENCODER_BATCH_SIZE: '4' }), ...turbo }).encoderWindows).toBe(4);
  });
});

describe('the cross-attention caches chosen for the device', () => {
  const cpu = { useGpu: false, reason: 'CPU' } as unknown as Parameters<typeof crossCacheForm>[1];
  const gpu = { useGpu: true, reason: 'CUDA' } as unknown as Parameters<typeof crossCacheForm>[1];
  const withBf16 = { features: 'CPU : AVX512 = 1 | AVX512_BF16 = 1 |' } as unknown as Parameters<typeof crossCacheForm>[2];
  const without = { features: 'CPU : AVX2 = 1 | FMA = 1 | AVX512 = 1 |' } as unknown as Parameters<typeof crossCacheForm>[2];
  const avx2 = { features: 'CPU : AVX2 = 1 | FMA = 1 | AVX512 = 0 |' } as unknown as Parameters<typeof crossCacheForm>[2];
  const neither = { features: 'CPU : NEON = 1 | ARM_FMA = 1 |' } as unknown as Parameters<typeof crossCacheForm>[2];
  it('auto: bf16 for our kernel where the CPU has AVX512-BF16 or AVX2 with FMA, q8_0 elsewhere, f16 on a GPU', () => {
    expect(crossCacheForm('auto', cpu, withBf16)).toBe('bf16');
    expect(crossCacheForm('auto', cpu, without)).toBe('bf16');
    expect(crossCacheForm('auto', cpu, avx2)).toBe('bf16');
    expect(crossCacheForm('auto', cpu, neither)).toBe('q8_0');
    expect(crossCacheForm('auto', gpu, withBf16)).toBe('f16');
  });
  it('keeps a form asked for, and refuses bf16 on a CPU with neither', () => {
    expect(crossCacheForm('q8_0', cpu, withBf16)).toBe('q8_0');
    expect(crossCacheForm('f16', cpu, without)).toBe('f16');
    expect(() => crossCacheForm('bf16', cpu, neither)).toThrow(/needs a CPU with AVX512-BF16, or AVX2 and FMA/);
  });
});

describe('the form the matrices are multiplied in on the device', () => {
  const cpu = { useGpu: false, reason: 'CPU' } as unknown as Parameters<typeof matrixForm>[1];
  const gpu = { useGpu: true, reason: 'CUDA' } as unknown as Parameters<typeof matrixForm>[1];
  const cpuWith = (features: string) => ({ features: `CPU : AVX2 = 1 | ${features} |` }) as unknown as Parameters<typeof matrixForm>[2];
  const iceLake = cpuWith('AVX512 = 1 | AVX512_VNNI = 1');
  const zen4 = cpuWith('AVX512 = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1');
  const sapphireRapids = cpuWith('AVX512 = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1');
  const arm = { features: 'CPU : NEON = 1 | ARM_FMA = 1 |' } as unknown as Parameters<typeof matrixForm>[2];
  it('auto: q8_0 for AMX, int8 for VNNI or AVX2 without BF16, the file\'s elsewhere and on a GPU', () => {
    expect(matrixForm('auto', cpu, sapphireRapids)).toBe('q8_0');
    expect(matrixForm('auto', cpu, iceLake)).toBe('int8');
    expect(matrixForm('auto', cpu, cpuWith('AVX512 = 0'))).toBe('int8');
    expect(matrixForm('auto', cpu, zen4)).toBe('file');
    expect(matrixForm('auto', cpu, arm)).toBe('file');
    expect(matrixForm('auto', gpu, iceLake)).toBe('file');
  });
  it('keeps a form asked for, and refuses int8 on a CPU with neither AVX512-VNNI nor AVX2', () => {
    expect(matrixForm('int8', cpu, zen4)).toBe('int8');
    expect(matrixForm('int8', cpu, cpuWith('AVX512 = 1'))).toBe('int8');
    expect(matrixForm('file', cpu, iceLake)).toBe('file');
    expect(() => matrixForm('int8', cpu, arm)).toThrow(/needs a CPU with AVX512-VNNI or AVX2/);
  });
});

describe("the encoder's kernels on the device", () => {
  const cpu = { useGpu: false, reason: 'CPU' } as unknown as Parameters<typeof encoderKernels>[1];
  const gpu = { useGpu: true, reason: 'CUDA' } as unknown as Parameters<typeof encoderKernels>[1];
  const cpuWith = (features: string) => ({ features: `CPU : ${features} |` }) as unknown as Parameters<typeof encoderKernels>[2];
  const haswell = cpuWith('AVX2 = 1 | FMA = 1 | AVX512 = 0');
  const zen4 = cpuWith('AVX2 = 1 | FMA = 1 | AVX512 = 1 | AVX512_BF16 = 1');
  const sapphireRapids = cpuWith('AVX2 = 1 | FMA = 1 | AVX512 = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1');
  const arm = cpuWith('NEON = 1 | ARM_FMA = 1');
  it('auto: AMX tiles, else AVX512-BF16 registers, else our attention in AVX2, else ggml\'s; ggml\'s on a GPU', () => {
    expect(encoderKernels('auto', cpu, sapphireRapids)).toBe('amx-bf16');
    expect(encoderKernels('auto', cpu, zen4)).toBe('avx512-bf16');
    expect(encoderKernels('auto', cpu, haswell)).toBe('avx2');
    expect(encoderKernels('auto', cpu, arm)).toBe('ggml');
    expect(encoderKernels('auto', gpu, zen4)).toBe('ggml');
  });
  it('refuses kernels the CPU lacks; avx2 asked where the module has AVX512-BF16 runs (and says) those', () => {
    expect(() => encoderKernels('avx512-bf16', cpu, haswell)).toThrow(/needs a CPU with AVX512-BF16/);
    expect(() => encoderKernels('amx-bf16', cpu, zen4)).toThrow(/needs a CPU with AMX and AVX512-BF16/);
    expect(() => encoderKernels('avx2', cpu, arm)).toThrow(/needs a CPU with AVX2 and FMA/);
    expect(encoderKernels('avx2', cpu, zen4)).toBe('avx512-bf16');
    expect(encoderKernels('ggml', cpu, zen4)).toBe('ggml');
  });
});
