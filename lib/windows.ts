/**
 * Long audio → windows of at most 30 s, and the windows' segments → one ordered transcript.
 * Fixed windows end at a pause near their end, where the next one starts; without a pause they
 * overlap the next by a little, and stitching keeps, for each overlap, the segments of the
 * window whose side of the overlap's midpoint they sit on, so nothing is said twice.
 */
import type { NativeWindow } from './native/binding.js';

export const SAMPLE_RATE = 16000;
export const MAX_WINDOW_SECONDS = 30;

export interface WindowPlanOptions {
  /** Longest window, seconds (whisper sees 30 s at a time). */
  windowSeconds?: number;
  /** How much consecutive windows share where no pause was found to cut at, seconds. */
  overlapSeconds?: number;
  /** How far back from a window's end to look for a pause to cut at, seconds. */
  searchSeconds?: number;
}

const FRAME = SAMPLE_RATE / 100; // 10 ms
/** The shortest quiet stretch that counts as a pause between words. */
const MIN_PAUSE_FRAMES = 5;

function frameEnergies(pcm: Float32Array, from: number, to: number): Float64Array {
  const n = Math.max(0, Math.floor((to - from) / FRAME));
  const e = new Float64Array(n);
  for (let f = 0; f < n; f++) {
    let sum = 0;
    for (let i = from + f * FRAME, end = i + FRAME; i < end; i++) sum += pcm[i]! * pcm[i]!;
    e[f] = sum / FRAME;
  }
  return e;
}

/** Frames at or under this energy are a pause: 10 dB under the median frame's (what speech is, mostly). */
function quietLevel(e: Float64Array): number {
  return Float64Array.from(e).sort()[Math.floor(e.length / 2)]! / 10;
}

/**
 * Where to end a window within [from, to): the middle of the longest pause (10 ms frames 10 dB
 * under the stretch's median energy, ≥ 50 ms; the later of equals), so no word is cut and the
 * next window can start right there: the longest is most often a sentence's end, where the
 * decoder finishes its last segment (a later, shorter pause saves windows but, measured on the
 * bench speech, makes the decoder stop short three times as often). Undefined when the stretch
 * has no pause (music, noise).
 */
export function findPause(pcm: Float32Array, from: number, to: number): number | undefined {
  const e = frameEnergies(pcm, from, to);
  if (e.length === 0) return undefined;
  const quiet = quietLevel(e);
  let best: { start: number; length: number } | undefined;
  for (let f = 0; f < e.length; ) {
    if (!(e[f]! <= quiet)) {
      f++;
      continue;
    }
    let g = f;
    while (g < e.length && e[g]! <= quiet) g++;
    if (g - f >= MIN_PAUSE_FRAMES && (!best || g - f >= best.length)) best = { start: f, length: g - f };
    f = g;
  }
  return best && from + Math.floor((best.start + best.length / 2) * FRAME);
}

/** The shortest loud stretch that can be a word: 100 ms. */
const MIN_SOUND_FRAMES = 10;
export const MIN_SOUND_SAMPLES = MIN_SOUND_FRAMES * FRAME;

/**
 * Where the last 100 ms or more above `window`'s pause level (findPause's) within [from, to)
 * ends, as a sample; undefined when that stretch holds nothing to hear. The rest of a window after
 * the decoder's last timestamp is often just the pause the window was cut at: decoding it again
 * would cost an encoder pass to hear silence.
 */
export function soundEnd(pcm: Float32Array, from: number, to: number, window: NativeWindow): number | undefined {
  const whole = frameEnergies(pcm, window.start, window.end);
  if (whole.length === 0) return to > from ? to : undefined;
  const quiet = quietLevel(whole);
  const first = Math.max(0, Math.floor((from - window.start) / FRAME));
  const last = Math.min(whole.length, Math.ceil((to - window.start) / FRAME));
  let end: number | undefined;
  for (let f = first, loud = 0; f < last; f++) {
    loud = whole[f]! > quiet ? loud + 1 : 0;
    if (loud >= MIN_SOUND_FRAMES) end = f + 1;
  }
  return end === undefined ? undefined : Math.min(to, window.start + end * FRAME);
}

/** Whether [from, to), the end of `window`, holds anything to hear (soundEnd). */
export function hasSound(pcm: Float32Array, from: number, to: number, window: NativeWindow): boolean {
  return soundEnd(pcm, from, to, window) !== undefined;
}

/** The quietest 100 ms in [from, to): where to cut when there is no pause. */
function quietestFrame(pcm: Float32Array, from: number, to: number): number {
  const e = frameEnergies(pcm, from, to);
  let best = e.length - 10;
  let bestEnergy = Infinity;
  for (let f = 0; f + 10 <= e.length; f += 5) {
    let sum = 0;
    for (let k = f; k < f + 10; k++) sum += e[k]!;
    if (sum < bestEnergy) {
      bestEnergy = sum;
      best = f;
    }
  }
  return from + Math.max(0, best + 5) * FRAME;
}

/**
 * Windows of at most 30 s that cover the audio. Each ends at the longest pause in its last
 * seconds and the next starts there (no word is cut, nothing is heard twice); where the audio has
 * no pause, at the quietest 100 ms, and the next window starts a little earlier (overlap), so a
 * word cut there is heard whole by one of them (stitch keeps one copy).
 */
export function planFixedWindows(pcm: Float32Array, options: WindowPlanOptions = {}): NativeWindow[] {
  const win = Math.round((options.windowSeconds ?? MAX_WINDOW_SECONDS) * SAMPLE_RATE);
  const overlap = Math.round((options.overlapSeconds ?? 1) * SAMPLE_RATE);
  const search = Math.round((options.searchSeconds ?? 8) * SAMPLE_RATE);
  const n = pcm.length;
  const windows: NativeWindow[] = [];
  let start = 0;
  while (start < n) {
    if (n - start <= win) {
      windows.push({ start, end: n });
      break;
    }
    const pause = findPause(pcm, start + win - search, start + win);
    const end = pause ?? quietestFrame(pcm, start + win - search, start + win);
    windows.push({ start, end });
    start = pause !== undefined ? end : Math.max(end - overlap, start + 1);
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
 * A window's items (in absolute seconds) that are its own: where it overlaps a neighbour, an item
 * belongs to the window on whose side of the overlap's middle its own middle lies. Depends on the
 * window plan only, so each window's items are final as soon as it is decoded.
 */
export function keepInWindow<T extends TimedItem>(windows: readonly NativeWindow[], w: number, items: readonly T[]): T[] {
  const win = windows[w]!;
  const prev = windows[w - 1];
  const next = windows[w + 1];
  const from = prev && prev.end > win.start ? (win.start + prev.end) / 2 / SAMPLE_RATE : -Infinity;
  const to = next && next.start < win.end ? (next.start + win.end) / 2 / SAMPLE_RATE : Infinity;
  return items.filter((item) => {
    const mid = (item.start + item.end) / 2;
    return mid >= from && mid < to;
  });
}

