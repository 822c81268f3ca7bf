// The kernels an AVX2 CPU runs (Zen 2 and 3, Haswell to Skylake: no AVX512-BF16, no VNNI): our
// encoder and cross attention over packed bf16 keys and values widened for FMA
// (native/widened_attention.cc, native/cross_attention.cc) and our int8 products in VPMADDUBSW
// (native/int8_linear.cc). Most of this project's machines have AVX-512, so the addon runs here as
// on such a CPU: the prebuild with ggml's haswell module alone beside it (bench/emulate.mjs), from
// which the addon takes its kernels. By default there: jfk exactly and ggml's transcript of
// several windows within 2 %, both attentions and every product of a block ours, its bias, GELU
// and residual addition fused into it, every layer norm ours.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatedCpu } from '../bench/emulate.mjs';
import { Whisper } from '../lib/api.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, have, jfkSevenTimes, normalise, readWav16k, wer } from './helpers/fixtures.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const moduleFile = (name: string) => join(root, 'prebuilds', `${process.platform}-${process.arch}`, `libggml-cpu-${name}.so`);
const ready = process.arch === 'x64' && have(TINY_EN, JFK_WAV, join(root, 'dist', 'index.js')) && have(moduleFile('haswell'), moduleFile('sandybridge'));

interface Run {
  texts: string[];
  loaded: Record<string, unknown>;
  ops: { op: string; nodes: number; flop: number }[];
}

/** Each PCM file transcribed by tiny.en under ggml's `module` alone (default config but `env`). */
function underModule(module: string, files: string[], env: Record<string, string> = {}): Run {
  const emulated = emulatedCpu(module, root);
  const script = `
    import { readFileSync } from 'node:fs';
    import { Whisper, createLogger } from ${JSON.stringify(join(root, 'dist', 'index.js'))};
    const w = await Whisper.load(${JSON.stringify(TINY_EN)}, { gpu: false, threads: 2, logger: createLogger({ format: 'json', level: 'info' }) });
    const texts = [];
    for (const f of process.argv.slice(1)) {
      const b = readFileSync(f);
      texts.push((await w.transcribe(new Float32Array(b.buffer, b.byteOffset, b.length / 4))).text);
    }
    w.dispose();
    console.log(JSON.stringify(texts));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, ...files], {
    env: { ...process.env, ...emulated.env, WHISPER_SERVE_PROFILE: '1', ...env },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`the ${module} run failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const logs = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    texts: JSON.parse(r.stdout.trim().split('\n').at(-1)!) as string[],
    loaded: logs.find((l) => String(l.msg).startsWith('model loaded'))!,
    ops: logs.filter((l) => l.msg === 'engine profile').flatMap((l) => l.ops as Run['ops']),
  };
}

describe.skipIf(!ready)('an AVX2 CPU (ggml\'s haswell module alone)', () => {
  let dir: string;
  let files: string[];
  let reference: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'avx2-'));
    const jfk = readWav16k(JFK_WAV);
    const long = jfkSevenTimes(jfk);
    files = [jfk, long].map((pcm, i) => {
      const f = join(dir, `${i}.f32`);
      writeFileSync(f, new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength));
      return f;
    });
    // This CPU's own run, ggml's kernels throughout (fused attention over q8_0 caches).
    const ggml = await Whisper.load(TINY_EN, { gpu: false, threads: 2, config: { encoderKernels: 'ggml', crossCache: 'q8_0', matrices: 'file' } });
    try {
      reference = normalise((await ggml.transcribe(long)).text);
    } finally {
      ggml.dispose();
    }
    expect(reference.split('ask not what your country').length - 1).toBe(7);
  });
  afterAll(() => dir && existsSync(dir) && rmSync(dir, { recursive: true }));

  it('picks our encoder attention, packed bf16 cross caches and int8 products by default: jfk exactly, the windows within 2 % of ggml, both attentions and the blocks\' products ours, biases, GELU and residuals fused, layer norms ours', () => {
    const run = underModule('haswell', files);
    expect(run.loaded).toMatchObject({
      crossCache: 'bf16 (WHISPER_SERVE_CROSS_CACHE=auto)',
      encoderKernels: 'avx2 (WHISPER_SERVE_ENCODER_KERNELS=auto)',
      matrices: 'int8 (WHISPER_SERVE_MATRICES=auto)',
    });
    expect(normalise(run.texts[0]!)).toBe(normalise(JFK_TEXT));
    expect(wer(reference, normalise(run.texts[1]!))).toBeLessThanOrEqual(0.02);
    const ops = (name: string) => run.ops.filter((o) => o.op === name);
    // Per encoder graph (the long audio takes several), tiny.en's 4 layers: one attention node and
    // 6 products each, and the decoder's 4 cross keys and values; ggml keeps the 2 convolutions.
    const graphs = ops('encoder bf16 attention').map((o) => o.nodes / 4);
    expect(ops('encoder int8 product').map((o) => o.nodes)).toEqual(graphs.map((g) => g * (4 * 6 + 4 * 2)));
    expect(ops('encoder MUL_MAT f16').map((o) => o.nodes)).toEqual(graphs.map((g) => g * 2));
    // The blocks' biases, GELU and residual additions fused into the products: GELU nodes only
    // after the convolutions, none in the decoder.
    expect(ops('encoder GELU').map((o) => o.nodes)).toEqual(graphs.map((g) => g * 2));
    expect(ops('decoder GELU')).toEqual([]);
    // Every layer norm in our one-pass op (native/layer_norm.h): a block's two and the last one.
    expect(ops('encoder layer norm').map((o) => o.nodes)).toEqual(graphs.map((g) => g * (4 * 2 + 1)));
    expect(run.ops.filter((o) => / (NORM|MUL)$/.test(o.op))).toEqual([]);
    expect(ops('decoder bf16 cross attention').length).toBe(2);
    expect(ops('decoder int8 product').length).toBe(2);
    expect(run.ops.map((o) => o.op)).not.toContain('encoder FLASH_ATTN_EXT');
    expect(run.ops.filter((o) => o.op.startsWith('decoder MUL_MAT'))).toEqual([]);
  });

  it("keeps the file's f16 in ggml's products when asked (WHISPER_SERVE_MATRICES=file): jfk exactly", () => {
    const run = underModule('haswell', [files[0]!], { WHISPER_SERVE_MATRICES: 'file' });
    expect(run.loaded).not.toHaveProperty('matrices');
    expect(normalise(run.texts[0]!)).toBe(normalise(JFK_TEXT));
    expect(run.ops.map((o) => o.op)).not.toContain('encoder int8 product');
  });

  it('refuses int8 products with a typed error under a module without AVX2 (sandybridge: AVX only)', () => {
    expect(() => underModule('sandybridge', [files[0]!], { WHISPER_SERVE_MATRICES: 'int8' })).toThrow(/AVX512-VNNI or AVX2/);
  });
});
