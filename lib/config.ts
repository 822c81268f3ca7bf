/** Every environment variable whisper-serve reads, in one place, typed, with its default. */
import { randomUUID } from 'node:crypto';
import { availableParallelism, homedir, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { WhisperServeError } from './errors.js';

export type GpuMode = 'auto' | 'required' | 'off';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One of `choices` from env[name], the default where unset; anything else is refused by name. */
function choiceEnv<K extends 'matrices' | 'crossCache' | 'encoderKernels'>(name: string, key: K, choices: readonly Config[K][], env: NodeJS.ProcessEnv): Config[K] {
  const raw = env[name];
  if (!raw) return DEFAULTS[key];
  const choice = choices.find((c) => c === raw);
  if (choice === undefined) throw new WhisperServeError('INVALID_ARGUMENT', `${name} must be ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}, got "${raw}"`);
  return choice;
}

function intEnv(name: string, env: NodeJS.ProcessEnv): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new WhisperServeError('INVALID_ARGUMENT', `${name} must be a positive integer, got "${raw}"`);
  return n;
}

/** ALLOW_PRIVATE_URLS: which non-public addresses URLs may reach (metadata ones never). */
export type PrivateUrlPolicy = 'all' | 'none' | string[];

function privateUrlPolicy(raw: string | undefined): PrivateUrlPolicy {
  const v = (raw ?? '').trim();
  if (v === '' || v === '0' || v === 'false') return 'none';
  if (v === '1' || v === 'true') return 'all';
  const list = v.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = list.find((c) => !ipaddr.isValid(c) && !ipaddr.isValidCIDR(c));
  if (bad) throw new WhisperServeError('INVALID_ARGUMENT', `ALLOW_PRIVATE_URLS must be 1, 0, or a comma list of addresses/CIDRs, got "${bad}"`);
  return list;
}

