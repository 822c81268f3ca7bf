/** Transcript → txt, srt, vtt, json, and OpenAI's verbose_json. */
import type { Segment, Transcript } from '../whisper.js';
import { formatTimestamp, wrap } from './timestamps.js';

export const FORMATS = ['txt', 'srt', 'vtt', 'json', 'verbose_json'] as const;
export type OutputFormat = (typeof FORMATS)[number];

export interface CaptionOptions {
  /** Characters per caption line. */
  maxLineWidth?: number;
  /** One cue per word (needs word timestamps). */
  wordLevel?: boolean;
}

export interface TranscriptMeta {
  model?: string;
  timings?: Record<string, number>;
}

function cues(t: Transcript, o: CaptionOptions): Array<{ start: number; end: number; text: string }> {
  if (o.wordLevel) {
    const words = t.segments.flatMap((s) => s.words ?? []);
    if (words.length) return words.map((w) => ({ start: w.start, end: w.end, text: w.word.trim() }));
  }
  return t.segments.map((s) => ({ start: s.start, end: s.end, text: wrap(s.text, o.maxLineWidth ?? 42) }));
}

export function toTxt(t: Transcript): string {
  return `${t.segments.map((s) => s.text.trim()).join('\n')}\n`;
}

export function toSrt(t: Transcript, o: CaptionOptions = {}): string {
  return cues(t, o)
    .map((c, i) => `${i + 1}\n${formatTimestamp(c.start, ',')} --> ${formatTimestamp(c.end, ',')}\n${c.text}\n`)
    .join('\n');
}

export function toVtt(t: Transcript, o: CaptionOptions = {}): string {
  const body = cues(t, o).map((c) => `${formatTimestamp(c.start, '.')} --> ${formatTimestamp(c.end, '.')}\n${c.text}\n`);
  return ['WEBVTT\n', ...body].join('\n');
}

const round = (x: number) => Math.round(x * 1000) / 1000;

function jsonSegment(s: Segment) {
  return {
    id: s.id,
    start: round(s.start),
    end: round(s.end),
    text: s.text.trim(),
    avg_logprob: round(s.avgLogprob),
    no_speech_prob: round(s.noSpeechProb),
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
 * Segments in the shape OpenAI's verbose_json and the faster-whisper RunPod worker share.
 * whisper.cpp reports neither the token ids nor a compression ratio: those stay empty / 0.
 */
export function openAiSegments(t: Transcript, temperature = 0) {
  return t.segments.map((s) => ({
    id: s.id,
    seek: 0,
    start: round(s.start),
    end: round(s.end),
    text: s.text,
    tokens: [] as number[],
    temperature,
    avg_logprob: round(s.avgLogprob),
    compression_ratio: 0,
    no_speech_prob: round(s.noSpeechProb),
  }));
}

/** The shape OpenAI's /v1/audio/transcriptions returns for response_format=verbose_json. */
export function toVerboseJson(t: Transcript, task: 'transcribe' | 'translate' = 'transcribe'): string {
  const words = t.segments.flatMap((s) => s.words ?? []);
  return `${JSON.stringify({
    task,
    language: t.language,
    duration: round(t.duration),
    text: t.text,
    segments: openAiSegments(t),
    ...(words.length && { words: words.map((w) => ({ word: w.word.trim(), start: round(w.start), end: round(w.end) })) }),
  })}\n`;
}

export function formatTranscript(t: Transcript, format: OutputFormat, meta: TranscriptMeta = {}, captions: CaptionOptions = {}): string {
  switch (format) {
    case 'txt': return toTxt(t);
    case 'srt': return toSrt(t, captions);
    case 'vtt': return toVtt(t, captions);
    case 'json': return toJson(t, meta);
    case 'verbose_json': return toVerboseJson(t);
  }
}
