// Output writers on a fixed segment list: golden text, and srt/vtt parsed back.
import { describe, expect, it } from 'vitest';
import { compressionRatio } from '../lib/batched.js';
import { formatTranscript, toSrt, toVtt } from '../lib/output/formats.js';
import { formatTimestamp, wrap } from '../lib/output/timestamps.js';
import type { Transcript } from '../lib/whisper.js';

const transcript: Transcript = {
  text: 'And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.',
  language: 'en',
  languageProbability: 1,
  duration: 3725.5,
  windows: 1,
  timings: { transcribeSeconds: 2, realtimeFactor: 5.5 },
  segments: [
    { id: 0, start: 0, end: 7.3, text: ' And so my fellow Americans, ask not what your country can do for you,', avgLogprob: -0.2, noSpeechProb: 0.01 },
    { id: 1, start: 3661.25, end: 3665.0049, text: ' ask what you can do for your country.', avgLogprob: -0.1, noSpeechProb: 0.02,
      words: [{ word: ' ask', start: 3661.25, end: 3661.5, probability: 0.9 }, { word: ' what', start: 3661.5, end: 3662, probability: 0.8 }] },
  ],
};

function parseCues(text: string, sep: ',' | '.') {
  const re = new RegExp(`(\\d\\d):(\\d\\d):(\\d\\d)\\${sep}(\\d{3}) --> (\\d\\d):(\\d\\d):(\\d\\d)\\${sep}(\\d{3})\\n([\\s\\S]*?)(?:\\n\\n|\\n?$)`, 'g');
  const toS = (h: string, m: string, s: string, ms: string) => +h * 3600 + +m * 60 + +s + +ms / 1000;
  return [...text.matchAll(re)].map((m) => ({ start: toS(m[1]!, m[2]!, m[3]!, m[4]!), end: toS(m[5]!, m[6]!, m[7]!, m[8]!), text: m[9]!.trim() }));
}

describe('output formats', () => {
  it('formats timestamps', () => {
    expect(formatTimestamp(3661.25, ',')).toBe('01:01:01,250');
    expect(formatTimestamp(0.0004, '.')).toBe('00:00:00.000');
    expect(formatTimestamp(3665.0049, '.')).toBe('01:01:05.005');
  });

  it('wraps caption lines at the width', () => {
    expect(wrap('And so my fellow Americans, ask not what your country can do for you,', 42)).toBe(
      'And so my fellow Americans, ask not what\nyour country can do for you,',
    );
  });

  it('writes the golden srt', () => {
    expect(toSrt(transcript)).toBe(
      '1\n00:00:00,000 --> 00:00:07,300\nAnd so my fellow Americans, ask not what\nyour country can do for you,\n\n' +
        '2\n01:01:01,250 --> 01:01:05,005\nask what you can do for your country.\n',
    );
  });

  it('round-trips srt and vtt cues', () => {
    for (const [text, sep] of [[toSrt(transcript), ','], [toVtt(transcript), '.']] as const) {
      const cues = parseCues(text, sep);
      expect(cues).toHaveLength(2);
      expect(cues[1]).toEqual({ start: 3661.25, end: 3665.005, text: 'ask what you can do for your country.' });
      expect(cues[0]!.text.replace(/\n/g, ' ')).toBe(transcript.segments[0]!.text.trim());
    }
    expect(toVtt(transcript).startsWith('WEBVTT\n\n')).toBe(true);
  });

  it('writes word-level cues when asked, and a segment without word timings whole (its text is not dropped)', () => {
    const cues = parseCues(toVtt(transcript, { wordLevel: true }), '.');
    expect(cues.map((c) => c.text.replace(/\n/g, ' '))).toEqual([transcript.segments[0]!.text.trim(), 'ask', 'what']);
  });

  it('writes txt, json and verbose_json', () => {
    expect(formatTranscript(transcript, 'txt')).toBe(
      'And so my fellow Americans, ask not what your country can do for you,\nask what you can do for your country.\n',
    );
    const json = JSON.parse(formatTranscript(transcript, 'json', { model: 'tiny.en', timings: { load: 0.5 } }));
    expect(json).toMatchObject({ language: 'en', duration: 3725.5, model: 'tiny.en', timings: { load: 0.5, transcribe: 2, realtime_factor: 5.5 } });
    expect(json.segments[1]).toMatchObject({ id: 1, start: 3661.25, end: 3665.005, avg_logprob: -0.1, words: [{ word: ' ask' }, { word: ' what' }] });
    const verbose = JSON.parse(formatTranscript(transcript, 'verbose_json'));
    expect(verbose).toMatchObject({ task: 'transcribe', language: 'english', text: transcript.text });
    expect(verbose.words).toEqual([{ word: 'ask', start: 3661.25, end: 3661.5 }, { word: 'what', start: 3661.5, end: 3662 }]);
    // The text's own compression ratio, not a placeholder 0 (a loop would show here as > 2.4).
    for (const [i, seg] of (verbose.segments as Array<{ compression_ratio: number; text: string }>).entries()) {
      expect(seg.compression_ratio).toBeGreaterThan(0);
      expect(seg.compression_ratio).toBeCloseTo(compressionRatio(transcript.segments[i]!.text), 2);
    }
    const loop = { ...transcript, segments: [{ ...transcript.segments[0]!, text: ' the the the the the the the the the the the the the the the the the the' }] };
    expect(JSON.parse(formatTranscript(loop, 'verbose_json')).segments[0].compression_ratio).toBeGreaterThan(2.4);
  });
});
