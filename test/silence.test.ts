// Silence and noise never become text: long digital silence is left out before the model runs,
// and what the model says about noise ("[BLANK_AUDIO]") is dropped from the transcript.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECODE_DEFAULTS, nativeDecodeParams } from '../lib/decode-options.js';
import { binding, type NativeModel } from '../lib/native/binding.js';
import { isNonSpeechMarker, Whisper } from '../lib/whisper.js';
import { SAMPLE_RATE } from '../lib/windows.js';
import { concat, JFK_TEXT, JFK_WAV, noise, TINY_EN, have, normalise, readWav16k } from './helpers/fixtures.js';

const seconds = (s: number) => Math.round(s * SAMPLE_RATE);

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
    native = await binding().loadModel(TINY_EN, { useGpu: false, gpuDevice: 0, flashAttn: true, repackWeights: true, q8Matrices: false, int8Products: false, q8CrossCache: false, bf16CrossCache: false, bf16Attention: false, amxEncoder: false, poolSize: 1 });
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
