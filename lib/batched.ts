/**
 * The policy around the native batched engine (native/batch_engine.cc): every window decoded
 * once, many at a time; the windows whose text fails whisper's checks (too repetitive, too
 * unlikely) decoded again, warmer, in a batch of their own; tokens → timed segments.
 */
import { gzipSync } from 'node:zlib';
import type { DecodeOptions } from './decode-options.js';
import type { NativeBatchParams, NativeDecodeResult, NativeModel, NativeSegment, NativeVocabulary, NativeWindow } from './native/binding.js';
import { SAMPLE_RATE } from './windows.js';

/** Seconds per timestamp token. */
const TIMESTAMP_STEP = 0.02;
/** A piece resumes at its last timestamp when that is at least this far in… */
const MIN_RESUME_PROGRESS = 1;
/** …and at least this much audio is left after it (whisper.cpp's 1 s). */
const MIN_RESUME_REST = 1;
/** Resumed pieces per window at most (each costs an encoder pass). */
const MAX_RESUMES = 4;
/** One turn on the engine: this many batches' worth of windows. */
const WINDOWS_PER_TURN = 2;

export interface BatchedRun {
  pcm: Float32Array;
  windows: readonly NativeWindow[];
  decode: DecodeOptions;
  language: string;
  threads: number;
  slots: number;
  onWindowDone?: (window: number) => void;
  abortFlag: Int32Array;
}

export interface BatchedResult {
  windows: NativeSegment[][];
  language: string;
  languageProbability: number;
  /** Windows decoded again at a higher temperature. */
  fallbacks: number;
  /** Pieces decoded again from a window's last timestamp (whisper.cpp's seek). */
  resumed: number;
  /** Windows decoded at once: fewer than `slots` where that many did not fit (VRAM). */
  slots: number;
}

/** Decoded text length over its gzip length: above ~2.4 the text loops (faster-whisper's measure). */
export function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length === 0 ? 0 : bytes.length / gzipSync(bytes).length;
}

interface Scored {
  result: NativeDecodeResult;
  text: string;
  avgLogprob: number;
  compressionRatio: number;
}

function score(result: NativeDecodeResult, vocab: NativeVocabulary): Scored {
  const text = detokenize(result.tokens, vocab);
  let sum = result.endLogprob;
  for (const lp of result.logprobs) sum += lp;
  return { result, text, avgLogprob: sum / (result.tokens.length + 1), compressionRatio: compressionRatio(text) };
}

function detokenize(tokens: ArrayLike<number>, vocab: NativeVocabulary): string {
  const parts: Buffer[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const id = tokens[i]!;
    if (id < vocab.eot) parts.push(vocab.tokens[id]!);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Whisper's fallback test: a window retries warmer unless it is silence (no speech, and unsure). */
function verdict(s: Scored, o: DecodeOptions): 'ok' | 'silence' | 'retry' {
  if (s.result.noSpeechProb > o.noSpeechThreshold && s.avgLogprob < o.logprobThreshold) return 'silence';
  if (s.compressionRatio > o.compressionRatioThreshold || s.avgLogprob < o.logprobThreshold) return 'retry';
  return 'ok';
}

/**
 * Tokens → segments, seconds from the piece's start: text between a pair of timestamps is a
 * segment. `resumeAt`: where whisper.cpp would seek to (the last timestamp) when the decoder
 * stopped short of the end or left a segment unfinished; that segment is then left out, for the
 * piece that resumes there to say whole (unless this is the `lastTry`: then it ends the piece).
 */
export function tokensToSegments(s: Scored, vocab: NativeVocabulary, seconds: number, lastTry = false): { segments: NativeSegment[]; resumeAt?: number } {
  const segments: NativeSegment[] = [];
  let start: number | undefined;
  let lastTimestamp: number | undefined;
  let text: number[] = [];
  for (const id of s.result.tokens) {
    if (id >= vocab.timestampBegin) {
      const t = Math.min((id - vocab.timestampBegin) * TIMESTAMP_STEP, seconds);
      if (text.length > 0) {
        const t0 = start ?? lastTimestamp ?? 0;
        segments.push({ t0, t1: Math.max(t0, t), text: detokenize(text, vocab), noSpeechProb: s.result.noSpeechProb, avgLogprob: s.avgLogprob });
        text = [];
        start = undefined;
      } else {
        start = t;
      }
      lastTimestamp = t;
    } else if (id < vocab.eot) {
      text.push(id);
    }
  }
  const unfinished = text.length > 0;
  // As whisper.cpp: whenever the last timestamp is over a second short of the end (tiny models
  // often stop early, or skip ahead), not only when a segment was left unfinished (openai-whisper).
  if (!lastTry && lastTimestamp !== undefined && lastTimestamp >= MIN_RESUME_PROGRESS && seconds - lastTimestamp > MIN_RESUME_REST) {
    return { segments, resumeAt: lastTimestamp };
  }
  if (unfinished) {
    const t0 = start ?? lastTimestamp ?? 0;
    segments.push({ t0, t1: seconds, text: detokenize(text, vocab), noSpeechProb: s.result.noSpeechProb, avgLogprob: s.avgLogprob });
  }
  return { segments };
}

/**
 * Turns on a model's engine, first come first served: a call that finishes its turn and wants
 * another queues behind those already waiting, so concurrent transcriptions take turns
 * round-robin (the engine runs one decodeBatch at a time).
 */
class EngineTurns {
  private busy = false;
  private readonly waiting: Array<() => void> = [];

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy = true;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.busy = false;
    }
  }
}

const turns = new WeakMap<NativeModel, EngineTurns>();

function engineTurns(model: NativeModel): EngineTurns {
  let t = turns.get(model);
  if (!t) turns.set(model, (t = new EngineTurns()));
  return t;
}