export interface Config {
  /** MODEL_BATCH_SIZE: 30 s windows decoded at once; default from VRAM (GPU) or cores (CPU). */
  batchSize: number | undefined;
  /** ENCODER_BATCH_SIZE: new windows per encoder pass on a GPU (default 16; the CPU encodes one at a time). */
  encoderBatchSize: number | undefined;
  /** WHISPER_THREADS: CPU threads in all; default: every core. */
  threads: number;
  /** WHISPER_MODEL: model name or path; default tiny.en. */
  model: string;
  /**
   * WHISPER_MODEL_CACHE: where named models are downloaded to and looked for; default
   * $XDG_CACHE_HOME/whisper-serve/models, else ~/.cache/whisper-serve/models (outside
   * node_modules: a reinstall keeps them). The package's own models/ is looked in after it.
   */
  modelCache: string;
  /** WHISPER_MODEL_DOWNLOAD: a named model missing from the cache is downloaded on first use (1); 0: MODEL_NOT_FOUND instead. */
  modelDownload: boolean;
  /** WHISPER_GPU: auto (use CUDA when built and present), required (fail without), off. */
  gpu: GpuMode;
  /** WHISPER_VAD_MODEL: Silero ggml model for --vad; default: found by name in the cache (lib/vad.ts). */
  vadModel: string | undefined;
  /** WHISPER_MODEL_MIRROR: base URL models are downloaded from (`<mirror>/<file>`) instead of the registry's URLs. */
  modelMirror: string | undefined;
  /** MAX_AUDIO_BYTES: the largest audio download (checked against Content-Length and while streaming). */
  maxAudioBytes: number;
  /**
   * MAX_AUDIO_SECONDS: the longest audio decoded (24 h): checked against the container's duration
   * before decoding and enforced while decoding, so a small file cannot ask for gigabytes of PCM
   * (16 kHz float PCM is 230 MB an hour).
   */
  maxAudioSeconds: number;
  /** DOWNLOAD_IDLE_SECONDS: a download that sends under 1 KiB in this long (nothing, or a drip) fails (30). */
  downloadIdleSeconds: number;
  /** ALLOW_PRIVATE_URLS: `1` = URLs may reach private/loopback addresses, or a comma list of CIDRs; default none. */
  allowPrivateUrls: PrivateUrlPolicy;
  /** WHISPER_SERVE_TMP: parent of the per-job temp dirs. */
  tempRoot: string;
  /** FFMPEG_PATH: an ffmpeg binary to use before any other (its ffprobe beside it or on PATH). */
  ffmpegPath: string | undefined;
  /** FFMPEG_DIR: where `whisper-serve ffmpeg install` puts its ffmpeg/ffprobe pair (<user cache>/ffmpeg). */
  ffmpegDir: string;
  /**
   * IDLE_TIMEOUT: seconds without a job after which a server or worker unloads its model (0 =
   * never); unset: the shell's default (DEFAULT_IDLE_TIMEOUT).
   */
  idleTimeoutSeconds: number | undefined;
  /**
   * JOB_TIMEOUT: seconds a server or worker job may run (0 = no limit); unset: 120 s plus 10 s per
   * second of audio known so far (declared by the container, or decoded), so a steady job is never
   * cut and a stuck one ends (lib/jobs/job-timeout.ts).
   */
  jobTimeoutSeconds: number | undefined;
  /**
   * MULTILINGUAL: `1` = the OpenAI routes detect each window's language (faster-whisper's
   * multilingual) where a request names none and the model is multilingual; default off.
   */
  multilingual: boolean;
  /**
   * WHISPER_SERVE_PROFILE: `1` = the batched engine times every graph node and logs where the
   * time went, op by op (bench/profile.mjs); slower, for measuring only.
   */
  engineProfile: boolean;
  /**
   * WHISPER_SERVE_REPACK: `0` = q4_0 and q8_0 weights stay in ggml's plain layout on the CPU;
   * default: the layouts of its own kernels (q4_0 interleaved for its AVX2/AVX-512 GEMM, ~2× the
   * products' rate; q8_0 in AMX tiles where the CPU has AMX, ~3× in the encoder).
   */
  repackWeights: boolean;
  /**
   * WHISPER_SERVE_MATRICES: `q8_0` = the batched engine on the CPU quantises an f16 model's
   * matrices to q8_0 as they load, for ggml's kernels; `int8` = copies quantised and packed at load
   * for our product op in AVX512-VNNI or AVX2 (both as faster-whisper's `compute_type="int8"`);
   * `file` = as the file has them (f16, bf16 on AVX512-BF16); default `auto`: q8_0 where the CPU
   * has AMX's int8 tiles (3× bf16's products there), int8 where it has AVX512-VNNI or AVX2 but no
   * AVX512-BF16, else the file's (lib/device.ts).
   */
  matrices: 'auto' | 'file' | 'q8_0' | 'int8';
  /**
   * WHISPER_SERVE_CROSS_CACHE: the type the batched engine keeps each window's cross-attention
   * keys/values in: `bf16` (packed for our cross-attention kernel, native/cross_attention.cc;
   * AVX512-BF16, or AVX2 and FMA; the decoder ~2× faster), `q8_0` or `f16` (ggml's fused attention
   * reads them); default `auto`: bf16 on a CPU with either, q8_0 on others, f16 on a GPU
   * (lib/device.ts).
   */
  crossCache: 'auto' | 'f16' | 'q8_0' | 'bf16';
  /**
   * WHISPER_SERVE_ENCODER_KERNELS: the encoder on the CPU: `amx-bf16` = our attention
   * (native/encoder_attention.cc) and matrix products (native/bf16_linear.cc, the encoder's
   * matrices kept bf16) in AMX tiles; `avx512-bf16` = the same in AVX-512 registers; `avx2` = our
   * attention alone, its bf16 keys and values widened for FMA (in AVX-512F registers where the CPU
   * has them; the products stay ggml's or WHISPER_SERVE_MATRICES's int8); `ggml` = ggml's fused
   * attention (f32) and products. bf16 products, f32 sums. With the first two the decoder's bf16
   * matrices are packed once at load for the same product op (in registers). Default `auto`: the
   * first of those the CPU has (lib/device.ts).
   */
  encoderKernels: 'auto' | 'ggml' | 'avx2' | 'avx512-bf16' | 'amx-bf16';
  /** LOG_LEVEL and LOG_FORMAT (text | json). */
  logLevel: LogLevel;
  logFormat: 'text' | 'json';
}

