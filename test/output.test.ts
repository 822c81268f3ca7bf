// Output writers on a fixed segment list: golden text, and srt/vtt parsed back.
import { describe, expect, it } from 'vitest';
import { compressionRatio } from '../lib/batched.js';
import { formatTranscript, toSrt, toVtt } from '../lib/output/formats.js';
import { formatTimestamp } from '../lib/output/timestamps.js';
import { balancedLines, CUE_DEFAULTS, segmentCues } from '../lib/output/cues.js';
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

  it('lays a cue out on even lines', () => {
    const words = 'And so my fellow Americans, ask not what your country can do for you,'.split(' ');
    expect(balancedLines(words, 42).map((l) => l.join(' '))).toEqual(['And so my fellow Americans, ask not', 'what your country can do for you,']);
    expect(balancedLines(['a', 'word-longer-than-the-line', 'b'], 10).map((l) => l.join(' '))).toEqual(['a', 'word-longer-than-the-line', 'b']);
  });

  it('writes the golden srt: a segment over 7 s in two cues cut after its clause, times shared by length', () => {
    expect(toSrt(transcript)).toBe(
      '1\n00:00:00,000 --> 00:00:02,998\nAnd so my fellow Americans,\n\n' +
        '2\n00:00:02,998 --> 00:00:07,300\nask not what your country can do for you,\n\n' +
        '3\n01:01:01,250 --> 01:01:05,005\nask what you can do for your country.\n',
    );
  });

  it('round-trips srt and vtt cues', () => {
    for (const [text, sep] of [[toSrt(transcript), ','], [toVtt(transcript), '.']] as const) {
      const cues = parseCues(text, sep);
      expect(cues).toHaveLength(3);
      expect(cues[2]).toEqual({ start: 3661.25, end: 3665.005, text: 'ask what you can do for your country.' });
      expect(`${cues[0]!.text} ${cues[1]!.text}`.replace(/\n/g, ' ')).toBe(transcript.segments[0]!.text.trim());
    }
    expect(toVtt(transcript).startsWith('WEBVTT\n\n')).toBe(true);
  });

  // Ten minutes of segments, each 20-30 s of 60-90 words, a pause in some, no word times: every
  // cue within the limits, every word kept in order, cues in time order.
  const talk = (): Transcript => {
    const vocabulary = 'the of and to in that it is was for on are with as they be at one have this from or had by word but what some we can out other were all there when up use your how said an each she which do their time if will way about many then them would write like so these her long make thing see him two has look more day could go come did number sound no most people my over know water than call first who may down side been now find any new work part take get place made live where after back little only round man year came show every good me give our under name very through just form sentence great think say help low line differ turn cause much mean before move right boy old too same tell does set three want air well also play small end put home read hand port large spell add even land here must big high such follow act why ask men change went light kind off need house picture try us again animal point mother world near build self earth father'.split(' ');
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const segments = [];
    for (let t = 0, id = 0; t < 600; id++) {
      const length = 20 + rand() * 10;
      const n = 60 + Math.floor(rand() * 30);
      const words: string[] = [];
      for (let k = 0; k < n; k++) words.push(vocabulary[Math.floor(rand() * vocabulary.length)]! + (rand() < 0.08 ? ',' : rand() < 0.06 ? '.' : ''));
      segments.push({ id, start: t, end: t + length, text: ` ${words.join(' ')}`, avgLogprob: -0.3, noSpeechProb: 0.01 });
      t += length + (rand() < 0.3 ? 1.5 : 0);
    }
    return { ...transcript, segments, text: segments.map((s) => s.text).join('') };
  };
  for (const o of [{}, { maxLineWidth: 32, maxLineCount: 1, maxCueSeconds: 4 }, { maxLineWidth: 60, maxLineCount: 3, maxCueSeconds: 10 }]) {
    it(`keeps every cue within ${JSON.stringify(o)} and every word in order`, () => {
      const limits = { ...CUE_DEFAULTS, ...o };
      const t = talk();
      const cues = parseCues(toSrt(t, o), ',');
      expect(cues.length).toBeGreaterThan(t.segments.length * 2);
      let previousEnd = 0;
      for (const c of cues) {
        const lines = c.text.split('\n');
        expect(lines.length).toBeLessThanOrEqual(limits.maxLineCount);
        for (const line of lines) expect(line.length).toBeLessThanOrEqual(limits.maxLineWidth);
        expect(c.end - c.start).toBeLessThanOrEqual(limits.maxCueSeconds + 0.001);
        expect(c.start).toBeGreaterThanOrEqual(previousEnd - 0.001);
        previousEnd = c.end;
      }
      expect(cues.map((c) => c.text.replace(/\n/g, ' ')).join(' ')).toBe(t.text.trim());
      // As even as the limits allow: no cue of one or two words where its neighbour has room.
      const short = cues.filter((c) => c.text.split(/\s+/).length <= 2).length;
      expect(short / cues.length).toBeLessThan(0.05);
    });
  }

  it('ends a cue at a pause, uses word times when the segment has them, and highlights each word said', () => {
    const w = (word: string, start: number, end: number) => ({ word, start, end, probability: 0.9 });
    const words = [w(' Ask', 1, 1.3), w(' not', 1.3, 1.6), w(' what', 1.6, 1.9), w(' your', 3, 3.2), w(' country', 3.2, 3.8)];
    const segment = { id: 0, start: 0.5, end: 4, text: ' Ask not what your country', avgLogprob: -0.1, noSpeechProb: 0, words };
    expect(segmentCues(segment)).toEqual([{ start: 1, end: 1.9, text: 'Ask not what' }, { start: 3, end: 3.8, text: 'your country' }]);
    const marked = segmentCues(segment, { highlightWords: true });
    expect(marked.map((c) => c.text)).toEqual(['<u>Ask</u> not what', 'Ask <u>not</u> what', 'Ask not <u>what</u>', '<u>your</u> country', 'your <u>country</u>']);
    expect(marked.map((c) => [c.start, c.end])).toEqual([[1, 1.3], [1.3, 1.6], [1.6, 1.9], [3, 3.2], [3.2, 3.8]]);
    // A highlighted cue keeps its plain layout: the mark moves, the lines do not.
    const long = segmentCues({ ...segment, words: undefined, text: ' And so my fellow Americans ask not what your country can do', end: 6 }, { highlightWords: true, maxLineWidth: 30 });
    for (const c of long) expect(c.text.replace(/<\/?u>/g, '').split('\n').map((l) => l.length)).toEqual(long[0]!.text.replace(/<\/?u>/g, '').split('\n').map((l) => l.length));
  });

  it('cuts unspaced text (Chinese, Japanese) into lines of the width', () => {
    const text = '我们的国家需要我们每一个人的努力而不是等待别人为我们做什么这是我们共同的责任也是我们的光荣';
    const cues = segmentCues({ id: 0, start: 0, end: 6, text, avgLogprob: -0.1, noSpeechProb: 0 }, { maxLineWidth: 16 });
    for (const c of cues) for (const line of c.text.split('\n')) expect(line.length).toBeLessThanOrEqual(16);
    expect(cues.map((c) => c.text.replace(/\s/g, '')).join('')).toBe(text);
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
