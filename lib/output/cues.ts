/**
 * Subtitle cues people can read: a segment (up to 30 s of speech, often 100+ characters) split
 * into cues of at most `maxLineCount` lines of `maxLineWidth` characters, at most `maxCueSeconds`
 * long, as few and as even as that allows, broken where speech breaks: at a pause, after a
 * sentence, after a clause. Word times drive the splits when the transcript has them; otherwise they are estimated
 * from the segment's times in proportion to each word's length (cheap, and good enough to keep a
 * cue on screen while its words are said). `highlightWords` is openai-whisper's: one cue per
 * word with that word underlined, the cue's other words around it.
 */
import type { NumberRange } from '../decode-options.js';
import type { Segment } from '../whisper.js';

export interface CueOptions {
  /** Characters a line (42: the usual broadcast limit). */
  maxLineWidth?: number;
  /** Lines a cue (2). */
  maxLineCount?: number;
  /** Seconds a cue stays on screen at most (7). */
  maxCueSeconds?: number;
  /** A cue per word, the word said underlined (needs word timestamps; estimated otherwise). */
  highlightWords?: boolean;
}

/** Subtitle conventions: two lines of 42 characters, seven seconds. */
export const CUE_DEFAULTS = { maxLineWidth: 42, maxLineCount: 2, maxCueSeconds: 7 } as const;

/** What the CLI, the OpenAI route and the RunPod schema take. */
export const CUE_RANGES = {
  maxLineWidth: { min: 10, max: 200, int: true },
  maxLineCount: { min: 1, max: 10, int: true },
  maxCueSeconds: { min: 1, max: 60 },
} as const satisfies Record<keyof typeof CUE_DEFAULTS, NumberRange>;

export interface Cue {
  start: number;
  end: number;
  /** Lines joined with '\n'. */
  text: string;
}

interface TimedWord {
  text: string;
  start: number;
  end: number;
}