/** What the RunPod platform sets for a worker (../shared/runpod/PROTOCOL.md). */
export interface RunpodEnv {
  /** RUNPOD_WEBHOOK_GET_JOB: unset = not on RunPod (local test mode). */
  getJobUrl: string | undefined;
  postOutputUrl: string | undefined;
  /** RUNPOD_WEBHOOK_POST_STREAM: where partial output goes (jobs with input.stream). */
  postStreamUrl: string | undefined;
  pingUrl: string | undefined;
  /** RUNPOD_PING_INTERVAL, ms. */
  pingIntervalMs: number;
  apiKey: string;
  podId: string;
  hostname: string;
  /** RUNPOD_REFRESH_WORKER=1: ask to be recycled after each job (stopPod) and exit. */
  refreshWorker: boolean;
  /** RUNPOD_GRACE_SECONDS: on SIGTERM, how long the running job may go on before it is aborted. */
  graceSeconds: number;
}

export function readRunpodEnv(env: NodeJS.ProcessEnv = process.env): RunpodEnv {
  return {
    getJobUrl: env.RUNPOD_WEBHOOK_GET_JOB || undefined,
    postOutputUrl: env.RUNPOD_WEBHOOK_POST_OUTPUT || undefined,
    postStreamUrl: env.RUNPOD_WEBHOOK_POST_STREAM || undefined,
    pingUrl: env.RUNPOD_WEBHOOK_PING || undefined,
    pingIntervalMs: intEnv('RUNPOD_PING_INTERVAL', env) ?? 10_000,
    apiKey: env.RUNPOD_AI_API_KEY ?? '',
    podId: env.RUNPOD_POD_ID || randomUUID(),
    hostname: env.RUNPOD_POD_HOSTNAME || hostname(),
    refreshWorker: env.RUNPOD_REFRESH_WORKER === '1' || env.RUNPOD_REFRESH_WORKER === 'true',
    graceSeconds: intEnv('RUNPOD_GRACE_SECONDS', env) ?? 20,
  };
}

/** The HTTP server's settings. */
export interface ServerConfig {
  /** HOST, PORT: where `whisper-serve serve` listens (127.0.0.1:8000). */
  host: string;
  port: number;
  /** API_KEY: when set, every route but /health needs `Authorization: Bearer <key>`. */
  apiKey: string | undefined;
  /**
   * JOBS_DB: where accepted jobs are kept: a SQLite file (default <model cache>/jobs.sqlite; the
   * servers of one machine may share it), or `postgres://user:pass@host:5432/db?sslmode=require`
   * for servers on many machines sharing one queue.
   */
  jobsDb: string | undefined;
  /** NODE_NAME: this machine's name in job leases (default the host name); must differ between machines. */
  nodeName: string;
  /** JOB_LEASE_SECONDS: a claimed job is another node's to take this long after its node stops renewing the claim (30). */
  jobLeaseSeconds: number;
  /** MAX_QUEUE: accepted jobs waiting at most; more get 429. */
  maxQueue: number;
  /**
   * SERVER_CONCURRENCY: transcriptions at once, queued jobs and OpenAI uploads alike (8): they take
   * turns on the model's engine two batches at a time, so a short job runs beside long ones instead
   * of after them. 8 = the CPU batch: as many jobs as a batch has windows, each holding one block
   * of its audio (lib/pcm-blocks.ts: 38 MB on the CPU), not the whole file.
   */
  concurrency: number;
  /** MAX_UPLOAD_BYTES: request body limit (uploads and JSON). */
  maxUploadBytes: number;
  /** SHUTDOWN_GRACE_SECONDS: on SIGTERM, how long running jobs may go on before they are re-queued. */
  shutdownGraceSeconds: number;
  /** JOB_TTL: seconds a finished job stays answerable on /status before it is deleted (24 h). */
  jobTtlSeconds: number;
  /**
   * BODY_IDLE_SECONDS: a request body that sends nothing for this long closes its connection (30):
   * a drip of a byte every few seconds held temp dirs and descriptors for minutes.
   */
  bodyIdleSeconds: number;
  /** WEBHOOK_TIMEOUT_SECONDS: one webhook attempt's wait for the receiver's answer (10; 3 attempts). */
  webhookTimeoutSeconds: number;
}

