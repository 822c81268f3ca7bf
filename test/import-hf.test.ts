// The Hugging Face importer and quantisation. The same tiny.en tensors, written under
// transformers' names into a safetensors checkpoint (one file, and sharded), must import to
// the very bytes the CTranslate2 importer writes; q8_0/q5_0 go through whisper.cpp's quantiser.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGgmlModel } from '../lib/models/ggml-format.js';
import { importCt2 } from '../lib/models/import-ct2.js';
import { importModel } from '../lib/models/import.js';
import { binding, packageRoot } from '../lib/native/binding.js';
import { Whisper } from '../lib/whisper.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, TINY_EN_CT2, have, normalise, readWav16k } from './helpers/fixtures.js';
import { hfCheckpoint } from './helpers/hf-checkpoint.js';
import { writeSafetensors } from './helpers/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'ws-hf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!have(TINY_EN_CT2))('Hugging Face transformers import', () => {
  const hf = join(dir, 'hf');
  const sharded = join(dir, 'hf-sharded');
  const fromCt2 = join(dir, 'from-ct2.bin');

  beforeAll(() => {
    importCt2(TINY_EN_CT2, fromCt2);
    const tensors = hfCheckpoint(TINY_EN_CT2, [hf, sharded]);
    writeSafetensors(join(hf, 'model.safetensors'), tensors);
    // Two shards split down the middle, with the index transformers writes.
    const names = [...tensors.keys()];
    const half = Math.floor(names.length / 2);
    const parts = [names.slice(0, half), names.slice(half)];
    const weightMap: Record<string, string> = {};
    parts.forEach((part, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(join(sharded, file), new Map(part.map((n) => [n, tensors.get(n)!])));
      for (const n of part) weightMap[n] = file;
    });
    writeFileSync(join(sharded, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  });

  it('gives the byte-identical ggml file from one safetensors file and from shards', () => {
    const one = join(dir, 'from-hf.bin');
    const shards = join(dir, 'from-hf-sharded.bin');
    expect(importModel(hf, one)).toBe('transformers');
    expect(importModel(sharded, shards)).toBe('transformers');
    const ref = readFileSync(fromCt2);
    expect(readFileSync(one).equals(ref)).toBe(true);
    expect(readFileSync(shards).equals(ref)).toBe(true);
  });

  it('names what is wrong with a bad checkpoint and leaves no output', () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad, { recursive: true });
    const out = join(dir, 'never.bin');
    expect(() => importModel(bad, out)).toThrow(/neither model\.bin .* nor model\.safetensors/);
    copyFileSync(join(hf, 'tokenizer.json'), join(bad, 'tokenizer.json'));
    writeFileSync(join(bad, 'config.json'), JSON.stringify({ model_type: 'wav2vec2' }));
    writeFileSync(join(bad, 'model.safetensors'), Buffer.alloc(16));
    expect(() => importModel(bad, out)).toThrow(/model_type is "wav2vec2", not "whisper"/);
    copyFileSync(join(hf, 'config.json'), join(bad, 'config.json'));
    const full = readFileSync(join(hf, 'model.safetensors'));
    writeFileSync(join(bad, 'model.safetensors'), full.subarray(0, full.length - 1000));
    expect(() => importModel(bad, out)).toThrow(/ends past the end of the file \(truncated\)/);
    expect(() => readFileSync(out)).toThrow();
  });
});

describe.skipIf(!have(TINY_EN_CT2, JFK_WAV))('quantised import through whisper.cpp', () => {
  for (const type of ['q8_0', 'q5_0'] as const) {
    it(`${type}: matrices quantised, small tensors kept, and it still transcribes jfk`, async () => {
      const out = join(dir, `tiny.en-${type}.bin`);
      importModel(TINY_EN_CT2, out, { type });
      const m = readGgmlModel(out);
      const byName = new Map(m.tensors.map((t) => [t.name, t.type]));
      expect(byName.get('decoder.blocks.0.attn.query.weight')).toBe(type);
      expect(byName.get('decoder.token_embedding.weight')).toBe(type);
      expect(byName.get('encoder.conv1.weight')).toBe('f16');
      expect(byName.get('encoder.blocks.0.attn.query.bias')).toBe('f32');
      const w = await Whisper.load(out, { batchSize: 1 });
      try {
        expect(normalise((await w.transcribe(readWav16k(JFK_WAV))).text)).toBe(normalise(JFK_TEXT));
      } finally {
        w.dispose();
      }
    });
  }
});

// Every decoder path on quantised weights, in a child process: a CPU feature path that kills the
// process (whisper-cli's SIGILL/SIGSEGV with q8_0 and q4_0 on an AMX Xeon) fails here with its
// signal instead of taking the test runner down.
// Asynchronous: a child that decodes for many seconds must not block vitest's worker (its RPC times out).
async function runChild(script: string, env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000, env });
  const r = { stdout: '', stderr: '', status: null as number | null, signal: null as NodeJS.Signals | null };
  child.stdout.on('data', (c: Buffer) => (r.stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (r.stderr += c.toString()));
  [r.status, r.signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (code, signal) => resolve([code, signal])));
  expect(r.signal, r.stderr).toBeNull();
  expect(r.status, r.stderr).toBe(0);
  return r;
}

