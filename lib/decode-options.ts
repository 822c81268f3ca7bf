/**
 * THE table of decode options: every option's default lives here and nowhere else. The C++
 * side holds no defaults: it reads every field of the params it is given and refuses a missing
 * one, so a default changed here is the value whisper.cpp runs with (test/decode-options.test.ts
 * reads back what the addon received).
 */
import type { NativeDecodeParams } from './native/binding.js';

export interface DecodeOptions {
  /** Spoken language (ISO code) or 'auto'; unset: 'en' for English-only models, 'auto' for multilingual ones. */
  language: string | undefined;
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
