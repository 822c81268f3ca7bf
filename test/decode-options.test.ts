// One table of decode defaults (lib/decode-options.ts), and an addon that holds none: what the
// table says is what whisper.cpp runs with, read back from the addon itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECODE_DEFAULTS, nativeDecodeParams, withDefaults } from '../lib/decode-options.js';
import { binding, type NativeModel } from '../lib/native/binding.js';
import { JFK_WAV, TINY_EN, have, readWav16k } from './helpers/fixtures.js';

const run = { threads: 2, maxStates: 1, sequential: false };

describe.skipIf(!have(TINY_EN, JFK_WAV))('decode options reach whisper.cpp as the table says', () => {
  let model: NativeModel;
  const pcm = readWav16k(JFK_WAV);
  const windows = [{ start: 0, end: pcm.length }];
  beforeAll(async () => {
    model = await binding().loadModel(TINY_EN, { useGpu: false, gpuDevice: 0, flashAttn: true, repackWeights: true, q8Matrices: false, int8Products: false, q8CrossCache: false, bf16CrossCache: false, bf16Attention: false, amxEncoder: false, poolSize: 1 });
  });
  afterAll(() => model?.dispose());

  it('the addon received every default of the table, field for field', async () => {
    const sent = nativeDecodeParams(DECODE_DEFAULTS, 'en', run);
    const { params } = await model.transcribeWindows(pcm, windows, sent);
    expect(Object.keys(params).sort()).toEqual(Object.keys(sent).sort());
    // Numbers come back at C++ float precision.
    for (const [key, value] of Object.entries(sent)) expect(params[key as keyof typeof params], key).toEqual(typeof value === 'number' ? Math.fround(value) : value);
  });

  it('an option changed from its default arrives changed (bestOf, temperature, suppressRegex)', async () => {
    const { params } = await model.transcribeWindows(pcm, windows, nativeDecodeParams(withDefaults({ bestOf: 2, temperature: 0.4, suppressRegex: '^\\d' }), 'en', run));
    expect(params).toMatchObject({ bestOf: 2, temperature: Math.fround(0.4), suppressRegex: '^\\d' });
    expect(withDefaults({ bestOf: undefined }).bestOf).toBe(DECODE_DEFAULTS.bestOf); // undefined keeps the default
  });

  it('the addon refuses params with a field missing instead of making a default up', async () => {
    const { bestOf: _dropped, ...partial } = nativeDecodeParams(DECODE_DEFAULTS, 'en', run);
    await expect((async () => model.transcribeWindows(pcm, windows, partial as never))()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /bestOf must be a number/ });
    await expect((async () => binding().loadModel(TINY_EN, { useGpu: false, gpuDevice: 0, poolSize: 1 } as never))()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /flashAttn must be a boolean/ });
  });
});
