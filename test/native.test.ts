// The native core on whisper.cpp's test models: real hyper-parameters and full compute, no
// weights (so the text is meaningless, but shapes, timing, progress, abort and errors are real).
import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelLoadError, WhisperServeError } from '../lib/errors.js';
import { readGgmlModel } from '../lib/models/ggml-format.js';
import { writeGgmlModel } from '../lib/models/ggml-writer.js';
import { Whisper } from '../lib/api.js';
import { JFK_WAV, TEST_MODEL, have, readWav16k, repeatWithSilence } from './helpers/fixtures.js';

const ready = have(TEST_MODEL('tiny.en'), JFK_WAV);
// The test model has no weights: every window "fails" whisper's checks, and retrying it 5 times
// at 5 temperatures tests nothing here but patience (fallback is tested on real weights).
const once = { temperatureIncrement: 0 };

describe.skipIf(!ready)('native core on the test model', () => {
  let whisper: Whisper;
  let jfk: Float32Array;
  beforeAll(async () => {
    whisper = await Whisper.load(TEST_MODEL('tiny.en'), { gpu: false, batchSize: 2, threads: 2 });
    jfk = readWav16k(JFK_WAV);
  });
  afterAll(() => whisper?.dispose());

  it('reports the model and loads a pool of the requested size', () => {
    const info = whisper.info();
    expect(info).toMatchObject({ nMels: 80, nAudioLayer: 4, nTextLayer: 4, nVocab: 51864, multilingual: false, poolSize: 2 });
  });

  it('returns segments with monotonic timestamps inside the audio, and monotonic progress to 1', async () => {
    const pcm = repeatWithSilence(jfk, 4, 3); // ~56 s: several windows
    const fractions: number[] = [];
    const t = await whisper.transcribe(pcm, { ...once, onProgress: (p) => fractions.push(p.fraction) });
    expect(t.windows).toBeGreaterThanOrEqual(2);
    expect(t.duration).toBeCloseTo(pcm.length / 16000, 3);
    for (const [i, s] of t.segments.entries()) {
      expect(s.id).toBe(i);
      expect(s.start).toBeGreaterThanOrEqual(0);
      expect(s.end).toBeGreaterThanOrEqual(s.start);
      expect(s.end).toBeLessThanOrEqual(t.duration + 1e-6);
      if (i > 0) expect(s.start).toBeGreaterThanOrEqual(t.segments[i - 1]!.start);
    }
    expect(fractions.length).toBeGreaterThan(0);
    for (let i = 1; i < fractions.length; i++) expect(fractions[i]).toBeGreaterThanOrEqual(fractions[i - 1]!);
    expect(fractions[fractions.length - 1]).toBeCloseTo(1, 6);
  });

  it('aborts mid-run with an AbortError, then serves the next call', async () => {
    const pcm = repeatWithSilence(jfk, 8, 3); // ~2 min: several windows
    const ctl = new AbortController();
    const run = whisper.transcribe(pcm, {
      ...once,
      signal: ctl.signal,
      onProgress: (p) => {
        if (p.fraction > 0) ctl.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError', code: 'ABORTED' });
    const next = await whisper.transcribe(jfk, once);
    expect(next.duration).toBeCloseTo(11, 0);
  });

  it('rejects at once when the signal is already aborted', async () => {
    await expect(whisper.transcribe(jfk, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('finishes two concurrent calls on one model', async () => {
    const [a, b] = await Promise.all([whisper.transcribe(jfk, once), whisper.transcribe(repeatWithSilence(jfk, 3, 2), once)]);
    expect(a.duration).toBeCloseTo(11, 0);
    expect(b.windows).toBeGreaterThanOrEqual(2);
  });

  it('refuses a bad suppressRegex before it reaches a worker thread (where it would end the process)', async () => {
    await expect(whisper.transcribe(jfk, { suppressRegex: '([' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /suppressRegex/ });
    expect((await whisper.transcribe(jfk, { ...once, batchSize: 1 })).duration).toBeCloseTo(11, 1);
  });

  it('gives typed errors for empty and NaN audio', async () => {
    await expect(whisper.transcribe(new Float32Array(0))).rejects.toMatchObject({ code: 'EMPTY_AUDIO' });
    const bad = jfk.slice();
    bad[1000] = NaN;
    await expect(whisper.transcribe(bad)).rejects.toMatchObject({ code: 'CORRUPT_AUDIO' });
    await expect(whisper.transcribe(jfk, { language: 'de' })).rejects.toMatchObject({ code: 'MODEL_ENGLISH_ONLY' });
    await expect(whisper.transcribe(jfk, { language: 'xx' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe.skipIf(!ready)('model loading errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ws-model-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a missing file with MODEL_NOT_FOUND', async () => {
    await expect(Whisper.load(join(dir, 'nope.bin'))).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    await expect(Whisper.load('no-such-model')).rejects.toThrow(/known: .*tiny\.en/);
  });

  it('refuses a non-ggml file with ModelLoadError', async () => {
    const p = join(dir, 'text.bin');
    writeFileSync(p, 'this is not a model\n'.repeat(100));
    const err = await Whisper.load(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as WhisperServeError).message).toMatch(/bad magic/);
  });

  it('refuses a truncated model with ModelLoadError, and the process lives on', async () => {
    const p = join(dir, 'cut.bin');
    copyFileSync(TEST_MODEL('tiny.en'), p);
    truncateSync(p, Math.floor(readFileSync(p).length / 2));
    await expect(Whisper.load(p)).rejects.toBeInstanceOf(ModelLoadError);
  });

  it('turns a C++ exception inside whisper.cpp into TRANSCRIBE_FAILED, and the process lives on', async () => {
    // A vocabulary without the " " token: whisper.cpp's blank suppression looks it up with map::at
    // (its own decoder: the one conditioning on previous text).
    const ref = readGgmlModel(TEST_MODEL('tiny.en'), { headerOnly: true });
    const vocab = ref.vocab.map((t) => (t.equals(Buffer.from(' ')) ? Buffer.from('<not a space>') : t));
    const out = join(dir, 'no-space-vocab.bin');
    const { ftype: _ftype, ...hparams } = ref.hparams;
    writeGgmlModel({ hparams, mel: ref.mel, vocab, tensor: (t) => ({ dtype: 'f16', shape: t.shape, data: new Uint16Array(t.shape.reduce((a, b) => a * b, 1)) }) }, out);
    const broken = await Whisper.load(out, { gpu: false, batchSize: 1 });
    try {
      await expect(broken.transcribe(readWav16k(JFK_WAV), { conditionOnPreviousText: true })).rejects.toMatchObject({ code: 'TRANSCRIBE_FAILED', message: /whisper\.cpp failed on window 0: map::at/ });
    } finally {
      broken.dispose();
    }
  });

  it('rejects a running call with MODEL_DISPOSED when the model is disposed under it', async () => {
    const w = await Whisper.load(TEST_MODEL('tiny.en'), { gpu: false, batchSize: 1 });
    const run = w.transcribe(repeatWithSilence(readWav16k(JFK_WAV), 6, 3), once);
    setTimeout(() => w.dispose(), 200);
    await expect(run).rejects.toMatchObject({ code: 'MODEL_DISPOSED' });
    expect(w.disposed).toBe(true);
    await expect(w.transcribe(readWav16k(JFK_WAV))).rejects.toMatchObject({ code: 'MODEL_DISPOSED' });
  });
});
