// How many whisper states run at once, and on how many threads each.
import { describe, expect, it } from 'vitest';
import { planBatch } from '../lib/device.js';

describe('batch planning on the CPU', () => {
  const cpu = { useGpu: false, reason: 'CPU' } as unknown as Parameters<typeof planBatch>[0]['device'];
  it('never runs more states than threads: states × threads per state stays within the cores', () => {
    for (const [requested, threads] of [[8, 2], [2, 2], [1, 2], [16, 4], [3, 8]] as const) {
      const plan = planBatch({ requested, threads, device: cpu, modelBytes: 0, audioState: 384 });
      expect(plan.batchSize).toBe(Math.min(requested, threads));
      expect(plan.batchSize * plan.threadsPerState).toBeLessThanOrEqual(threads);
    }
    expect(planBatch({ requested: 8, threads: 2, device: cpu, modelBytes: 0, audioState: 384 }).source).toMatch(/capped at 2 CPU threads/);
  });
});
