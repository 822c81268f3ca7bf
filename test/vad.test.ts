import { describe, expect, it } from 'vitest';
import { detectSpeech } from '../lib/vad.js';
import { windowsFromSpeech } from '../lib/windows.js';
import { JFK_WAV, SILERO, have, readWav16k } from './helpers/fixtures.js';

describe.skipIf(!have(SILERO, JFK_WAV))('Silero VAD', () => {
  it('finds the 4 speech regions of jfk.wav (as whisper.cpp own VAD test does)', async () => {
    const regions = await detectSpeech(readWav16k(JFK_WAV), { model: SILERO });
    expect(regions).toHaveLength(4);
    for (const r of regions) {
      expect(r.end).toBeGreaterThan(r.start);
      expect(r.end).toBeLessThanOrEqual(11.1);
    }
    // merged into one window: all of jfk fits in 30 s
    expect(windowsFromSpeech(regions, 176000)).toHaveLength(1);
  });

  it('gives a typed error for a missing VAD model', async () => {
    await expect(detectSpeech(readWav16k(JFK_WAV), { model: '/nonexistent/silero.bin' })).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
  });
});