// The batched engine, word timings and beam search on one model file, in a child process (its
// info logs on stderr).
const everyPath = (model: string) => `
  import { Whisper, createLogger, loadAudio } from ${JSON.stringify(join(packageRoot, 'dist', 'index.js'))};
  const w = await Whisper.load(${JSON.stringify(model)}, { batchSize: 2, logger: createLogger({ level: 'info' }) });
  const pcm = (await loadAudio(${JSON.stringify(JFK_WAV)})).pcm;
  const texts = [];
  for (const o of [{}, { wordTimestamps: true }, { beamSize: 2 }]) texts.push((await w.transcribe(pcm, o)).text);
  w.dispose();
  process.stdout.write(JSON.stringify(texts));`;

describe.skipIf(!have(TINY_EN_CT2, TINY_EN, JFK_WAV))('quantised weights on every decoder path of the CPU in hand', () => {
  for (const type of ['q8_0', 'q5_0', 'q4_0'] as const) {
    it(`${type}: the batched engine, word timings and beam search each give jfk, and the process lives`, async () => {
      const out = join(dir, `paths-${type}.bin`);
      importModel(TINY_EN_CT2, out, { type });
      const r = await runChild(everyPath(out));
      for (const text of JSON.parse(r.stdout) as string[]) expect(normalise(text)).toBe(normalise(JFK_TEXT));
    });
  }

  it('f16 with WHISPER_SERVE_MATRICES=q8_0: the matrices quantised as they load, jfk on every path', async () => {
    const r = await runChild(everyPath(TINY_EN), { ...process.env, WHISPER_SERVE_MATRICES: 'q8_0' });
    for (const text of JSON.parse(r.stdout) as string[]) expect(normalise(text)).toBe(normalise(JFK_TEXT));
    expect(r.stderr).toMatch(/model loaded .*"matrices":"q8_0 \(WHISPER_SERVE_MATRICES=q8_0\)"/);
    // q8_0 takes 34 bytes a block of 32 where f16 takes 64: the engine's weights shrink.
    const sizes = await runChild(`
      import { binding } from ${JSON.stringify(join(packageRoot, 'dist', 'native', 'binding.js'))};
      const bytes = [];
      for (const q8Matrices of [false, true]) {
        const native = await binding().loadModel(${JSON.stringify(TINY_EN)}, { useGpu: false, gpuDevice: 0, flashAttn: true, repackWeights: true, q8Matrices, int8Products: false, q8CrossCache: false, bf16CrossCache: false, bf16Attention: false, amxEncoder: false, poolSize: 1 });
        bytes.push((await native.loadEngine()).weightBytes);
        native.dispose();
      }
      process.stdout.write(JSON.stringify(bytes));`);
    const [f16, q8] = JSON.parse(sizes.stdout) as number[];
    expect(q8!).toBeLessThan(f16! * 0.75);
  });

  // q4_0 in ggml's CPU_REPACK layout on an AVX2 CPU (2× the products' rate); q8_0 in its AMX
  // tiles where the CPU and the addon have AMX (3× in the encoder, bench/README.md).
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const layouts = [
    { type: 'q4_0', where: 'an AVX2 CPU', cpu: /^flags\s*:.*\bavx2\b/m.test(cpuinfo), addon: 'REPACK = 1' },
    { type: 'q8_0', where: 'an AMX CPU', cpu: /^flags\s*:.*\bamx_int8\b/m.test(cpuinfo), addon: 'AMX_INT8 = 1' },
  ] as const;
  for (const { type, where, cpu, addon } of layouts) it(`${type}: the engine's matrices in the layout of ggml's own kernel on ${where}, jfk the same either way`, async () => {
    const out = join(dir, `repack-${type}.bin`);
    importModel(TINY_EN_CT2, out, { type });
    const script = `
      import { Whisper, loadAudio } from ${JSON.stringify(join(packageRoot, 'dist', 'index.js'))};
      import { binding } from ${JSON.stringify(join(packageRoot, 'dist', 'native', 'binding.js'))};
      const pcm = (await loadAudio(${JSON.stringify(JFK_WAV)})).pcm;
      const seen = [];
      for (const repackWeights of [true, false]) {
        const native = await binding().loadModel(${JSON.stringify(out)}, { useGpu: false, gpuDevice: 0, flashAttn: true, repackWeights, q8Matrices: false, int8Products: false, q8CrossCache: false, bf16CrossCache: false, bf16Attention: false, amxEncoder: false, poolSize: 1 });
        const { repackedMatrices } = await native.loadEngine();
        native.dispose();
        const w = await Whisper.load(${JSON.stringify(out)}, { batchSize: 2, config: { repackWeights } });
        seen.push({ repackedMatrices, text: (await w.transcribe(pcm)).text });
        w.dispose();
      }
      process.stdout.write(JSON.stringify(seen));`;
    const { stdout } = await runChild(script);
    const [repacked, plain] = JSON.parse(stdout) as Array<{ repackedMatrices: number; text: string }>;
    // tiny.en: 4 + 4 layers' attention and MLP matrices, the cross-attention's; not the token embedding.
    if (cpu && binding().systemInfo().features.includes(addon)) expect(repacked!.repackedMatrices).toBeGreaterThanOrEqual(40);
    else expect(repacked!.repackedMatrices).toBe(0);
    expect(plain!.repackedMatrices).toBe(0);
    expect(normalise(repacked!.text)).toBe(normalise(JFK_TEXT));
    expect(normalise(plain!.text)).toBe(normalise(JFK_TEXT));
  });
});

