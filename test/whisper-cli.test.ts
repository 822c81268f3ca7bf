// Acceptance of the imported weights: whisper.cpp's own whisper-cli, built from the same source
// and libraries (node scripts/build-native.mjs --whisper-cli), gives the same segments as our
// addon on the same file with the same decoding (greedy).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { Whisper } from '../lib/whisper.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, have, normalise, readWav16k } from './helpers/fixtures.js';

const cli = join(packageRoot, 'build', 'whisper-cli');

describe.skipIf(!have(cli, TINY_EN, JFK_WAV))('whisper-cli on the imported tiny.en', () => {
  it('gives the reference transcript, segment for segment the same as the addon', async () => {
    const r = spawnSync(cli, ['-m', TINY_EN, '-f', JFK_WAV, '-bs', '1', '-l', 'en', '-np'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const theirs = r.stdout
      .split('\n')
      .map((l) => /^\[(\d\d):(\d\d):(\d\d\.\d{3}) --> (\d\d):(\d\d):(\d\d\.\d{3})\]\s+(.*)$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => ({ start: +m[1]! * 3600 + +m[2]! * 60 + +m[3]!, end: +m[4]! * 3600 + +m[5]! * 60 + +m[6]!, text: m[7]!.trim() }));
    expect(normalise(theirs.map((s) => s.text).join(' '))).toBe(normalise(JFK_TEXT));

    const whisper = await Whisper.load(TINY_EN, { batchSize: 1 });
    try {
      const ours = (await whisper.transcribe(readWav16k(JFK_WAV), { language: 'en' })).segments;
      expect(ours.map((s) => s.text.trim())).toEqual(theirs.map((s) => s.text));
      ours.forEach((s, i) => {
        expect(s.start).toBeCloseTo(theirs[i]!.start, 1);
        expect(s.end).toBeCloseTo(theirs[i]!.end, 1);
      });
    } finally {
      whisper.dispose();
    }
  });
});
