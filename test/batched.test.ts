// The batched engine (native/batch_engine.cc + lib/batched.ts) on real weights: the same text at
// every batch size, agreement with whisper.cpp's own decoder, the temperature fallback and the
// no-speech rule each made to happen, and the token → segment rules on their own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compressionRatio, decodeBatched, tokensToSegments } from '../lib/batched.js';
import { withDefaults } from '../lib/decode-options.js';
import { Whisper } from '../lib/api.js';
import type { Config } from '../lib/config.js';
import { binding, type NativeLoadOptions, type NativeModel } from '../lib/native/binding.js';
import { planFixedWindows } from '../lib/windows.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, concat, have, jfkSevenTimes, noise, normalise, readWav16k, repeatWithSilence, wer } from './helpers/fixtures.js';

const ready = have(TINY_EN, JFK_WAV);
const REF = normalise(JFK_TEXT);

/** tiny.en on the native engine on the CPU, as Whisper.load has it there without AVX512-BF16
 * (fused attention, q8_0 cross caches, ggml's encoder kernels), but for `overrides`. */
const loadCpuEngine = (overrides: Partial<NativeLoadOptions> = {}) =>
  binding().loadModel(TINY_EN, { useGpu: false, gpuDevice: 0, flashAttn: true, repackWeights: true, q8Matrices: false, int8Products: false, q8CrossCache: true, bf16CrossCache: false, bf16Attention: false, amxEncoder: false, poolSize: 1, ...overrides });
/** decodeBatched's run over `pcm` in fixed windows, 4 slots, in English. */
const batchedRun = (pcm: Float32Array, options: Parameters<typeof withDefaults>[0]) => ({
  pcm,
  windows: planFixedWindows(pcm),
  decode: withDefaults(options),
  language: 'en',
  threads: 2,
  slots: 4,
  encoderWindows: 1,
  abortFlag: new Int32Array(1),
});

