/**
 * Long audio → windows of at most 30 s, and the windows' segments → one ordered transcript.
 * Fixed windows end at the quietest 100 ms near their end (so words are rarely cut) and
 * overlap the next by a little; stitching keeps, for each overlap, the segments of the window
 * whose side of the overlap's midpoint they sit on, so nothing is said twice.
 */
import type { NativeWindow } from './native/binding.js';

export const SAMPLE_RATE = 16000;
export const MAX_WINDOW_SECONDS = 30;

export interface WindowPlanOptions {
  /** Longest window, seconds (whisper sees 30 s at a time). */
  windowSeconds?: number;
  /** How much consecutive windows share, seconds. */
  overlapSeconds?: number;
  /** How far back from a window's end to look for a quiet place to cut, seconds. */
  searchSeconds?: number;
}

function quietestFrame(pcm: Float32Array, from: number, to: number, frame: number): number {
  let best = to;
  let bestEnergy = Infinity;
  for (let s = Math.max(from, 0); s + frame <= to; s += frame / 2) {
    let e = 0;
    for (let i = s; i < s + frame; i++) e += pcm[i]! * pcm[i]!;
    if (e < bestEnergy) {
      bestEnergy = e;
      best = s + frame / 2;
    }
  }
  return Math.floor(best);
}

export function planFixedWindows(pcm: Float32Array, options: WindowPlanOptions = {}): NativeWindow[] {
  const win = Math.round((options.windowSeconds ?? MAX_WINDOW_SECONDS) * SAMPLE_RATE);
  const overlap = Math.round((options.overlapSeconds ?? 1) * SAMPLE_RATE);
  const search = Math.round((options.searchSeconds ?? 5) * SAMPLE_RATE);
  const frame = SAMPLE_RATE / 10;
  const n = pcm.length;
  const windows: NativeWindow[] = [];
  let start = 0;
  while (start < n) {
    if (n - start <= win) {
      windows.push({ start, end: n });
      break;
    }
    const end = quietestFrame(pcm, start + win - search, start + win, frame);
    windows.push({ start, end });
    start = Math.max(end - overlap, start + 1);
  }
  return windows;
}

/** Below this peak (-80 dBFS, a few LSB of 16-bit audio) a stretch is digital silence: no speech can hide in it. */
const SILENCE_PEAK = 1e-4;

/**
 * The parts of the audio that are not digital silence: stretches of at least `minGapSeconds`
 * whose every sample is under -80 dBFS are left out (with `padSeconds` kept at their edges), so
 * hours of silence cost a scan, not hours of encoder passes, and cannot be heard as words.
 */
export function audibleSpans(pcm: Float32Array, minGapSeconds = 10, padSeconds = 0.2): NativeWindow[] {
  const frame = SAMPLE_RATE / 10;
  const minGap = Math.round(minGapSeconds * SAMPLE_RATE);
  const pad = Math.round(padSeconds * SAMPLE_RATE);
  const gaps: NativeWindow[] = []; // silent stretches long enough to leave out
  let quietFrom: number | undefined;
  for (let s = 0; s < pcm.length; s += frame) {
    let loud = false;
    for (let i = s, e = Math.min(s + frame, pcm.length); i < e && !loud; i++) loud = Math.abs(pcm[i]!) >= SILENCE_PEAK;
    if (!loud) {
      quietFrom ??= s;
      continue;
    }
    if (quietFrom !== undefined && s - quietFrom >= minGap) gaps.push({ start: quietFrom, end: s });
    quietFrom = undefined;
  }
  if (quietFrom !== undefined && pcm.length - quietFrom >= minGap) gaps.push({ start: quietFrom, end: pcm.length });
  const spans: NativeWindow[] = [];
  let from = 0;
  for (const gap of gaps) {
    if (gap.start > from) spans.push({ start: from, end: gap.start + pad });
    from = gap.end === pcm.length ? gap.end : gap.end - pad;
  }
  if (from < pcm.length) spans.push({ start: from, end: pcm.length });
  return spans;
}

/** Speech regions (seconds) → windows of at most `maxSeconds`, merging neighbours. */
export function windowsFromSpeech(
  regions: ReadonlyArray<{ start: number; end: number }>,
  totalSamples: number,
  maxSeconds = MAX_WINDOW_SECONDS,
): NativeWindow[] {
  const max = Math.round(maxSeconds * SAMPLE_RATE);
  const out: NativeWindow[] = [];
  for (const r of regions) {
    let s = Math.max(0, Math.floor(r.start * SAMPLE_RATE));
    const e = Math.min(totalSamples, Math.ceil(r.end * SAMPLE_RATE));
    const last = out[out.length - 1];
    if (last && e - last.start <= max) {
      last.end = Math.max(last.end, e);
      continue;
    }
    // A single region longer than a window is split in fixed pieces.
    while (e - s > max) {
      out.push({ start: s, end: s + max });
      s += max;
    }
    if (e > s) out.push({ start: s, end: e });
  }
  return out;
}

export interface TimedItem {
  start: number;
  end: number;
}

/**
 * Joins per-window items (already in absolute seconds) into one ordered list. Where windows
 * overlap, an item belongs to the window on whose side of the overlap's middle its own middle lies.
 */
export function stitch<T extends TimedItem>(windows: readonly NativeWindow[], perWindow: readonly T[][]): T[] {
  const out: T[] = [];
  for (let w = 0; w < windows.length; w++) {
    const win = windows[w]!;
    const prev = windows[w - 1];
    const next = windows[w + 1];
    const from = prev && prev.end > win.start ? (win.start + prev.end) / 2 / SAMPLE_RATE : -Infinity;
    const to = next && next.start < win.end ? (next.start + win.end) / 2 / SAMPLE_RATE : Infinity;
    for (const item of perWindow[w] ?? []) {
      const mid = (item.start + item.end) / 2;
      if (mid >= from && mid < to) out.push(item);
    }
  }
  return out;
}
