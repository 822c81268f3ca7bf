/**
 * The policy around the native batched engine (native/batch_engine.cc): every window decoded
 * once, many at a time; the windows whose text fails whisper's checks (too repetitive, too
 * unlikely) decoded again, warmer, in the same batch as the rest; tokens → timed segments.
 */
import { gzipSync } from 'node:zlib';
import type { DecodeOptions } from './decode-options.js';
import type { EngineTimings, NativeBatchParams, NativeDecodeRequest, NativeDecodeResult, NativeModel, NativeOpCost, NativeSegment, NativeVocabulary, NativeWindow } from './native/binding.js';
import { hasSound, MIN_SOUND_SAMPLES, SAMPLE_RATE, soundEnd } from './windows.js';

/** Seconds per timestamp token. */
const TIMESTAMP_STEP = 0.02;
/** A piece resumes at its last timestamp when that is at least this far in… */
const MIN_RESUME_PROGRESS = 1;
/** …and at least this much audio is left after it (whisper.cpp's 1 s). */
const MIN_RESUME_REST = 1;
/** Resumed pieces per window at most (each costs an encoder pass). */
const MAX_RESUMES = 4;
/** Requests a call on the engine keeps in flight: this many batches' worth. */
const WINDOWS_PER_TURN = 2;
/** A window whose likeliest language has at least this probability, and is not the one decoded in, is reported. */
const CLEARLY_OTHER_LANGUAGE = 0.8;

let recordings = 0;
/** A number for one decodeBatched call's PCM, never 0 (the engine's "this call only"). */
function nextRecording(): number {
  recordings = (recordings % 0x7fffffff) + 1;
  return recordings;
}

export interface BatchedRun {
  pcm: Float32Array;
  windows: readonly NativeWindow[];
  decode: DecodeOptions;
  language: string;
  threads: number;
  slots: number;
  encoderWindows: number;
  onWindowDone?: (window: number) => void;
  /** Windows `first`… whose segments are final (retries and resumed pieces included), in order. */
  onWindowsFinal?: (first: number, windows: NativeSegment[][]) => void;
  abortFlag: Int32Array;
  /** Off only to prove that reusing encodings changes no result (test/batched.test.ts). */
  reuseEncodings?: boolean;
  /** Time every graph node: the result's `profile` (config.engineProfile). */
  profile?: boolean;
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
  /** Windows that clearly speak another language than the one they were decoded in. */
  otherLanguage: Array<{ window: number; language: string; probability: number }>;
  /** The engine's time, summed over its calls. */
  timings: EngineTimings;
  /** Per kind of graph node, summed over the calls (empty unless `profile`). */
  profile: NativeOpCost[];
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
  // A looped sequence stopped early: run to the length limit it would have failed the compression check.
  if (s.result.looped || s.compressionRatio > o.compressionRatioThreshold || s.avgLogprob < o.logprobThreshold) return 'retry';
  return 'ok';
}

/**
 * The likeliest of a window's samples (best of N) among those that pass, else the likeliest of
 * all. The likeliest is often a loop (a loop is what the decoder finds most probable): taking it
 * would send the window warmer again while a sample beside it passed.
 */
function bestOf(tries: Scored[], o: DecodeOptions): Scored {
  const passing = tries.filter((t) => verdict(t, o) !== 'retry');
  return (passing.length > 0 ? passing : tries).reduce((a, b) => (b.avgLogprob > a.avgLogprob ? b : a));
}

/**
 * Tokens → segments, seconds from the piece's start: text between a pair of timestamps is a
 * segment. `resumeAt`: where whisper.cpp would seek to (the last timestamp) when the decoder
 * stopped short of the end or left a segment unfinished; that segment is then left out, for the
 * piece that resumes there to say whole (unless `resumable(at)` says no: then it ends the piece).
 */
