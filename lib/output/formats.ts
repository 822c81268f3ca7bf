/** Transcript → txt, srt, vtt, json, and OpenAI's verbose_json. */
import type { Segment, Transcript } from '../whisper.js';
import { compressionRatio } from '../batched.js';
import { languageName } from '../languages.js';
import { formatTimestamp } from './timestamps.js';
import { segmentCues, type CueOptions } from './cues.js';

export const FORMATS = ['txt', 'srt', 'vtt', 'json', 'verbose_json'] as const;
export type OutputFormat = (typeof FORMATS)[number];

export interface TranscriptMeta {
  model?: string;
  timings?: Record<string, number>;
}

/** Formats written a segment at a time, as segments become final (the CLI streams them). */
export const PROGRESSIVE_FORMATS = ['txt', 'srt', 'vtt'] as const;
export type ProgressiveFormat = (typeof PROGRESSIVE_FORMATS)[number];

export interface ProgressiveWriter {
  /** What comes before the first segment. */
  readonly head: string;
  /** One segment's text in this format (cues numbered on from the last). */
  add(segment: Segment): string;
  /** What comes after the last segment. */
  end(): string;
}

/** txt, srt or vtt in pieces: head + add(each segment) + end() is the whole file. */
export function progressiveWriter(format: ProgressiveFormat, o: CueOptions = {}): ProgressiveWriter {
  let cues = 0;
  let shownUntil = 0;
  const caption = (sep: ',' | '.') => (s: Segment) =>
    segmentCues(s, o)
      .map((c) => {
        const gap = format === 'vtt' || cues > 0 ? '\n' : ''; // a blank line between cues (vtt: after the header too)
        const number = format === 'srt' ? `${++cues}\n` : (cues++, '');
        // Word times of two windows can overlap by a few hundredths: a player would show both cues.
        const start = Math.max(c.start, shownUntil);
        shownUntil = Math.max(c.end, start);
        return `${gap}${number}${formatTimestamp(start, sep)} --> ${formatTimestamp(shownUntil, sep)}\n${c.text}\n`;
      })
      .join('');
  switch (format) {
    case 'txt': return { head: '', add: (s) => (++cues, `${s.text.trim()}\n`), end: () => (cues === 0 ? '\n' : '') };
    case 'srt': return { head: '', add: caption(','), end: () => '' };
    case 'vtt': return { head: 'WEBVTT\n', add: caption('.'), end: () => '' };
  }
}

function whole(format: ProgressiveFormat, t: Transcript, o: CueOptions = {}): string {
  const w = progressiveWriter(format, o);
  return w.head + t.segments.map((s) => w.add(s)).join('') + w.end();
}

export const toTxt = (t: Transcript): string => whole('txt', t);
export const toSrt = (t: Transcript, o: CueOptions = {}): string => whole('srt', t, o);
export const toVtt = (t: Transcript, o: CueOptions = {}): string => whole('vtt', t, o);

const round = (x: number) => Math.round(x * 1000) / 1000;

function jsonSegment(s: Segment) {
  return {
    id: s.id,
    start: round(s.start),
    end: round(s.end),
    text: s.text.trim(),
    avg_logprob: round(s.avgLogprob),
    no_speech_prob: round(s.noSpeechProb),
    ...(s.language && { language: s.language }),
    ...(s.words && { words: s.words.map((w) => ({ word: w.word, start: round(w.start), end: round(w.end), probability: round(w.probability) })) }),
  };
}

export function toJson(t: Transcript, meta: TranscriptMeta = {}): string {
  return `${JSON.stringify(
    {
      text: t.text,
      language: t.language,
      language_probability: round(t.languageProbability),
      duration: round(t.duration),
      model: meta.model ?? null,
      segments: t.segments.map(jsonSegment),
      timings: { ...meta.timings, transcribe: round(t.timings.transcribeSeconds), realtime_factor: round(t.timings.realtimeFactor) },
    },
    null,
    2,
  )}\n`;
}

/**
 * Segments in the shape OpenAI's verbose_json and the faster-whisper RunPod worker share. The
 * compression ratio is the segment text's (the measure the fallback checks); `tokens` are its
 * text tokens' ids (left out of a segment that has none: one made by hand).
 */
export function openAiSegments(t: Transcript, temperature = 0) {
  return t.segments.map((s) => ({
    id: s.id,
    seek: 0,
    start: round(s.start),
    end: round(s.end),
    text: s.text,
    ...(s.tokens && { tokens: s.tokens }),
    temperature,
    avg_logprob: round(s.avgLogprob),
    compression_ratio: round(compressionRatio(s.text)),
    no_speech_prob: round(s.noSpeechProb),
    ...(s.language && { language: s.language }),
  }));
}

/** The shape OpenAI's /v1/audio/transcriptions returns for response_format=verbose_json. */
export function toVerboseJson(t: Transcript, task: 'transcribe' | 'translate' = 'transcribe'): string {
  const words = t.segments.flatMap((s) => s.words ?? []);
  return `${JSON.stringify({
    task,
    language: languageName(t.language) ?? t.language, // OpenAI's API spells it out: "english"
    duration: round(t.duration),
    text: t.text,
    segments: openAiSegments(t),
    ...(words.length && { words: words.map((w) => ({ word: w.word.trim(), start: round(w.start), end: round(w.end) })) }),
  })}\n`;
}

export function formatTranscript(t: Transcript, format: OutputFormat, meta: TranscriptMeta = {}, captions: CueOptions = {}): string {
  switch (format) {
    case 'txt': return toTxt(t);
    case 'srt': return toSrt(t, captions);
    case 'vtt': return toVtt(t, captions);
    case 'json': return toJson(t, meta);
    case 'verbose_json': return toVerboseJson(t);
  }
}
