// Cutting PCM into windows and stitching their segments back: fixed 30 s windows at quiet places,
// long digital silence left out, overlaps said once.
import { describe, expect, it } from 'vitest';
import { audibleSpans, hasSound, keepInWindow, planFixedWindows, SAMPLE_RATE } from '../lib/windows.js';
import { concat, noise } from './helpers/fixtures.js';

const seconds = (s: number) => Math.round(s * SAMPLE_RATE);

describe('windows', () => {
  it('cuts long speech into ≤30 s windows at its longest pauses, each starting where the last ended', () => {
    const pcm = noise(seconds(100), 0.3);
    pcm.fill(0, seconds(23), seconds(23.1)); // a short pause between words
    pcm.fill(0, seconds(27), seconds(27.4)); // a sentence's end: the longest in the last 8 s
    pcm.fill(0, seconds(29), seconds(29.08));
    pcm.fill(0, seconds(55), seconds(55.3));
    const w = planFixedWindows(pcm);
    expect(w.slice(0, 2)).toEqual([
      { start: 0, end: seconds(27.2) },
      { start: seconds(27.2), end: seconds(55.15) },
    ]);
    for (const x of w) expect(x.end - x.start).toBeLessThanOrEqual(seconds(30));
    expect(w[w.length - 1]!.end).toBe(pcm.length);
  });

  it('cuts audio without pauses at its quietest 100 ms, overlapping the next window by 1 s', () => {
    const pcm = new Float32Array(seconds(100));
    for (let i = 0; i < pcm.length; i++) pcm[i] = 0.5 * Math.sin(i / 7); // a tone: never quiet
    for (let i = seconds(26); i < seconds(26.1); i++) pcm[i]! *= 0.5; // quieter, not a pause
    const w = planFixedWindows(pcm);
    expect(Math.abs(w[0]!.end - seconds(26.05))).toBeLessThan(seconds(0.06));
    for (let i = 1; i < w.length; i++) expect(w[i - 1]!.end - w[i]!.start).toBe(seconds(1));
    expect(w[w.length - 1]!.end).toBe(pcm.length);
  });

  it("hears sound at a window's end only where 100 ms or more stand above its pause level", () => {
    const pcm = noise(seconds(20), 0.3);
    pcm.fill(0, seconds(17)); // the window ends in 3 s of silence…
    pcm.fill(0.001, seconds(18), seconds(18.5)); // …with a hum 50 dB under the speech (a pause's level)…
    for (let i = seconds(19); i < seconds(19.05); i++) pcm[i] = 0.3; // …and a 50 ms click
    const window = { start: 0, end: pcm.length };
    expect(hasSound(pcm, seconds(16.5), pcm.length, window)).toBe(true); // the last half second of speech
    expect(hasSound(pcm, seconds(17), pcm.length, window)).toBe(false);
    for (let i = seconds(19.3); i < seconds(19.45); i++) pcm[i] = 0.3; // a 150 ms word
    expect(hasSound(pcm, seconds(17), pcm.length, window)).toBe(true);
    expect(hasSound(pcm, seconds(17), seconds(19.3), window)).toBe(false);
  });

  it('keeps one copy of what overlapping windows both heard', () => {
    const windows = [{ start: 0, end: 16000 * 30 }, { start: 16000 * 29, end: 16000 * 50 }];
    const a = [{ start: 1, end: 5 }, { start: 28.8, end: 29.8 }];
    const b = [{ start: 28.8, end: 29.8 }, { start: 35, end: 40 }];
    expect(windows.flatMap((_, w) => keepInWindow(windows, w, [a, b][w]!))).toEqual([{ start: 1, end: 5 }, { start: 28.8, end: 29.8 }, { start: 35, end: 40 }]);
  });
});

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