export function tokensToSegments(
  s: Scored,
  vocab: NativeVocabulary,
  seconds: number,
  resumable: (at: number) => boolean = () => true,
): { segments: NativeSegment[]; resumeAt?: number } {
  const segments: NativeSegment[] = [];
  let start: number | undefined;
  let lastTimestamp: number | undefined;
  let text: number[] = [];
  for (const id of s.result.tokens) {
    if (id >= vocab.timestampBegin) {
      const t = Math.min((id - vocab.timestampBegin) * TIMESTAMP_STEP, seconds);
      if (text.length > 0) {
        const t0 = start ?? lastTimestamp ?? 0;
        segments.push({ t0, t1: Math.max(t0, t), text: detokenize(text, vocab), ids: text, noSpeechProb: s.result.noSpeechProb, avgLogprob: s.avgLogprob });
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
  if (lastTimestamp !== undefined && lastTimestamp >= MIN_RESUME_PROGRESS && seconds - lastTimestamp > MIN_RESUME_REST && resumable(lastTimestamp)) {
    return { segments, resumeAt: lastTimestamp };
  }
  if (unfinished) {
    const t0 = start ?? lastTimestamp ?? 0;
    segments.push({ t0, t1: seconds, text: detokenize(text, vocab), ids: text, noSpeechProb: s.result.noSpeechProb, avgLogprob: s.avgLogprob });
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

  /** Another call waits for the engine: the one running should end its turn. */
  get contended(): boolean {
    return this.waiting.length > 0;
  }

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

/** Work for the engine: a piece at a temperature, `copies` samples of it (best of), the best try so far. */
interface Work {
  piece: Piece;
  temperature: number;
  copies: number;
  best?: Scored;
  /** The window's first pass: its end is reported as progress. */
  first: boolean;
  /** The copies' results as they come in. */
  tries: Scored[];
}

/**
 * Each window decoded once, and again where its text fails: a call on the engine starts with a
 * turn's worth of windows, and every finished piece is answered at once (the engine's callback)
 * with what follows from it: a retry warmer, the rest of a window from its last timestamp, and
 * the next windows while no other call waits for the engine. So retries join the batch in
 * flight instead of running alone after it, and every batch stays full. Windows settle in order:
 * each time the earliest window with work left moves on, those before it are final
 * (`onWindowsFinal`), which is what streaming output waits for.
 */
export async function decodeBatched(model: NativeModel, run: BatchedRun): Promise<BatchedResult> {
  const o = run.decode;
  const vocab = vocabularyOf(model);
  const engine = engineTurns(model);
  // A call keeps this many requests in flight (queued behind the slots included); between two
  // calls another transcription on the same model gets the engine.
  const turn = run.slots * WINDOWS_PER_TURN;
  const copiesOfRetry = o.temperatureIncrement > 0 ? Math.max(1, o.bestOf) : 1;
  // One language for the whole recording, detected on the first window when not given (windows
  // that each guessed could disagree mid-recording) — unless each window detects its own.
  const perWindow = o.multilingual && run.language === 'auto';
  let language = run.language;
  const spokenIn: Array<{ language: string; languageProbability: number }> = []; // by window: the first one's is the file's
  const otherLanguage: BatchedResult['otherLanguage'] = [];
  let slotsUsed = run.slots;
  let fallbacks = 0;
  const windows: NativeSegment[][] = run.windows.map(() => []);
  const resumes = new Map<number, number>();
  const unfinished = new Map<number, number>(); // window → its works not yet final
  let started = 0; // windows begun so far
  let settled = 0; // windows reported final so far
  const recording = nextRecording();
  const profile = new Map<string, NativeOpCost>();
  const timings: EngineTimings = { mel: 0, encoder: 0, decoder: 0, logits: 0, rules: 0, encoderGraphs: 0, decoderSteps: 0, encodingsReused: 0 };

  const work = (piece: Piece, temperature: number, copies: number, first: boolean, best?: Scored): Work => {
    unfinished.set(piece.window, (unfinished.get(piece.window) ?? 0) + 1);
    return { piece, temperature, copies, first, best, tries: [] };
  };
  const nextWindow = (): Work => {
    const w = run.windows[started]!;
    return work({ window: started, start: w.start, end: w.end }, o.temperature, 1, true, undefined);
  };

  // Where a window's decoder stopped short, the rest of the window is decoded again from its last
  // timestamp (whisper.cpp's seek), at most MAX_RESUMES times, and only where that rest has sound.
  const accept = (piece: Piece, scored: Scored): Work | undefined => {
    if (verdict(scored, o) === 'silence') return undefined;
    const window = run.windows[piece.window]!;
    const offset = (piece.start - window.start) / SAMPLE_RATE;
    const count = resumes.get(piece.window) ?? 0;
    const resumable = (at: number) => count < MAX_RESUMES && hasSound(run.pcm, piece.start + Math.round(at * SAMPLE_RATE), piece.end, window);
    const { segments, resumeAt } = tokensToSegments(scored, vocab, (piece.end - piece.start) / SAMPLE_RATE, resumable);
    const spoken = perWindow && { language: scored.result.language };
    windows[piece.window]!.push(...segments.map((seg) => ({ ...seg, t0: seg.t0 + offset, t1: seg.t1 + offset, ...spoken })));
    if (resumeAt === undefined) return undefined;
    resumes.set(piece.window, count + 1);
    return work({ window: piece.window, start: piece.start + Math.round(resumeAt * SAMPLE_RATE), end: piece.end }, o.temperature, 1, false);
  };

  // A work whose copies are all in: kept, or sent back warmer. What follows from it comes back.
  const finish = (w: Work): Work[] => {
    const pick = bestOf(w.tries, o);
    // A retry replaces the earlier result when it passes, or (all failing) is likelier.
    const best = !w.best || verdict(pick, o) !== 'retry' || pick.avgLogprob > w.best.avgLogprob ? pick : w.best;
    const warmer = w.temperature + o.temperatureIncrement;
    if (verdict(best, o) === 'retry' && o.temperatureIncrement > 0 && warmer <= 1 + 1e-6) {
      fallbacks++;
      return [work(w.piece, warmer, copiesOfRetry, false, best)];
    }
    const heard = best.result;
    spokenIn[w.piece.window] ??= { language: heard.language, languageProbability: run.language === 'auto' ? heard.languageProbability : 1 }; // given: 1, as faster-whisper says
    if (language === 'auto' && !perWindow) language = heard.language;
    const whole = w.piece.start === run.windows[w.piece.window]!.start; // not a resumed piece
    if (whole && !perWindow && heard.detectedLanguage !== heard.language && heard.detectedProbability >= CLEARLY_OTHER_LANGUAGE) {
      otherLanguage.push({ window: w.piece.window, language: heard.detectedLanguage, probability: heard.detectedProbability });
    }
    const resumed = accept(w.piece, best);
    return resumed ? [resumed] : [];
  };

  const settle = () => {
    let earliest = settled;
    while (earliest < started && !unfinished.get(earliest)) earliest++;
    if (earliest > settled) {
      run.onWindowsFinal?.(settled, windows.slice(settled, earliest));
      settled = earliest;
    }
  };

  while (started < run.windows.length) {
    // Until the language is known only the first window is decoded (a call decodes in one language).
    const detecting = language === 'auto' && !perWindow;
    const inCall: Work[] = []; // by request index: each copy of each work
    const requests: NativeDecodeRequest[] = [];
    let inFlight = 0; // requests given and not yet finished
    const give = (works: Work[]): NativeDecodeRequest[] => {
      const given = works.flatMap((w) => {
        const until = endNotBefore(run, w.piece);
        // Seeds follow the window, not its place in a batch: the same text at every batch size.
        return Array.from({ length: w.copies }, (_, c) => {
          inCall.push(w);
          return { start: w.piece.start, end: w.piece.end, temperature: w.temperature, seed: w.piece.window * 31 + c, endNotBefore: until };
        });
      });
      inFlight += given.length;
      return given;
    };
    // New windows while the call is short of a turn's worth, none while another call waits.
    const topUp = (): Work[] => {
      const more: Work[] = [];
      while (started < run.windows.length && inFlight + more.length < turn && !(detecting && started > 0) && !(inCall.length > 0 && engine.contended)) {
        more.push(nextWindow());
        started++;
      }
      return more;
    };
    requests.push(...give(topUp()));
    const windowsLeft = run.windows.length - started + inCall.length;

    let failure: unknown;
    const onResult = (i: number, result: NativeDecodeResult): NativeDecodeRequest[] | undefined => {
      try {
        inFlight--;
        const w = inCall[i]!;
        w.tries.push(score(result, vocab));
        if (w.tries.length < w.copies) return undefined;
        if (w.first) run.onWindowDone?.(w.piece.window);
        const follow = finish(w);
        unfinished.set(w.piece.window, unfinished.get(w.piece.window)! - 1);
        settle();
        return give([...follow, ...topUp()]);
      } catch (err) {
        failure ??= err;
        throw err;
      }
    };
    const params: NativeBatchParams = {
      threads: run.threads,
      // Room for a retry's copies side by side even when few windows are left.
      slots: Math.min(run.slots, Math.max(windowsLeft, copiesOfRetry)),
      encoderWindows: run.encoderWindows,
      language,
      translate: o.translate,
      initialPrompt: o.initialPrompt,
      suppressBlank: o.suppressBlank,
      suppressNonSpeech: o.suppressNonSpeech,
      suppressRegex: o.suppressRegex,
      withoutTimestamps: o.withoutTimestamps,
      maxTokensPerSegment: o.maxTokensPerSegment,
      reuseEncodings: run.reuseEncodings ?? true,
      recording,
      profile: run.profile ?? false,
    };
    const out = await engine.run(() => model.decodeBatch(run.pcm, requests, params, onResult, run.abortFlag)).catch((err: unknown) => {
      throw failure ?? err;
    });
    slotsUsed = Math.min(slotsUsed, out.slots);
    for (const k of Object.keys(timings) as Array<keyof EngineTimings>) timings[k] += out.timings[k];
    for (const c of out.profile) {
      const sum = profile.get(c.op) ?? { op: c.op, seconds: 0, flop: 0, nodes: 0 };
      profile.set(c.op, { op: c.op, seconds: sum.seconds + c.seconds, flop: sum.flop + c.flop, nodes: sum.nodes + c.nodes });
    }
  }
  settle();
  return { windows, ...(spokenIn.find(Boolean) ?? { language, languageProbability: 1 }), otherLanguage, fallbacks, resumed: [...resumes.values()].reduce((a, b) => a + b, 0), slots: slotsUsed, timings, profile: [...profile.values()] };
}

/**
 * Where sound remains after a piece's last timestamp the decoder goes on (no end-of-text before
 * it, native pickToken) rather than stop and cost a resumed piece its encoder pass: in steps, the
 * latest last timestamp that would resume (accept's rule).
 */
function endNotBefore(run: BatchedRun, piece: Piece): number {
  const end = run.decode.withoutTimestamps ? undefined : soundEnd(run.pcm, piece.start, piece.end, run.windows[piece.window]!);
  if (end === undefined) return 0;
  const seconds = Math.min(end - MIN_SOUND_SAMPLES, piece.end - MIN_RESUME_REST * SAMPLE_RATE) - piece.start;
  return Math.max(0, Math.floor(seconds / SAMPLE_RATE / TIMESTAMP_STEP));
}
