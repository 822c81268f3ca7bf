// Real weights (tiny.en imported from CTranslate2) on real speech.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudio } from '../lib/audio/source.js';
import { Whisper } from '../lib/api.js';
import { binding } from '../lib/native/binding.js';
import { JFK_MP3, JFK_TEXT, JFK_WAV, SILERO, TINY_EN, have, normalise, readWav16k, repeatWithSilence } from './helpers/fixtures.js';

const ready = have(TINY_EN, JFK_WAV);
const REF = normalise(JFK_TEXT);

describe.skipIf(!ready)('tiny.en on jfk.wav', () => {
  let whisper: Whisper;
  let jfk: Float32Array;
  beforeAll(async () => {
    whisper = await Whisper.load(TINY_EN, { gpu: false, batchSize: 2, threads: 2 });
    jfk = readWav16k(JFK_WAV);
  });
  afterAll(() => whisper?.dispose());

  it('gives the reference transcript in parallel mode', async () => {
    const t = await whisper.transcribe(jfk);
    expect(normalise(t.text)).toBe(REF);
    expect(t.language).toBe('en');
  });

  it('gives the reference transcript in sequential mode', async () => {
    const t = await whisper.transcribe(jfk, { batchSize: 1 });
    expect(normalise(t.text)).toBe(REF);
  });

  it("gives each segment its text tokens' ids, on the batched engine and on whisper.cpp's decoder", async () => {
    const native = await binding().loadModel(TINY_EN, { useGpu: false, gpuDevice: 0, flashAttn: false, repackWeights: false, q8Matrices: false, int8Products: false, q8CrossCache: false, bf16CrossCache: false, bf16Attention: false, amxEncoder: false, poolSize: 1 });
    try {
      const vocab = native.vocabulary();
      for (const t of [await whisper.transcribe(jfk), await whisper.transcribe(jfk, { conditionOnPreviousText: true })]) {
        for (const s of t.segments) {
          expect(s.tokens!.length).toBeGreaterThan(0);
          expect(s.tokens!.every((id) => Number.isInteger(id) && id >= 0 && id < vocab.eot)).toBe(true);
          expect(Buffer.concat(s.tokens!.map((id) => vocab.tokens[id]!)).toString('utf8')).toBe(s.text);
        }
      }
    } finally {
      native.dispose();
    }
  });

  it('caps the decoded tokens of a window (the GPU benchmark forces a fixed token count with it)', async () => {
    const t = await whisper.transcribe(jfk, { batchSize: 1, maxTokensPerSegment: 4, wordTimestamps: true });
    const words = t.segments.flatMap((s) => s.words ?? []);
    expect(words.length).toBeGreaterThan(0);
    expect(words.length).toBeLessThanOrEqual(4);
    expect(REF.startsWith(normalise(t.text))).toBe(true);
  });

  it('decodes text tokens only with withoutTimestamps: one segment per window, N + 1 tokens at maxTokensPerSegment N', async () => {
    // The GPU benchmark's setting: one encoder pass per 30 s window and a fixed token count.
    const t = await whisper.transcribe(jfk, { withoutTimestamps: true, maxTokensPerSegment: 4, wordTimestamps: true });
    expect(t.segments).toHaveLength(1);
    expect(t.segments[0]).toMatchObject({ start: 0, end: 11 });
    expect(normalise(t.text)).toBe('and so my fellow americans');
    const long = await whisper.transcribe(repeatWithSilence(jfk, 3, 2.5), { withoutTimestamps: true });
    expect(long.segments.length).toBe(long.windows);
    for (const s of long.segments) expect(s.start).toBeGreaterThanOrEqual(0);
  });

  it('stitches long audio: every repetition once, in order, with rising timestamps', async () => {
    const pcm = repeatWithSilence(jfk, 6, 2.5); // ~81 s, cut into several 30 s windows
    const t = await whisper.transcribe(pcm);
    expect(t.windows).toBeGreaterThanOrEqual(3);
    const text = normalise(t.text);
    expect(text.split('ask not what your country').length - 1).toBe(6);
    expect(text.split('fellow americans').length - 1).toBe(6);
    for (let i = 1; i < t.segments.length; i++) expect(t.segments[i]!.start).toBeGreaterThanOrEqual(t.segments[i - 1]!.start);
  });

  it('gives word timestamps that lie inside their segments', async () => {
    const t = await whisper.transcribe(jfk, { wordTimestamps: true });
    const words = t.segments.flatMap((s) => s.words ?? []);
    expect(normalise(words.map((w) => w.word).join(''))).toBe(REF);
    for (const s of t.segments) for (const w of s.words ?? []) {
      expect(w.start).toBeGreaterThanOrEqual(s.start - 0.01);
      expect(w.end).toBeLessThanOrEqual(s.end + 0.01);
      expect(w.probability).toBeGreaterThan(0);
    }
  });

  it.skipIf(!have(JFK_MP3))('decodes the mp3 with ffmpeg and gives the same text', async () => {
    const audio = await loadAudio(JFK_MP3);
    expect(audio.decoder).toBe('ffmpeg');
    expect(audio.codec).toBe('mp3');
    const t = await whisper.transcribe(audio.pcm);
    expect(normalise(t.text)).toBe(REF);
  });

  it.skipIf(!have(JFK_MP3))('takes a path or a Buffer as well as PCM: `await whisper.transcribe(input)`', async () => {
    expect(normalise((await whisper.transcribe(JFK_MP3)).text)).toBe(REF);
    expect(normalise((await whisper.transcribe(readFileSync(JFK_MP3))).text)).toBe(REF);
    await expect(whisper.transcribe(Buffer.from('not audio at all'))).rejects.toMatchObject({ code: 'UNSUPPORTED_FORMAT' });
  });

  it.skipIf(!have(SILERO))('windows by speech regions with the Silero VAD', async () => {
    const t = await whisper.transcribe(repeatWithSilence(jfk, 2, 8), { vad: { model: SILERO } });
    expect(normalise(t.text).split('ask not what your country').length - 1).toBe(2);
  });
});