/** The batched engine's windows at once on the CPU (faster-whisper's batch; more cost cache memory, not threads): lib/device.ts. */
export const CPU_BATCH = 8;

/** Transcriptions at once by default: one per window of the CPU batch. */
const DEFAULT_SERVER_CONCURRENCY = CPU_BATCH;

export function readServerConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  return {
    host: env.HOST || '127.0.0.1',
    port: intEnv('PORT', env) ?? 8000,
    apiKey: env.API_KEY || undefined,
    jobsDb: env.JOBS_DB || undefined,
    nodeName: env.NODE_NAME || hostname(),
    jobLeaseSeconds: intEnv('JOB_LEASE_SECONDS', env) ?? 30,
    maxQueue: intEnv('MAX_QUEUE', env) ?? 1000,
    concurrency: intEnv('SERVER_CONCURRENCY', env) ?? DEFAULT_SERVER_CONCURRENCY,
    maxUploadBytes: intEnv('MAX_UPLOAD_BYTES', env) ?? 1024 ** 3,
    shutdownGraceSeconds: intEnv('SHUTDOWN_GRACE_SECONDS', env) ?? 20,
    jobTtlSeconds: intEnv('JOB_TTL', env) ?? 86_400,
    bodyIdleSeconds: intEnv('BODY_IDLE_SECONDS', env) ?? 30,
    webhookTimeoutSeconds: intEnv('WEBHOOK_TIMEOUT_SECONDS', env) ?? 10,
  };
}

/**
 * IDLE_TIMEOUT's defaults: the HTTP server gives the model's memory back after 10 min without a
 * job; a RunPod worker keeps it (the platform bills the worker, loaded or not, and scales idle
 * workers down itself); the CLI never idles.
 */
export const DEFAULT_IDLE_TIMEOUT = { server: 600, worker: 0 } as const;

/** PRELOAD=1: load the model at start instead of on the first job. */
export function preloadWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.PRELOAD === '1' || env.PRELOAD === 'true';
}

/**
 * Every setting's default, the environment aside: readConfig lays the environment over it, and
 * the modules below fall back to it where a caller passes nothing. Only the CLI's commands
 * (lib/cli) and the library's entry (lib/api.ts) read the environment, once, and pass what they
 * read down: the server and the worker get it from the command that starts them
 * (docs/architecture.md; a lint rule keeps it so).
 */
/** The user's cache folder: $XDG_CACHE_HOME/whisper-serve, else ~/.cache/whisper-serve. */
function userCache(xdgCacheHome: string | undefined): string {
  return join(xdgCacheHome || join(homedir(), '.cache'), 'whisper-serve');
}