/** A pause this long between two words ends a cue (the screen clears while nothing is said). */
const PAUSE_SECONDS = 0.6;
const SENTENCE_END = /[.?!…。？！]["'”’)\]]*$/;
const CLAUSE_END = /[,;:、，；：]["'”’)\]]*$/;

/** Cuts an unspaced run (Chinese, Japanese, a URL) longer than a line into line-sized pieces. */
function pieces(word: string, width: number): string[] {
  if (word.length <= width) return [word];
  const out: string[] = [];
  for (let i = 0; i < word.length; i += width) out.push(word.slice(i, i + width));
  return out;
}

/** The segment's words with times: its own word timestamps, else spread over the segment by length. */
export function timedWords(s: Segment, width: number = CUE_DEFAULTS.maxLineWidth): TimedWord[] {
  // The words' own times when they spell the segment's text (always, from the decoder; a
  // hand-made transcript may carry a few words only).
  const squeeze = (t: string) => t.replace(/\s+/g, '');
  if (s.words?.length && squeeze(s.words.map((w) => w.word).join('')) === squeeze(s.text)) {
    return s.words.map((w) => ({ text: w.word.trim(), start: w.start, end: w.end })).filter((w) => w.text);
  }
  const texts = s.text.trim().split(/\s+/).filter(Boolean).flatMap((w) => pieces(w, width));
  const chars = texts.reduce((n, w) => n + w.length, 0);
  const span = Math.max(s.end - s.start, 0);
  let at = s.start;
  return texts.map((text) => {
    const start = at;
    at += chars ? (span * text.length) / chars : 0;
    return { text, start, end: at };
  });
}

/** Greedy wrap of words into lines of at most `width` characters (a longer word alone on its line). */
function greedyLines(words: string[], width: number): string[][] {
  const lines: string[][] = [];
  let line: string[] = [];
  let length = 0;
  for (const w of words) {
    if (line.length && length + 1 + w.length > width) {
      lines.push(line);
      line = [];
    }
    length = line.length ? length + 1 + w.length : w.length;
    line.push(w);
  }
  if (line.length) lines.push(line);
  return lines;
}

/** Lines as even as the words allow: the narrowest width that needs no more lines than `width` does. */
export function balancedLines(words: string[], width: number): string[][] {
  const lines = greedyLines(words, width);
  if (lines.length < 2) return lines;
  let lo = Math.max(...words.map((w) => w.length));
  let hi = width;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (greedyLines(words, mid).length <= lines.length) hi = mid;
    else lo = mid + 1;
  }
  return greedyLines(words, lo);
}

/** Characters of words laid out on one line. */
const chars = (ws: TimedWord[]) => ws.reduce((n, w) => n + w.text.length + 1, -1);

/**
 * A phrase (words between pauses) cut into the fewest cues that fit, as even as they can be,
 * preferring cuts after a sentence, then after a clause: a shortest path over the cut points
 * (each cue costs far more than any unevenness, so fewer cues always win).
 */
function splitPhrase(words: TimedWord[], fits: (ws: TimedWord[]) => boolean, capacity: number): TimedWord[][] {
  const n = words.length;
  const best = new Array<number>(n + 1).fill(Infinity);
  const from = new Array<number>(n + 1).fill(0);
  best[0] = 0;
  for (let i = 0; i < n; i++) {
    if (best[i] === Infinity) continue;
    for (let j = i + 1; j <= n; j++) {
      const piece = words.slice(i, j);
      if (j > i + 1 && !fits(piece)) break; // a word too long for a cue still gets one
      const slack = Math.max(0, capacity - chars(piece)) / capacity;
      const last = words[j - 1]!.text;
      const bonus = j === n ? 0 : SENTENCE_END.test(last) ? 0.3 : CLAUSE_END.test(last) ? 0.15 : 0;
      const cost = best[i]! + 100 + slack * slack - bonus;
      if (cost < best[j]!) {
        best[j] = cost;
        from[j] = i;
      }
    }
  }
  const pieces: TimedWord[][] = [];
  for (let j = n; j > 0; j = from[j]!) pieces.unshift(words.slice(from[j]!, j));
  return pieces;
}

/** Splits one segment into cues. */
export function segmentCues(s: Segment, o: CueOptions = {}): Cue[] {
  const width = o.maxLineWidth ?? CUE_DEFAULTS.maxLineWidth;
  const lineCount = o.maxLineCount ?? CUE_DEFAULTS.maxLineCount;
  const seconds = o.maxCueSeconds ?? CUE_DEFAULTS.maxCueSeconds;
  const fits = (ws: TimedWord[]) => greedyLines(ws.map((w) => w.text), width).length <= lineCount && ws[ws.length - 1]!.end - ws[0]!.start <= seconds;
  const phrases: TimedWord[][] = [];
  for (const word of timedWords(s, width)) {
    const phrase = phrases[phrases.length - 1];
    const last = phrase?.[phrase.length - 1];
    if (last && word.start - last.end < PAUSE_SECONDS) phrase!.push(word);
    else phrases.push([word]);
  }
  const groups = phrases.flatMap((p) => splitPhrase(p, fits, width * lineCount));

  const cues: Cue[] = [];
  for (const group of groups) {
    const start = group[0]!.start;
    const end = group[group.length - 1]!.end;
    const layout = balancedLines(group.map((w) => w.text), width);
    if (!o.highlightWords) {
      cues.push({ start, end, text: layout.map((line) => line.join(' ')).join('\n') });
      continue;
    }
    // Lines laid out on the plain words, so the text does not move as the mark does.
    for (const [i, w] of group.entries()) {
      let n = 0;
      const text = layout.map((line) => line.map((x) => (n++ === i ? `<u>${x}</u>` : x)).join(' ')).join('\n');
      cues.push({ start: i === 0 ? start : w.start, end: i + 1 < group.length ? group[i + 1]!.start : end, text });
    }
  }
  return cues;
}
