// How many windows one batch holds, and how whisper.cpp's states (beam search, word timings)
// share the cores.
import { describe, expect, it } from 'vitest';
import { planBatch } from '../lib/device.js';

describe('batch planning on the CPU', () => {
  const cpu = { useGpu: false, reason: 'CPU' } as unknown as Parameters<typeof planBatch>[0]['device'];
  it('keeps the batch asked for: one engine pass uses every thread, whatever the batch', () => {
    for (const [requested, threads] of [[8, 2], [2, 2], [1, 2], [16, 4], [3, 8]] as const) {
      const plan = planBatch({ requested, threads, device: cpu, modelBytes: 0, audioState: 384 });
      expect(plan.batchSize).toBe(requested);
      expect(plan.threads).toBe(threads);
    }
  });

  it('never runs more whisper.cpp states than threads: states × threads per state stays within the cores', () => {
    for (const [requested, threads] of [[8, 2], [2, 2], [1, 2], [16, 4], [3, 8]] as const) {
      const plan = planBatch({ requested, threads, device: cpu, modelBytes: 0, audioState: 384 });
      expect(plan.poolSize).toBe(Math.min(requested, threads));
      expect(plan.poolSize * plan.threadsPerState).toBeLessThanOrEqual(threads);
    }
  });

  it('defaults to 8 windows on the CPU', () => {
    const plan = planBatch({ threads: 2, device: cpu, modelBytes: 0, audioState: 384 });
    expect(plan.batchSize).toBe(8);
    expect(plan.source).toBe('CPU default');
  });
});
