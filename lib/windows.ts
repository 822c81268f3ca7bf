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