const vocabularies = new WeakMap<NativeModel, NativeVocabulary>();

function vocabularyOf(model: NativeModel): NativeVocabulary {
  let v = vocabularies.get(model);
  if (!v) vocabularies.set(model, (v = model.vocabulary()));
  return v;
}

interface Piece {
  window: number;
  start: number;
  end: number;
}

export async function decodeBatched(model: NativeModel, run: BatchedRun): Promise<BatchedResult> {
  const o = run.decode;
  const vocab = vocabularyOf(model);
  const params = (language: string): NativeBatchParams => ({
    threads: run.threads,
    slots: run.slots,
    language,
    translate: o.translate,
    initialPrompt: o.initialPrompt,
    suppressBlank: o.suppressBlank,
    suppressNonSpeech: o.suppressNonSpeech,
    suppressRegex: o.suppressRegex,
    withoutTimestamps: o.withoutTimestamps,
    maxTokensPerSegment: o.maxTokensPerSegment,
  });
  let slotsUsed = run.slots;
  const decode = async (pieces: readonly Piece[], temperature: number, copies: number, language: string, report: boolean) => {
    const requests = pieces.flatMap((p, k) => Array.from({ length: copies }, (_, c) => ({ start: p.start, end: p.end, temperature, seed: k * 31 + c })));
    const onDone = report && run.onWindowDone ? (i: number) => run.onWindowDone!(pieces[Math.floor(i / copies)]!.window) : undefined;
    // In turns of a few batches: between two turns another call on the same model (another job)
    // gets the engine, so a short job does not wait for a long one's every window.
    const turn = run.slots * WINDOWS_PER_TURN;
    const results: NativeDecodeResult[] = [];
    for (let first = 0; first < requests.length; first += turn) {
      const chunk = requests.slice(first, first + turn);
      const chunkDone = onDone && ((i: number) => onDone(first + i));
      const out = await engineTurns(model).run(() => model.decodeBatch(run.pcm, chunk, params(language), chunkDone, run.abortFlag));
      slotsUsed = Math.min(slotsUsed, out.slots);
      results.push(...out.results);
    }
    return results.map((r) => score(r, vocab));
  };

  // Pieces decoded once, then the failing ones again, warmer, best of `bestOf` samples each.
  let fallbacks = 0;
  const decodeWithFallback = async (pieces: readonly Piece[], language: string, report: boolean) => {
    const best = await decode(pieces, o.temperature, 1, language, report);
    let temperature = o.temperature;
    let failed = pieces.flatMap((_, i) => (verdict(best[i]!, o) === 'retry' ? [i] : []));
    while (failed.length > 0 && o.temperatureIncrement > 0 && temperature + o.temperatureIncrement <= 1 + 1e-6) {
      temperature += o.temperatureIncrement;
      fallbacks += failed.length;
      const copies = Math.max(1, o.bestOf);
      const tries = await decode(
        failed.map((i) => pieces[i]!),
        temperature,
        copies,
        language,
        false,
      );
      failed.forEach((i, k) => {
        const pick = tries.slice(k * copies, (k + 1) * copies).reduce((a, b) => (b.avgLogprob > a.avgLogprob ? b : a));
        // A retry replaces the earlier result when it passes, or (all failing) is likelier.
        if (verdict(pick, o) !== 'retry' || pick.avgLogprob > best[i]!.avgLogprob) best[i] = pick;
      });
      failed = failed.filter((i) => verdict(best[i]!, o) === 'retry');
    }
    return best;
  };

  // One language for the whole recording: detected on the first window when not given
  // (windows that each guessed could disagree mid-recording).
  let language = run.language;
  let languageProbability = 1;
  let pieces: Piece[] = run.windows.map((w, window) => ({ window, start: w.start, end: w.end }));
  const decoded: Array<Array<{ piece: Piece; scored: Scored }>> = [];
  if (language === 'auto') {
    const first = await decodeWithFallback(pieces.slice(0, 1), 'auto', true);
    language = first[0]!.result.language;
    languageProbability = first[0]!.result.languageProbability;
    decoded.push([{ piece: pieces[0]!, scored: first[0]! }]);
    pieces = pieces.slice(1);
  }
  if (pieces.length > 0) decoded.push((await decodeWithFallback(pieces, language, true)).map((scored, i) => ({ piece: pieces[i]!, scored })));

  // Where a window's decoder stopped short, the rest of the window is decoded again from its last
  // timestamp (whisper.cpp's seek), all such rests in one batch, until none is left.
  const windows: NativeSegment[][] = run.windows.map(() => []);
  const resumes = new Map<number, number>();
  while (decoded.length > 0) {
    const next: Piece[] = [];
    for (const { piece, scored } of decoded.pop()!) {
      if (verdict(scored, o) === 'silence') continue;
      const offset = (piece.start - run.windows[piece.window]!.start) / SAMPLE_RATE;
      const count = resumes.get(piece.window) ?? 0;
      const { segments, resumeAt } = tokensToSegments(scored, vocab, (piece.end - piece.start) / SAMPLE_RATE, count >= MAX_RESUMES);
      windows[piece.window]!.push(...segments.map((seg) => ({ ...seg, t0: seg.t0 + offset, t1: seg.t1 + offset })));
      if (resumeAt !== undefined) {
        resumes.set(piece.window, count + 1);
        next.push({ window: piece.window, start: piece.start + Math.round(resumeAt * SAMPLE_RATE), end: piece.end });
      }
    }
    if (next.length > 0) decoded.push((await decodeWithFallback(next, language, false)).map((scored, i) => ({ piece: next[i]!, scored })));
  }
  return { windows, language, languageProbability, fallbacks, resumed: [...resumes.values()].reduce((a, b) => a + b, 0), slots: slotsUsed };
}
