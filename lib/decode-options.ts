/**
 * THE table of decode options: every option's default lives here and nowhere else. The C++
 * side holds no defaults: it reads every field of the params it is given and refuses a missing
 * one, so a default changed here is the value whisper.cpp runs with (test/decode-options.test.ts
 * reads back what the addon received).
 */
import { WhisperServeError } from './errors.js';
import type { NativeDecodeParams } from './native/binding.js';

export interface DecodeOptions {
  /** Spoken language: a code (`de`) or a name (`German`), or 'auto'; unset: 'en' for English-only models, 'auto' for multilingual ones. */
  language: string | undefined;
  /**
   * Detect the language of every window, and decode each in its own (faster-whisper's
   * `multilingual`): for recordings that switch language. Off: the first window's language holds
   * for the whole file (a window that clearly speaks another is logged as a warning).
   */
  multilingual: boolean;
  /** Translate to English (multilingual models only). */
  translate: boolean;
  /** Text the decoder sees as if it came before the audio (vocabulary, spelling, style); '' for none. */
  initialPrompt: string;
  /** Sampling temperature of the first try; 0 = greedy. */
  temperature: number;
  /** Added to the temperature for each retry of a window that failed the checks below; 0 disables fallback. */
  temperatureIncrement: number;
  /** A window whose text repeats more than this retries warmer (whisper.cpp measures repetition by token entropy). */
  compressionRatioThreshold: number;
  /** A window whose average token log-probability is below this retries warmer. */
  logprobThreshold: number;
  /** Above this no-speech probability (with a low log-probability) a window counts as silence. */
  noSpeechThreshold: number;
  /** 1 = greedy; more = beam search with that many beams. */
  beamSize: number;
  /** Candidates sampled at temperature > 0 (greedy only). */
  bestOf: number;
  /** Beam search patience (-1 = whisper.cpp's own). */
  patience: number;
  /** Length penalty of beam search (-1 = whisper.cpp's own). */
  lengthPenalty: number;
  /** Word-level timings. */
  wordTimestamps: boolean;
  /** Never start a window's text with a blank. */
  suppressBlank: boolean;
  /** Suppress non-speech symbols (faster-whisper's suppress_tokens "-1"). */
  suppressNonSpeech: boolean;
  /** Never sample tokens whose text matches (whisper.cpp's suppress_regex); '' for none. */
  suppressRegex: string;
  /** Tokens per segment at most (0 = no limit). */
  maxTokensPerSegment: number;
  /**
   * Sample text tokens only (faster-whisper's without_timestamps): one segment per window and one
   * encoder pass per 30 s, where timestamps let whisper.cpp seek back into a window and re-encode.
   */
  withoutTimestamps: boolean;
  /**
   * Condition each window on the text before it (openai-whisper's default, off here as in
   * faster-whisper's batched pipeline): the windows then run in order on whisper.cpp's own
   * decoder instead of the batched engine, and a hallucinated loop can carry from window to window.
   */
  conditionOnPreviousText: boolean;
}

export const DECODE_DEFAULTS: Readonly<DecodeOptions> = Object.freeze({
  language: undefined,
  multilingual: false,
  translate: false,
  initialPrompt: '',
  temperature: 0,
  temperatureIncrement: 0.2,
  compressionRatioThreshold: 2.4,
  logprobThreshold: -1,
  noSpeechThreshold: 0.6,
  beamSize: 1,
  bestOf: 5,
  patience: -1,
  lengthPenalty: -1,
  wordTimestamps: false,
  suppressBlank: true,
  suppressNonSpeech: false,
  suppressRegex: '',
  maxTokensPerSegment: 0,
  withoutTimestamps: false,
  conditionOnPreviousText: false,
});

/** The defaults with the given options over them (an option given as undefined keeps its default). */
export function withDefaults(given: Partial<DecodeOptions>): DecodeOptions {
  const out = { ...DECODE_DEFAULTS } as DecodeOptions;
  for (const [k, v] of Object.entries(given) as Array<[keyof DecodeOptions, never]>) if (v !== undefined && k in DECODE_DEFAULTS) out[k] = v;
  return out;
}

/** How a call runs: threads per state, states at once, whisper.cpp seeking through the audio itself. */
export interface RunShape {
  threads: number;
  maxStates: number;
  sequential: boolean;
}

