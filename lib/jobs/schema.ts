/**
 * The job input a RunPod worker (and the server's /run) accepts: the HF-pipeline seed's
 * `{ audio_url }` and every field of the official faster-whisper worker, so clients of either
 * switch without changes. Unknown keys are an error, never silently ignored.
 */
import { z } from 'zod';
import { DECODE_RANGES, type NumberRange } from '../decode-options.js';
import { CUE_RANGES } from '../output/cues.js';
import { WhisperServeError } from '../errors.js';
import { languageCode } from '../languages.js';
import { knownModels } from '../models/registry.js';

const TextFormat = z.enum(['plain_text', 'formatted_text', 'srt', 'vtt']);
export type TextFormat = z.infer<typeof TextFormat>;

/** A number in one of the tables of ranges (lib/decode-options.ts, lib/output/cues.ts). */
const inRange = (r: NumberRange) => {
  const n = z.number().min(r.min).max(r.max);
  return r.int ? n.int() : n;
};
const ranged = (name: keyof typeof DECODE_RANGES) => inRange(DECODE_RANGES[name]);
const rangedOrDefault = (name: 'patience' | 'lengthPenalty') => z.union([z.literal(DECODE_RANGES[name].orDefault), ranged(name)]);

export const JobInputSchema = z
  .strictObject({
    audio_url: z.string().min(1).optional(),
    audio: z.string().min(1).optional(),
    audio_base64: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
    transcription: TextFormat.default('plain_text'),
    translate: z.boolean().default(false),
    translation: TextFormat.default('plain_text'),
    /** A code (`de`), a name (`German`) or `auto`; checked against the model when the job runs. */
    language: z
      .string()
      .max(32)
      .refine((v) => v.toLowerCase() === 'auto' || languageCode(v) !== undefined, { message: 'unknown language: give a code such as "de" or a name such as "German"' })
      .nullable()
      .optional(),
    /** Detect each window's language (faster-whisper's multilingual), for recordings that switch. */
    multilingual: z.boolean().default(false),
    temperature: ranged('temperature').default(0),
    best_of: ranged('bestOf').optional(),
    beam_size: ranged('beamSize').optional(),
    patience: rangedOrDefault('patience').nullable().optional(),
    length_penalty: rangedOrDefault('lengthPenalty').nullable().optional(),
    /** faster-whisper's "-1" = the default set of non-speech symbols; whisper.cpp has exactly that switch. */
    suppress_tokens: z.union([z.string(), z.array(z.number().int())]).optional(),
    initial_prompt: z.string().nullable().optional(),
    /** Asking for it runs the job sequentially (one window after another); absent, windows run in parallel. */
    condition_on_previous_text: z.boolean().optional(),
    temperature_increment_on_fallback: ranged('temperatureIncrement').nullable().optional(),
    compression_ratio_threshold: ranged('compressionRatioThreshold').nullable().optional(),
    logprob_threshold: ranged('logprobThreshold').nullable().optional(),
    no_speech_threshold: ranged('noSpeechThreshold').nullable().optional(),
    enable_vad: z.boolean().default(false),
    word_timestamps: z.boolean().default(false),
    /** whisper-serve's own: srt/vtt cues (transcription, translation), as the CLI's --max-line-width… */
    max_line_width: inRange(CUE_RANGES.maxLineWidth).optional(),
    max_line_count: inRange(CUE_RANGES.maxLineCount).optional(),
    max_cue_seconds: inRange(CUE_RANGES.maxCueSeconds).optional(),
    /** A cue per word said, underlined; turns on word timestamps. */
    highlight_words: z.boolean().default(false),
    /** whisper-serve's own: 30 s windows decoded at once for this job (≤ the model's pool). */
    batch_size: z.number().int().min(1).optional(),
    /** whisper-serve's own: partial output, one segment a chunk as each becomes final (the server's
     * /stream/:id, the RunPod worker's stream URL); the final output is the same either way. */
    stream: z.boolean().default(false),
  })
  .superRefine((v, ctx) => {
    const given = (['audio_url', 'audio', 'audio_base64'] as const).filter((k) => v[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: given.length ? [given[1]!] : ['audio'],
        message: given.length ? `give one audio source, not ${given.join(' and ')}` : 'no audio: give audio_url, audio (a URL) or audio_base64',
      });
    }
    const st = v.suppress_tokens;
    if (st !== undefined && !suppressesNonSpeech(st) && !(Array.isArray(st) ? st.length === 0 : st.trim() === '')) {
      ctx.addIssue({ code: 'custom', path: ['suppress_tokens'], message: 'only "-1" (the non-speech symbols) or "" is supported' });
    }
  });

export type JobInput = z.infer<typeof JobInputSchema>;

export function suppressesNonSpeech(st: string | number[] | undefined): boolean {
  return Array.isArray(st) ? st.length === 1 && st[0] === -1 : st?.trim() === '-1';
}

/** Validates a job's input; the error names each offending field as `input.<field>`. */
export function parseJobInput(input: unknown): JobInput {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new WhisperServeError('INVALID_INPUT', 'input must be a JSON object');
  }
  const parsed = JobInputSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys' ? i.keys.map((field) => ({ field, message: 'unknown field' })) : [{ field: i.path.join('.'), message: i.message }],
  );
  throw new WhisperServeError('INVALID_INPUT', problems.map((p) => `input.${p.field}: ${p.message}`).join('; '), {
    details: { fields: problems.map((p) => p.field) },
  });
}

/**
 * A job's input, validated, and the audio it names. Local paths (audio or model) only where the
 * caller owns the machine (the local test mode): elsewhere they would let a caller read or probe
 * the worker's files.
 */
export function validateJob(raw: unknown, allowLocalFiles = false): { input: JobInput; source: string | { base64: string } } {
  const input = parseJobInput(raw);
  if (input.model !== undefined && !allowLocalFiles && !(input.model in knownModels())) {
    throw new WhisperServeError('INVALID_INPUT', `input.model: unknown model "${input.model}"; known: ${Object.keys(knownModels()).join(', ')}`);
  }
  return { input, source: audioSource(input, allowLocalFiles) };
}

function audioSource(input: JobInput, allowLocalFiles: boolean): string | { base64: string } {
  if (input.audio_base64 !== undefined) return { base64: input.audio_base64 };
  const field = input.audio_url !== undefined ? 'audio_url' : 'audio';
  const value = (input.audio_url ?? input.audio)!;
  if (!allowLocalFiles && !/^https?:\/\/[^/]/i.test(value)) {
    throw new WhisperServeError('INVALID_INPUT', `input.${field}: must be an http(s) URL (or send the bytes as audio_base64)`);
  }
  return value;
}