export const DEFAULTS: Readonly<Config> = {
  batchSize: undefined,
  encoderBatchSize: undefined,
  threads: availableParallelism(),
  model: 'tiny.en',
  modelCache: join(userCache(process.env.XDG_CACHE_HOME), 'models'),
  modelDownload: true,
  modelMirror: undefined,
  maxAudioBytes: 2 * 1024 ** 3,
  maxAudioSeconds: 24 * 3600,
  downloadIdleSeconds: 30,
  allowPrivateUrls: 'none',
  tempRoot: join(tmpdir(), 'whisper-serve'),
  gpu: 'auto',
  vadModel: undefined,
  ffmpegPath: undefined,
  ffmpegDir: join(userCache(process.env.XDG_CACHE_HOME), 'ffmpeg'),
  idleTimeoutSeconds: undefined,
  jobTimeoutSeconds: undefined,
  multilingual: false,
  engineProfile: false,
  repackWeights: true,
  matrices: 'auto',
  crossCache: 'auto',
  encoderKernels: 'auto',
  logLevel: 'info',
  logFormat: 'text',
};

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const gpu = (env.WHISPER_GPU ?? DEFAULTS.gpu).toLowerCase();
  const level = (env.LOG_LEVEL ?? DEFAULTS.logLevel).toLowerCase();
  return {
    batchSize: intEnv('MODEL_BATCH_SIZE', env),
    encoderBatchSize: intEnv('ENCODER_BATCH_SIZE', env),
    threads: intEnv('WHISPER_THREADS', env) ?? DEFAULTS.threads,
    model: env.WHISPER_MODEL || DEFAULTS.model,
    modelCache: env.WHISPER_MODEL_CACHE || join(userCache(env.XDG_CACHE_HOME), 'models'),
    modelDownload: !['0', 'false'].includes(env.WHISPER_MODEL_DOWNLOAD ?? ''),
    modelMirror: env.WHISPER_MODEL_MIRROR || undefined,
    maxAudioBytes: intEnv('MAX_AUDIO_BYTES', env) ?? DEFAULTS.maxAudioBytes,
    maxAudioSeconds: intEnv('MAX_AUDIO_SECONDS', env) ?? DEFAULTS.maxAudioSeconds,
    downloadIdleSeconds: intEnv('DOWNLOAD_IDLE_SECONDS', env) ?? DEFAULTS.downloadIdleSeconds,
    allowPrivateUrls: privateUrlPolicy(env.ALLOW_PRIVATE_URLS),
    tempRoot: env.WHISPER_SERVE_TMP || DEFAULTS.tempRoot,
    gpu: gpu === 'required' || gpu === 'off' ? gpu : 'auto',
    vadModel: env.WHISPER_VAD_MODEL || undefined,
    ffmpegPath: env.FFMPEG_PATH || undefined,
    ffmpegDir: env.FFMPEG_DIR || join(userCache(env.XDG_CACHE_HOME), 'ffmpeg'),
    idleTimeoutSeconds: intEnv('IDLE_TIMEOUT', env),
    jobTimeoutSeconds: env.JOB_TIMEOUT === '0' ? 0 : intEnv('JOB_TIMEOUT', env),
    multilingual: env.MULTILINGUAL === '1' || env.MULTILINGUAL === 'true',
    engineProfile: env.WHISPER_SERVE_PROFILE === '1',
    repackWeights: env.WHISPER_SERVE_REPACK !== '0',
    matrices: choiceEnv('WHISPER_SERVE_MATRICES', 'matrices', ['auto', 'file', 'q8_0', 'int8'], env),
    crossCache: choiceEnv('WHISPER_SERVE_CROSS_CACHE', 'crossCache', ['auto', 'f16', 'q8_0', 'bf16'], env),
    encoderKernels: choiceEnv('WHISPER_SERVE_ENCODER_KERNELS', 'encoderKernels', ['auto', 'ggml', 'avx2', 'avx512-bf16', 'amx-bf16'], env),
    logLevel: (['debug', 'info', 'warn', 'error'] as const).find((l) => l === level) ?? DEFAULTS.logLevel,
    logFormat: env.LOG_FORMAT === 'json' ? 'json' : DEFAULTS.logFormat,
  };
}
