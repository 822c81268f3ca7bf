// The addon in more than one V8 environment (worker_threads), and what it tells V8 about the
// memory it holds outside the JS heap.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { binding, packageRoot } from '../lib/native/binding.js';
import { Whisper } from '../lib/whisper.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, have, normalise, readWav16k } from './helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'ws-envs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!have(TINY_EN, JFK_WAV, join(packageRoot, 'dist', 'whisper.js')))('native addon across environments', () => {
  it('loads and transcribes in a worker thread while the main thread holds a model of its own', async () => {
    const main = await Whisper.load(TINY_EN, { batchSize: 1 });
    try {
      const script = join(dir, 'worker.mjs');
      writeFileSync(
        script,
        `import { parentPort } from 'node:worker_threads';
import { Whisper } from ${JSON.stringify(join(packageRoot, 'dist', 'whisper.js'))};
import { readPlainWav } from ${JSON.stringify(join(packageRoot, 'dist', 'audio', 'decode.js'))};
const w = await Whisper.load(${JSON.stringify(TINY_EN)}, { batchSize: 1 });
const t = await w.transcribe(readPlainWav(${JSON.stringify(JFK_WAV)}));
w.dispose();
parentPort.postMessage(t.text);`,
      );
      const fromWorker = await new Promise<string>((resolve, reject) => {
        const worker = new Worker(script);
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(normalise(fromWorker)).toBe(normalise(JFK_TEXT));
      // The main thread's model (and its constructor) outlived the worker's environment.
      expect(normalise((await main.transcribe(readWav16k(JFK_WAV))).text)).toBe(normalise(JFK_TEXT));
      const again = await Whisper.load(TINY_EN, { batchSize: 1 });
      again.dispose();
    } finally {
      main.dispose();
    }
  });

  it('reports a loaded model\'s weights to V8 as external memory (AdjustExternalMemory), so its GC weighs them', async () => {
    // Node 20's process.memoryUsage().external leaves this amount out, so the addon says what it reported.
    const model = await binding().loadModel(TINY_EN, { useGpu: false, gpuDevice: 0, flashAttn: true, repackWeights: true, q8Matrices: false, int8Products: false, q8CrossCache: false, bf16CrossCache: false, bf16Attention: false, amxEncoder: false, poolSize: 1 });
    try {
      expect(model.info().externalBytes).toBe(statSync(TINY_EN).size);
      // The batched engine's own copy of the weights is added once it loads, once.
      const engine = await model.loadEngine();
      expect(engine.backend).toBe('CPU');
      expect(engine.weightBytes).toBeGreaterThan(0.9 * statSync(TINY_EN).size);
      expect(model.info().externalBytes).toBe(statSync(TINY_EN).size + engine.weightBytes);
      await model.loadEngine();
      expect(model.info().externalBytes).toBe(statSync(TINY_EN).size + engine.weightBytes);
    } finally {
      model.dispose();
    }
  });
});