describe.skipIf(!ready)('batched engine on tiny.en', () => {
  let whisper: Whisper;
  let jfk: Float32Array;
  let long: Float32Array;
  beforeAll(async () => {
    whisper = await Whisper.load(TINY_EN, { gpu: false, threads: 2 });
    jfk = readWav16k(JFK_WAV);
    // ~2 min of real speech with pauses of different lengths: several windows, cut at pauses.
    long = concat(...[1.5, 0.6, 2.5, 0.8, 1.2, 3, 0.7, 2, 1].map((gap) => repeatWithSilence(jfk, 1, gap)));
  });
  afterAll(() => whisper?.dispose());

  it('gives jfk exactly at every batch size', async () => {
    for (const batchSize of [1, 2, 4, 8, 16]) expect(normalise((await whisper.transcribe(jfk, { batchSize })).text), `batch ${batchSize}`).toBe(REF);
  });

  it('gives the same multi-window transcript at every batch size: slots do not leak into each other', async () => {
    const texts = [];
    for (const batchSize of [1, 2, 4, 8, 16]) {
      const t = await whisper.transcribe(long, { batchSize });
      expect(t.windows).toBeGreaterThanOrEqual(4);
      texts.push(normalise(t.text));
    }
    expect(texts[0]!.split('ask not what your country').length - 1).toBe(9);
    for (const t of texts) expect(t).toBe(texts[0]);
  });

  it("agrees with whisper.cpp's own decoder (seeking, conditioned on previous text) within 2 % WER", async () => {
    const batched = await whisper.transcribe(long);
    const sequential = await whisper.transcribe(long, { conditionOnPreviousText: true });
    expect(wer(sequential.text, batched.text)).toBeLessThanOrEqual(0.02);
    for (let i = 1; i < batched.segments.length; i++) expect(batched.segments[i]!.start).toBeGreaterThanOrEqual(batched.segments[i - 1]!.end - 0.01);
  });

  it('decodes text tokens only with withoutTimestamps: one segment per window, capped at N + 1 tokens by maxTokensPerSegment N', async () => {
    const t = await whisper.transcribe(jfk, { withoutTimestamps: true, maxTokensPerSegment: 4 });
    expect(t.segments).toHaveLength(1);
    expect(t.segments[0]).toMatchObject({ start: 0, end: 11 });
    expect(normalise(t.text)).toBe('and so my fellow americans');
    expect(normalise((await whisper.transcribe(jfk, { withoutTimestamps: true })).text)).toBe(REF);
  });

  it("suppresses special tokens by whisper.cpp's names: no end-of-text, so a window runs to its token cap", async () => {
    const t = await whisper.transcribe(jfk, { withoutTimestamps: true, maxTokensPerSegment: 29, suppressRegex: '^\\[_EOT_\\]$|^<\\|endoftext\\|>$' });
    expect(normalise(t.text).startsWith(REF)).toBe(true);
    expect(normalise(t.text).length).toBeGreaterThan(REF.length);
  });

  it('streams segments in time order as windows settle: the first before the call ends, together the transcript', async () => {
    const stream = whisper.transcribeStream(long, { batchSize: 1 });
    let ended = false;
    void stream.result.then(() => (ended = true));
    let endedAtFirst: boolean | undefined;
    const got = [];
    for await (const segment of stream) {
      endedAtFirst ??= ended;
      got.push(segment);
    }
    const t = await stream.result;
    expect(endedAtFirst).toBe(false);
    expect(got).toEqual(t.segments);
    expect(got.map((s) => s.id)).toEqual(got.map((_, i) => i));
    expect(normalise(t.text)).toBe(normalise((await whisper.transcribe(long)).text));
  });

  it('ends a stream with the call\'s error, after the segments that were final', async () => {
    const ac = new AbortController();
    const stream = whisper.transcribeStream(long, { batchSize: 1, signal: ac.signal, onSegment: () => ac.abort() });
    const got = [];
    await expect(
      (async () => {
        for await (const segment of stream) got.push(segment);
      })(),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    expect(got.length).toBeGreaterThan(0);
    await expect(stream.result).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('reads a stream of PCM chunks in blocks: the same transcript as the whole array, nothing lost or doubled at block edges', async () => {
    const pcm = concat(long, long); // ~3.7 min: four blocks of 60 s
    async function* chunks() {
      for (let at = 0; at < pcm.length; at += 16000) yield pcm.slice(at, at + 16000);
    }
    const whole = await whisper.transcribe(pcm);
    const fractions: number[] = [];
    const streamed = await whisper.transcribe(chunks(), { blockSeconds: 60, expectedSeconds: pcm.length / 16000, onProgress: (p) => fractions.push(p.fraction) });
    expect(streamed.duration).toBeCloseTo(pcm.length / 16000, 3);
    expect(normalise(streamed.text)).toBe(normalise(whole.text));
    expect(normalise(streamed.text).split('ask not what your country').length - 1).toBe(18);
    expect(streamed.segments.map((s) => [s.start, s.end])).toEqual(whole.segments.map((s) => [s.start, s.end]));
    for (let i = 1; i < fractions.length; i++) expect(fractions[i]).toBeGreaterThanOrEqual(fractions[i - 1]!);
    expect(fractions.at(-1)).toBeCloseTo(1, 2);
    // whisper.cpp's decoder seeks through each block's spans (cut where the block's windows were).
    const conditioned = await whisper.transcribe(chunks(), { blockSeconds: 60, conditionOnPreviousText: true });
    expect(normalise(conditioned.text).split('ask not what your country').length - 1).toBe(18);
    await expect(whisper.transcribe((async function* () {})())).rejects.toMatchObject({ code: 'EMPTY_AUDIO' });
    await expect(whisper.transcribe((async function* () { yield new Float32Array([0, NaN]); })())).rejects.toMatchObject({ code: 'CORRUPT_AUDIO' });
  });

  it('reports a window finished through onProgress, up to 1', async () => {
    const fractions: number[] = [];
    await whisper.transcribe(long, { batchSize: 2, onProgress: (p) => fractions.push(p.fraction) });
    expect(fractions.length).toBeGreaterThanOrEqual(4);
    expect(fractions[fractions.length - 1]).toBeCloseTo(1, 6);
    // Long digital silence is not decoded, but it is done: progress still ends at 1.
    const gapped: number[] = [];
    await whisper.transcribe(concat(jfk, new Float32Array(16000 * 20), jfk), { onProgress: (p) => gapped.push(p.fraction) });
    expect(gapped[gapped.length - 1]).toBeCloseTo(1, 6);
  });
});

// The encoder in our bf16 kernels (bf16 products, f32 sums; the default where the CPU has them):
// attention (native/encoder_attention.cc) and products (native/bf16_linear.cc, rows in blocks of
// 32 and 8: 1500 frames a window leave partial ones) in AMX tiles (amx-bf16) or AVX-512 registers
// (avx512-bf16); against ggml's (WHISPER_SERVE_ENCODER_KERNELS=ggml).
describe.skipIf(!ready)("the encoder's bf16 kernels", () => {
  const features = binding().systemInfo().features;
  const avx2 = features.includes('AVX2 = 1') && features.includes('FMA = 1');
  const kernels = [
    ['avx512-bf16', features.includes('AVX512_BF16 = 1')],
    ['amx-bf16', features.includes('AMX_INT8 = 1') && features.includes('AVX512_BF16 = 1')],
  ] as const;
  let ggml: Whisper;
  let jfk: Float32Array;
  let long: Float32Array;
  let reference: string;
  beforeAll(async () => {
    // ggml's encoder, and ggml's fused attention over q8_0 caches in the decoder.
    ggml = await Whisper.load(TINY_EN, { gpu: false, threads: 2, config: { encoderKernels: 'ggml', crossCache: 'q8_0', matrices: 'file' } });
    jfk = readWav16k(JFK_WAV);
    long = jfkSevenTimes(jfk);
    reference = normalise((await ggml.transcribe(long)).text);
  });
  afterAll(() => ggml?.dispose());
  /** tiny.en loaded with `config`: jfk exactly and the windows within 2 % of ggml's transcript where
   * the CPU `runs` it (true), the load refused by `refusal` where it does not (false). */
  const matchesGgml = async (config: Partial<Config>, runs: boolean, refusal: RegExp): Promise<boolean> => {
    const load = Whisper.load(TINY_EN, { gpu: false, threads: 2, config });
    if (!runs) {
      await expect(load).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: refusal });
      return false;
    }
    const ours = await load;
    try {
      expect(normalise((await ours.transcribe(jfk)).text)).toBe(REF);
      expect(reference.split('ask not what your country').length - 1).toBe(7);
      expect(wer(reference, normalise((await ours.transcribe(long)).text))).toBeLessThanOrEqual(0.02);
    } finally {
      ours.dispose();
    }
    return true;
  };

  for (const [kernel, runs] of kernels) {
    it(`${kernel}: ggml's transcript on several windows and jfk exactly where the CPU has it; refused where it has not`, async () => {
      if (!(await matchesGgml({ encoderKernels: kernel }, runs, /AVX512-BF16/))) return;
      // The encoder's blocks multiplied by our op, not ggml's MUL_MAT: its node, with a product's FLOPs;
      // and the decoder's, every bf16 matrix (the logits' too: a vocabulary not in 32s) from its packed copy.
      const model = await loadCpuEngine({ bf16Attention: true, amxEncoder: kernel === 'amx-bf16' });
      try {
        const r = await decodeBatched(model, { ...batchedRun(jfk, {}), profile: true });
        expect(r.profile.find((c) => c.op === 'encoder bf16 product')!.flop).toBeGreaterThan(0);
        expect(r.profile.find((c) => c.op === 'decoder bf16 product')!.flop).toBeGreaterThan(0);
        expect(r.profile.map((c) => c.op)).not.toContain('decoder MUL_MAT bf16');
        expect(normalise(r.windows[0]!.map((s) => s.text).join(''))).toBe(REF);
      } finally {
        model.dispose();
      }
    });
  }

  it('int8 products (native/int8_linear.cc, VPDPBUSD or AVX2\'s VPMADDUBSW): the same where the CPU has AVX512-VNNI or AVX2, every product from a packed copy; refused where it has neither', async () => {
    if (!(await matchesGgml({ encoderKernels: 'ggml', crossCache: 'q8_0', matrices: 'int8' }, features.includes('AVX512_VNNI = 1') || avx2, /AVX512-VNNI or AVX2/))) return;
    // Without our bf16 kernels the decoder's matrices are int8 too; with them, bf16 (more exact).
    for (const bf16Attention of [false, ...(features.includes('AVX512_BF16 = 1') ? [true] : [])]) {
      const model = await loadCpuEngine({ int8Products: true, bf16Attention });
      try {
        const r = await decodeBatched(model, { ...batchedRun(jfk, {}), profile: true });
        const op = (name: string) => r.profile.find((c) => c.op === name);
        // tiny.en's 4 layers: 6 products each, and the decoder's 4 cross-attention keys and values.
        expect(op('encoder int8 product')).toMatchObject({ nodes: 4 * 6 + 4 * 2 });
        expect(op('encoder int8 product')!.flop).toBeGreaterThan(0);
        expect(op(`decoder ${bf16Attention ? 'bf16' : 'int8'} product`)!.flop).toBeGreaterThan(0);
        expect(r.profile.filter((c) => c.op.startsWith('decoder MUL_MAT'))).toEqual([]);
        expect(normalise(r.windows[0]!.map((s) => s.text).join(''))).toBe(REF);
      } finally {
        model.dispose();
      }
    }
  });

  it("avx2: our attention over bf16 keys and values widened for FMA: the same where the CPU has AVX2 and FMA (AVX-512's kernels where it has AVX512-BF16)", async () => {
    if (!(await matchesGgml({ encoderKernels: 'avx2', matrices: 'file' }, avx2, /AVX2 and FMA/))) return;
    const model = await loadCpuEngine({ bf16Attention: true });
    try {
      const r = await decodeBatched(model, { ...batchedRun(jfk, {}), profile: true });
      expect(r.profile.find((c) => c.op === 'encoder bf16 attention')).toMatchObject({ nodes: 4 });
      expect(r.profile.map((c) => c.op)).not.toContain('encoder FLASH_ATTN_EXT');
      expect(normalise(r.windows[0]!.map((s) => s.text).join(''))).toBe(REF);
    } finally {
      model.dispose();
    }
  });

  it("the decoder's cross-attention over bf16 caches (native/cross_attention.cc): the same, refused without AVX512-BF16 or AVX2", async () => {
    await matchesGgml({ encoderKernels: 'ggml', crossCache: 'bf16' }, features.includes('AVX512_BF16 = 1') || avx2, /AVX512-BF16, or AVX2/);
  });
});

// softmax(QKᵀ)V with transposed value caches: the graphs a GPU backend runs where it has no fused
// attention for whisper's shapes. CI has no GPU, so the CPU runs them here.
describe.skipIf(!ready)('batched engine without fused attention (the GPU fallback graphs, on the CPU)', () => {
  let fused: Whisper;
  let softmax: Whisper;
  let long: Float32Array;
  beforeAll(async () => {
    fused = await Whisper.load(TINY_EN, { gpu: false, threads: 2 });
    softmax = await Whisper.load(TINY_EN, { gpu: false, threads: 2, flashAttn: false });
    const jfk = readWav16k(JFK_WAV);
    long = concat(...[1.5, 0.6, 2.5, 0.8, 1.2].map((gap) => repeatWithSilence(jfk, 1, gap)));
  });
  afterAll(() => {
    fused?.dispose();
    softmax?.dispose();
  });

  it('says which attention it runs, and gives the fused graphs\' transcript at batch 1 and 4', async () => {
    const native = await loadCpuEngine({ flashAttn: false, q8CrossCache: false });
    try {
      expect(await native.loadEngine()).toMatchObject({ backend: 'CPU', attention: 'softmax' });
    } finally {
      native.dispose();
    }
    const reference = normalise((await fused.transcribe(long)).text);
    for (const batchSize of [1, 4]) expect(wer(reference, (await softmax.transcribe(long, { batchSize })).text), `batch ${batchSize}`).toBeLessThanOrEqual(0.02);
  });
});

describe.skipIf(!ready)('batched decoding policy (lib/batched.ts) on the native engine', () => {
  let model: NativeModel;
  let jfk: Float32Array;
  beforeAll(async () => {
    model = await loadCpuEngine();
    jfk = readWav16k(JFK_WAV);
  });
  afterAll(() => model?.dispose());
  it("resumes a window from its last timestamp only where the rest has sound: no encoder pass to hear a pause", async () => {
    // jfk then 4 s of silence, one window: the decoder's last timestamp is ~4 s short of the end.
    const quiet = await decodeBatched(model, batchedRun(concat(jfk, new Float32Array(4 * 16000)), {}));
    expect(quiet.resumed).toBe(0);
    expect(quiet.timings.encoderGraphs).toBe(1);
    expect(normalise(quiet.windows[0]!.map((s) => s.text).join(''))).toBe(REF);
    // jfk, 2 s of silence, then jfk's first 2.5 s: the rest has sound, so nothing after the pause is lost
    // (heard in the first pass or by a resume: which one is the model's choice, not asserted).
    const more = await decodeBatched(model, batchedRun(concat(jfk, new Float32Array(2 * 16000), jfk.subarray(0, 40000)), {}));
    const text = normalise(more.windows[0]!.map((s) => s.text).join(''));
    expect(text.startsWith(REF)).toBe(true);
    expect(text.length, 'the sound after the pause is heard').toBeGreaterThan(REF.length + 5);
  });

  it('goes on decoding past a pause while the window has sound after it (no end-of-text before it): no resumed piece, no second encoder pass', async () => {
    const twice = await decodeBatched(model, batchedRun(concat(jfk, new Float32Array(3 * 16000), jfk), {}));
    expect(twice.resumed).toBe(0);
    expect(twice.timings.encoderGraphs).toBe(1);
    expect(normalise(twice.windows[0]!.map((s) => s.text).join(''))).toBe(`${REF} ${REF}`);
  });

  it('retries a window that fails the compression check at every temperature, keeping the likeliest text', async () => {
    // jfk's text compresses to ~1.3: a threshold of 1 fails every try.
    const r = await decodeBatched(model, batchedRun(jfk, { compressionRatioThreshold: 1 }));
    expect(r.fallbacks).toBe(5); // 0.2, 0.4, 0.6, 0.8, 1.0
    expect(wer(JFK_TEXT, r.windows[0]!.map((s) => s.text).join(''))).toBeLessThan(0.3);
    const plain = await decodeBatched(model, batchedRun(jfk, {}));
    expect(plain.fallbacks).toBe(0);
    expect(normalise(plain.windows[0]!.map((s) => s.text).join(''))).toBe(REF);
  });

  it("decodes a window's every retry and its bestOf copies from its one encoding: the same text as encoding each, 25 encoder passes fewer", async () => {
    // Every temperature fails (threshold 1): 1 first try + 5 retries × 5 copies = 26 sequences.
    const fresh = await decodeBatched(model, { ...batchedRun(jfk, { compressionRatioThreshold: 1 }), reuseEncodings: false });
    const reused = await decodeBatched(model, batchedRun(jfk, { compressionRatioThreshold: 1 }));
    expect(reused.windows).toEqual(fresh.windows); // same seeds, bit-identical encodings
    expect(fresh.timings.encoderGraphs).toBe(26);
    expect(reused.timings.encoderGraphs).toBe(1); // the first try's; each later call finds it kept
    expect(reused.timings.encodingsReused).toBe(25);
    console.info(`jfk, every temperature failing: encoder ${fresh.timings.encoder.toFixed(2)} s → ${reused.timings.encoder.toFixed(2)} s`);
  });

  it("keeps a failing window's encoding past its slot being refilled: its retry, queued behind them, decodes from it; every window final once", async () => {
    // One slot: jfk fails (threshold 1), then the silent windows queued before its retry refill
    // its slot; its encoding must have moved to the kept caches.
    const pcm = concat(jfk, new Float32Array(jfk.length * 3));
    const windows = Array.from({ length: 4 }, (_, i) => ({ start: i * jfk.length, end: (i + 1) * jfk.length }));
    const options = { compressionRatioThreshold: 1, temperatureIncrement: 1, bestOf: 2 };
    const final: number[] = [];
    const fresh = await decodeBatched(model, { ...batchedRun(pcm, options), slots: 1, windows, reuseEncodings: false });
    const kept = await decodeBatched(model, { ...batchedRun(pcm, options), slots: 1, windows, onWindowsFinal: (first, ws) => ws.forEach((_, i) => final.push(first + i)) });
    expect(kept.windows).toEqual(fresh.windows);
    expect(kept.fallbacks).toBe(1); // jfk at 1.0; the silent windows pass
    expect(fresh.timings.encoderGraphs).toBe(4 + 2);
    expect(kept.timings.encoderGraphs).toBe(4);
    expect(final).toEqual([0, 1, 2, 3]);
  });

  it('runs the retries of a recording in the call that found them, beside its other windows: one call on the engine', async () => {
    // Four windows of jfk, each failing twice (threshold 1 up to 0.4): retries and first passes share the batches.
    const pcm = concat(jfk, jfk, jfk, jfk);
    const windows = Array.from({ length: 4 }, (_, i) => ({ start: i * jfk.length, end: (i + 1) * jfk.length }));
    let calls = 0;
    const counted = new Proxy(model, {
      get: (m, key) => {
        if (key === 'decodeBatch') return (...args: Parameters<NativeModel['decodeBatch']>) => (calls++, m.decodeBatch(...args));
        const value: unknown = Reflect.get(m, key);
        return typeof value === 'function' ? value.bind(m) : value;
      },
    });
    const options = { compressionRatioThreshold: 1, temperatureIncrement: 0.5, bestOf: 2 };
    const r = await decodeBatched(counted, { ...batchedRun(pcm, options), windows });
    expect(calls).toBe(1);
    expect(r.fallbacks).toBe(8); // each window at 0.5 and 1.0
    // Every retry decodes from a kept or copied encoding where one is left (which ones depends on
    // when each answer comes back): at most one pass a retry, not one a copy (4 + 16).
    expect(r.timings.encoderGraphs).toBeLessThanOrEqual(4 + 8);
    for (const w of r.windows) expect(wer(JFK_TEXT, w.map((s) => s.text).join(''))).toBeLessThan(0.3);
  });

  it('times every graph node when asked: the encoder\'s products and attention, the decoder\'s, with their rates', async () => {
    const plain = await decodeBatched(model, batchedRun(jfk, {}));
    expect(plain.profile).toEqual([]);
    const r = await decodeBatched(model, { ...batchedRun(jfk, {}), profile: true });
    const op = (name: string) => r.profile.find((c) => c.op === name);
    const products = r.profile.filter((c) => c.op.startsWith('encoder MUL_MAT'));
    expect(products.length).toBeGreaterThan(0);
    expect(op('encoder FLASH_ATTN_EXT')!.flop).toBeGreaterThan(0);
    expect(r.profile.some((c) => c.op.startsWith('decoder MUL_MAT'))).toBe(true);
    // Charged node by node: the nodes' seconds add up to the engine's own clock (within the hook's cost).
    const encoderNodes = r.profile.filter((c) => c.op.startsWith('encoder ')).reduce((s, c) => s + c.seconds, 0);
    expect(encoderNodes).toBeGreaterThan(0.5 * r.timings.encoder);
    expect(encoderNodes).toBeLessThanOrEqual(r.timings.encoder * 1.01);
    expect(normalise(r.windows[0]!.map((s) => s.text).join(''))).toBe(REF);
  });

  it('leaves out a window the model calls no-speech when its text is also unlikely, and keeps the speech', async () => {
    // Quiet noise: no-speech probability ~0.9. With logprobThreshold 0 every text is "unlikely",
    // so the noise window is silence; jfk (no-speech ~0.03) is not, and stays (no retries here).
    const pcm = concat(noise(16000 * 20, 3e-3), new Float32Array(16000), jfk);
    const r = await decodeBatched(model, { ...batchedRun(pcm, { logprobThreshold: 0, temperatureIncrement: 0 }), windows: [{ start: 0, end: 16000 * 20 }, { start: 16000 * 21, end: pcm.length }] });
    expect(r.windows[0]).toEqual([]);
    expect(normalise(r.windows[1]!.map((s) => s.text).join(''))).toBe(REF);
    expect(r.windows[1]![0]!.noSpeechProb).toBeLessThan(0.1);
  });

  it('stops a sequence caught in a loop (a phrase 8 times running, a sentence 4 times) instead of running it to the length limit; it counts as failing', async () => {
    // A prompt of 2,000 × "x" sends tiny.en into loops (issue 24: 2,682 decoder steps for 11 s).
    const params = { threads: 2, slots: 8, encoderWindows: 1, language: 'en', translate: false, initialPrompt: 'x'.repeat(2000), suppressBlank: true, suppressNonSpeech: false, suppressRegex: '', withoutTimestamps: true, maxTokensPerSegment: 0, reuseEncodings: true, recording: 0, profile: false };
    const requests = [0, 0.4, 0.6, 0.8, 1].flatMap((temperature) => [1, 2].map((seed) => ({ start: 0, end: jfk.length, temperature, seed, endNotBefore: 0 })));
    const out = await model.decodeBatch(jfk, requests, params);
    const looped = out.results.filter((r) => r.looped);
    expect(looped.length).toBeGreaterThan(0);
    const vocab = model.vocabulary();
    for (const r of looped) {
      const text = Array.from(r.tokens).filter((t) => t < vocab.eot);
      expect(text.length).toBeLessThan(224); // stopped before the limit
      const periodic = (p: number, times: number) => text.length >= p * times && text.slice(-p * times).every((t, i, tail) => i < p || t === tail[i - p]);
      const phrase = (from: number, to: number, times: number) => Array.from({ length: to - from + 1 }, (_, k) => k + from).some((p) => periodic(p, times));
      expect(periodic(1, 16) || phrase(2, 7, 8) || phrase(8, 48, 4), JSON.stringify(text.slice(-40))).toBe(true);
    }
    // And the policy retries it warmer, taking a sample that passes over a likelier loop beside it.
    const r = await decodeBatched(model, batchedRun(jfk, { initialPrompt: 'x'.repeat(2000), withoutTimestamps: true }));
    expect(r.fallbacks).toBeGreaterThan(0);
    expect(r.fallbacks).toBeLessThan(5);
    expect(compressionRatio(r.windows[0]!.map((seg) => seg.text).join(''))).toBeLessThan(2.4);
  });

  it('reports the slots granted, not the number of requests: a run of 2 windows after one of 6 shrank nothing', async () => {
    const params = { threads: 2, slots: 4, encoderWindows: 2, language: 'en', translate: false, initialPrompt: '', suppressBlank: true, suppressNonSpeech: false, suppressRegex: '', withoutTimestamps: true, maxTokensPerSegment: 3, reuseEncodings: true, recording: 0, profile: false };
    const request = { start: 0, end: jfk.length, temperature: 0, seed: 0, endNotBefore: 0 };
    const wide = await model.decodeBatch(jfk, Array.from({ length: 6 }, () => request), params);
    expect(wide.slots).toBe(4);
    const narrow = await model.decodeBatch(jfk, [request, request], params);
    expect(narrow.slots).toBe(4);
    // The narrow run used the first slots of the wide run's caches: the same tokens.
    expect(Array.from(narrow.results[1]!.tokens)).toEqual(Array.from(wide.results[5]!.tokens));
  });

  it('takes the follow-ups a result is answered with into the batch in flight, at the next indices; a callback that throws fails the call, not the model', async () => {
    const params = { threads: 2, slots: 2, encoderWindows: 1, language: 'en', translate: false, initialPrompt: '', suppressBlank: true, suppressNonSpeech: false, suppressRegex: '', withoutTimestamps: true, maxTokensPerSegment: 0, reuseEncodings: true, recording: 0, profile: false };
    const request = { start: 0, end: jfk.length, temperature: 0, seed: 0, endNotBefore: 0 };
    const vocab = model.vocabulary();
    const text = (r: { tokens: Int32Array }) => normalise(Buffer.concat(Array.from(r.tokens).filter((t) => t < vocab.eot).map((t) => vocab.tokens[t]!)).toString());
    const answered: number[] = [];
    const out = await model.decodeBatch(jfk, [request], params, (i, result) => {
      answered.push(i);
      if (i === 0) expect(text(result)).toBe(REF);
      return i === 0 ? [request, { ...request, temperature: 1, seed: 7 }] : i === 2 ? [{ ...request, seed: 3 }] : undefined;
    });
    expect(answered.sort()).toEqual([0, 1, 2, 3]);
    expect(out.results).toHaveLength(4);
    expect(text(out.results[1]!)).toBe(REF);
    expect(text(out.results[3]!)).toBe(REF); // greedy: the seed changes nothing
    expect(out.timings.encoderGraphs).toBe(1); // the follow-ups decode from the first one's encoding
    await expect(model.decodeBatch(jfk, [request], params, () => {
      throw new Error('a bug in the policy');
    })).rejects.toMatchObject({ code: 'TRANSCRIBE_FAILED', message: expect.stringMatching(/a bug in the policy/) });
    await expect(model.decodeBatch(jfk, [request], params, () => [{ ...request, end: jfk.length + 1 }])).rejects.toThrow(/follow-up requests\[0\] must lie inside the audio/);
    expect(text((await model.decodeBatch(jfk, [request], params)).results[0]!)).toBe(REF);
  });

  it('refuses requests longer than 30 s or outside the audio before they reach a thread', () => {
    const params = { threads: 1, slots: 1, encoderWindows: 1, language: 'en', translate: false, initialPrompt: '', suppressBlank: true, suppressNonSpeech: false, suppressRegex: '', withoutTimestamps: false, maxTokensPerSegment: 0, reuseEncodings: true, recording: 0, profile: false };
    const long = new Float32Array(16000 * 40);
    expect(() => model.decodeBatch(long, [{ start: 0, end: long.length, temperature: 0, seed: 0, endNotBefore: 0 }], params)).toThrow(/at most 30 s/);
    expect(() => model.decodeBatch(jfk, [{ start: 0, end: jfk.length + 1, temperature: 0, seed: 0, endNotBefore: 0 }], params)).toThrow(/inside the audio/);
    expect(() => model.decodeBatch(jfk, [{ start: 0, end: jfk.length, temperature: 0, seed: 0, endNotBefore: 0 }], { ...params, slots: 0 })).toThrow(/slots/);
  });
});

describe('tokens → segments', () => {
  const vocab = { tokens: ['a', 'b', ' c'].map((t) => Buffer.from(t)), eot: 3, timestampBegin: 10 };
  const ts = (seconds: number) => 10 + Math.round(seconds / 0.02);
  const scored = (tokens: number[]) => ({
    result: { tokens: Int32Array.from(tokens), logprobs: new Float32Array(tokens.length), endLogprob: -0.1, noSpeechProb: 0.1, language: 'en', languageProbability: 1, detectedLanguage: 'en', detectedProbability: 1, looped: false },
    text: '',
    avgLogprob: -0.2,
    compressionRatio: 1,
  });

  it('makes a segment of the text between each pair of timestamps', () => {
    const { segments, resumeAt } = tokensToSegments(scored([ts(0), 0, 1, ts(2), ts(2), 2, ts(29.6)]), vocab, 30);
    expect(segments.map((s) => [s.t0, s.t1, s.text])).toEqual([
      [0, 2, 'ab'],
      [2, 29.6, ' c'],
    ]);
    expect(resumeAt).toBeUndefined();
  });

  it("resumes at the last timestamp when the decoder stopped over a second short, leaving the unfinished segment to the resumed piece", () => {
    const r = tokensToSegments(scored([ts(0), 0, ts(5), ts(5), 1, 2]), vocab, 30);
    expect(r.segments.map((s) => s.text)).toEqual(['a']);
    expect(r.resumeAt).toBe(5);
    const stopped = tokensToSegments(scored([ts(0), 0, ts(5)]), vocab, 30);
    expect(stopped.resumeAt).toBe(5);
  });

  it("ends an unfinished segment with the piece on the last try, and never resumes without progress", () => {
    const last = tokensToSegments(scored([ts(0), 0, ts(5), ts(5), 1, 2]), vocab, 30, () => false);
    expect(last.segments.map((s) => [s.t0, s.t1, s.text])).toEqual([
      [0, 5, 'a'],
      [5, 30, 'b c'],
    ]);
    expect(last.resumeAt).toBeUndefined();
    expect(tokensToSegments(scored([ts(0), 0, 1]), vocab, 30).resumeAt).toBeUndefined(); // last timestamp at 0: no progress
  });

  it('measures repetition by gzip, as faster-whisper does', () => {
    expect(compressionRatio('')).toBe(0);
    expect(compressionRatio(JFK_TEXT)).toBeLessThan(1.5);
    expect(compressionRatio('the same words again and again '.repeat(20))).toBeGreaterThan(2.4);
  });
});
