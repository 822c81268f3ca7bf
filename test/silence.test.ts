// Silence and noise never become text: long digital silence is left out before the model runs,
// and what the model says about noise ("[BLANK_AUDIO]") is dropped from the transcript.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECODE_DEFAULTS, nativeDecodeParams } from '../lib/decode-options.js';
import { binding, type NativeModel } from '../lib/native/binding.js';
import { isNonSpeechMarker, Whisper } from '../lib/whisper.js';
import { audibleSpans, SAMPLE_RATE } from '../lib/windows.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, have, normalise, readWav16k } from './helpers/fixtures.js';

const seconds = (s: number) => Math.round(s * SAMPLE_RATE);

/** Deterministic noise at the given peak. */
function noise(n: number, peak: number): Float32Array {
  const out = new Float32Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = ((x / 2 ** 32) * 2 - 1) * peak;
  }
  return out;
}

function concat(...parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('audibleSpans', () => {
  it('leaves out digital silence of 10 s or more, keeping 0.2 s at its edges', () => {
    const speech = noise(seconds(5), 0.3);
    const pcm = concat(new Float32Array(seconds(20)), speech, new Float32Array(seconds(15)), speech, new Float32Array(seconds(3)), speech, new Float32Array(seconds(12)));
    expect(audibleSpans(pcm).map((s) => [s.start / SAMPLE_RATE, s.end / SAMPLE_RATE])).toEqual([
      [19.8, 25.2],
      [39.8, 53.2], // the 3 s pause stays inside the span
    ]);
  });

  it('keeps dithered quiet (-70 dBFS) and short files whole, and finds nothing in pure silence', () => {
    expect(audibleSpans(noise(seconds(60), 3e-4))).toEqual([{ start: 0, end: seconds(60) }]);
    expect(audibleSpans(new Float32Array(seconds(5)))).toEqual([{ start: 0, end: seconds(5) }]);
    expect(audibleSpans(new Float32Array(seconds(3600)))).toEqual([]);
  });
});

describe('isNonSpeechMarker', () => {
  it.each([' [BLANK_AUDIO]', '[Music]', ' (wind blowing)', '♪ ♪', '*applause*', ' [ Silence ] ', '(music) [BLANK_AUDIO].'])('%j is a marker', (t) => {
    expect(isNonSpeechMarker(t)).toBe(true);
  });
  it.each([' And so my fellow Americans', ' [laughs] that was funny', ' I paid $5 (five dollars)', ' ok'])('%j is speech', (t) => {
    expect(isNonSpeechMarker(t)).toBe(false);
  });
});

describe.skipIf(!have(TINY_EN, JFK_WAV))('silence and noise through the model', () => {
  let whisper: Whisper;
  let native: NativeModel;
  beforeAll(async () => {
    whisper = await Whisper.load(TINY_EN, { batchSize: 2 });
    native = await binding().loadModel(TINY_EN, { useGpu: false, gpuDevice: 0, flashAttn: true, poolSize: 1 });
  });
  afterAll(() => {
    whisper?.dispose();
    native?.dispose();
  });

  it('the model itself answers noise with "[BLANK_AUDIO]" (what the filter is for)', async () => {
    const pcm = noise(seconds(30), 0.003);
    const raw = await native.transcribeWindows(pcm, [{ start: 0, end: pcm.length }], nativeDecodeParams(DECODE_DEFAULTS, 'en', { threads: 2, maxStates: 1, sequential: false }), undefined, new Int32Array(1));
    expect(raw.windows[0]!.map((s) => s.text.trim())).toContain('[BLANK_AUDIO]');
  });

  it.each([1, 2])('batch %i: noise gives no segments; speech after an hour of silence keeps its text and its time', async (batchSize) => {
    expect((await whisper.transcribe(noise(seconds(45), 0.003), { batchSize })).segments).toEqual([]);
    const jfk = readWav16k(JFK_WAV);
    const t = await whisper.transcribe(concat(new Float32Array(seconds(3600)), jfk, new Float32Array(seconds(600))), { batchSize });
    expect(normalise(t.text)).toBe(normalise(JFK_TEXT));
    expect(t.segments[0]!.start).toBeGreaterThanOrEqual(3599.5);
    expect(t.duration).toBe(4211);
  });
});
