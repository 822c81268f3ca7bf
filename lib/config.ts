/** Every environment variable whisper-serve reads, in one place, typed, with its default. */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from './native/binding.js';

export type GpuMode = 'auto' | 'required' | 'off';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

function intEnv(name: string, env: NodeJS.ProcessEnv): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

export interface Config {
  /** MODEL_BATCH_SIZE: 30 s windows decoded at once; default from VRAM (GPU) or cores (CPU). */
  batchSize: number | undefined;
  /** WHISPER_THREADS: CPU threads in all; default: every core. */
  threads: number;
  /** WHISPER_MODEL: model name or path; default tiny.en. */
  model: string;
  /** WHISPER_MODEL_CACHE: where named models live; default models/ in the package. */
  modelCache: string;
  /** WHISPER_GPU: auto (use CUDA when built and present), required (fail without), off. */
  gpu: GpuMode;
  /** WHISPER_VAD_MODEL: Silero ggml model for --vad; default ../shared/models' when present. */
  vadModel: string | undefined;
  /** FFMPEG_PATH: an ffmpeg binary to use before any other. */
  ffmpegPath: string | undefined;
  /** LOG_LEVEL and LOG_FORMAT (text | json). */
  logLevel: LogLevel;
  logFormat: 'text' | 'json';
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const gpu = (env.WHISPER_GPU ?? 'auto').toLowerCase();
  const level = (env.LOG_LEVEL ?? 'info').toLowerCase();
  return {
    batchSize: intEnv('MODEL_BATCH_SIZE', env),
    threads: intEnv('WHISPER_THREADS', env) ?? availableParallelism(),
    model: env.WHISPER_MODEL || 'tiny.en',
    modelCache: env.WHISPER_MODEL_CACHE || join(packageRoot, 'models'),
    gpu: gpu === 'required' || gpu === 'off' ? gpu : 'auto',
    vadModel: env.WHISPER_VAD_MODEL || undefined,
    ffmpegPath: env.FFMPEG_PATH || undefined,
    logLevel: (['debug', 'info', 'warn', 'error'] as const).find((l) => l === level) ?? 'info',
    logFormat: env.LOG_FORMAT === 'json' ? 'json' : 'text',
  };
}