/** Every field the addon reads, from complete options (the addon refuses a missing one). */
export function nativeDecodeParams(o: DecodeOptions, language: string, run: RunShape): NativeDecodeParams {
  return {
    ...run,
    conditionOnPreviousText: o.conditionOnPreviousText,
    language,
    languagePerWindow: o.multilingual && language === 'auto',
    translate: o.translate,
    initialPrompt: o.initialPrompt,
    temperature: o.temperature,
    temperatureIncrement: o.temperatureIncrement,
    entropyThreshold: o.compressionRatioThreshold,
    logprobThreshold: o.logprobThreshold,
    noSpeechThreshold: o.noSpeechThreshold,
    beamSize: o.beamSize,
    bestOf: o.bestOf,
    lengthPenalty: o.lengthPenalty,
    patience: o.patience,
    wordTimestamps: o.wordTimestamps,
    suppressBlank: o.suppressBlank,
    suppressNonSpeech: o.suppressNonSpeech,
    noTimestamps: o.withoutTimestamps,
    maxTokens: o.maxTokensPerSegment,
    suppressRegex: o.suppressRegex,
  };
}

/**
 * What each numeric option may be: whisper.cpp's own limits (8 decoders at most) and ranges past
 * which a window's decoding stops being bounded (a compression-ratio threshold of 1e-300 or a
 * log-prob threshold of 1e308 fail every window, so every window retries at every temperature).
 * The job schema (lib/jobs/schema.ts) and the OpenAI route check against the same table.
 */
export const DECODE_RANGES = {
  temperature: { min: 0, max: 1 },
  temperatureIncrement: { min: 0, max: 1 },
  compressionRatioThreshold: { min: 1, max: 10 },
  logprobThreshold: { min: -20, max: 0 },
  noSpeechThreshold: { min: 0, max: 1 },
  beamSize: { min: 1, max: 8, int: true },
  bestOf: { min: 1, max: 8, int: true },
  patience: { min: 0.1, max: 10, orDefault: -1 },
  lengthPenalty: { min: 0, max: 10, orDefault: -1 },
  maxTokensPerSegment: { min: 0, max: 224, int: true },
} as const satisfies Partial<Record<keyof DecodeOptions, NumberRange>>;

/** The last characters of a prompt kept: more than whisper's 223 prompt tokens of any text; past it whisper drops the front anyway. */
export const MAX_PROMPT_CHARS = 2000;

/** One row of a table of ranges (DECODE_RANGES here, CUE_RANGES in lib/output/cues.ts). */
export interface NumberRange {
  min: number;
  max: number;
  int?: boolean;
  /** A value outside the range that means "whisper.cpp's own". */
  orDefault?: number;
}

/** Whether `v` is a number `r` takes. */
export const inNumberRange = (r: NumberRange, v: unknown): v is number =>
  typeof v === 'number' && (v === r.orDefault || (v >= r.min && v <= r.max && (!r.int || Number.isInteger(v))));

/** "an integer from 1 to 8": what `r` takes, for messages. */
export const rangeText = (r: NumberRange): string => `${r.int ? 'an integer' : 'a number'} from ${r.min} to ${r.max}`;

/** INVALID_ARGUMENT naming the first option outside DECODE_RANGES. */
export function checkDecodeOptions(o: DecodeOptions): void {
  for (const [name, r] of Object.entries(DECODE_RANGES) as Array<[keyof typeof DECODE_RANGES, NumberRange]>) {
    const v = o[name];
    if (!inNumberRange(r, v)) {
      const or = r.orDefault !== undefined ? ` (or ${r.orDefault} for whisper.cpp's own)` : '';
      throw new WhisperServeError('INVALID_ARGUMENT', `${name} must be ${rangeText(r)}${or}, got ${String(v)}`, { details: { field: name } });
    }
  }
}

/**
 * The prompt's tail (whisper keeps the end of a long prompt, the text nearest the audio), cut at a
 * word where one is near: a 100,000-character prompt overflowed the tokeniser's stack.
 */
export function boundPrompt(text: string): string {
  if (text.length <= MAX_PROMPT_CHARS) return text;
  let tail = text.slice(-MAX_PROMPT_CHARS);
  if (/^[\uDC00-\uDFFF]/.test(tail)) tail = tail.slice(1); // half of a surrogate pair
  const space = tail.search(/\s/);
  return space >= 0 && space < 200 ? tail.slice(space + 1) : tail;
}
