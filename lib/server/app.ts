/**
 * The HTTP API: RunPod's endpoint routes (/run, /runsync, /status, /cancel, /health) over a
 * durable job queue (SQLite, or PostgreSQL shared by many nodes: any node answers for any job),
 * OpenAI's audio routes, and /metrics. Plain node:http: the routes are few,
 * and every byte of a body is counted against the limit before it is kept.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { basename, join } from 'node:path';
import type { ServerConfig } from '../config.js';
import { WhisperServeError, toWhisperServeError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { ModelHost } from '../jobs/model-host.js';
import { validateJob } from '../jobs/schema.js';
import { JobStore, type StoredJob } from '../jobs/store/job-store.js';
import { nodeIdentity } from '../jobs/node-id.js';
import { Metrics } from './metrics.js';
import { openAiModels, openAiTranscription } from './openai.js';
import { publicError } from '../jobs/public-error.js';
import { JobQueue, UNREAD_STREAM_MS } from '../jobs/queue.js';
import { deliveryDeadlineMs, WEBHOOK_POLICY, WebhookOutbox, WebhookSender, webhookUrl } from './webhooks.js';

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  INVALID_INPUT: 400,
  INVALID_ARGUMENT: 400,
  MODEL_ENGLISH_ONLY: 400,
  UNSUPPORTED_FORMAT: 400,
  CORRUPT_AUDIO: 400,
  EMPTY_AUDIO: 400,
  URL_BLOCKED: 400,
  DOWNLOAD_FAILED: 400,
  DOWNLOAD_TOO_LARGE: 413,
  AUDIO_TOO_LONG: 413,
  PAYLOAD_TOO_LARGE: 413,
  INSUFFICIENT_STORAGE: 507,
  JOB_TIMEOUT: 504,
  SETUP_FAILED: 503,
  JOB_STORE_UNAVAILABLE: 503,
  DOWNLOAD_TIMEOUT: 408,
  UNAUTHORIZED: 401,
  JOB_NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  QUEUE_FULL: 429,
  ABORTED: 499,
  MODEL_DISPOSED: 503,
};

/** How long /runsync waits before answering with the job still in progress (RunPod's is 90 s). */
const RUNSYNC_WAIT_MS = 90_000;

export interface App {
  server: Server;
  store: JobStore;
  queue: JobQueue;
  /** Stops listening, lets running jobs finish within graceMs (else re-queues them), closes the store. */
  close(graceMs?: number): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** The longest a request may take to arrive, body included: 10 min (1 GiB at 1.8 MB/s). */
const REQUEST_TIMEOUT_MS = 600_000;

/** Metric labels: the known routes, everything else one `unknown` (random paths grew the label set without bound). */
const ROUTE_LABELS = new Set(['/health', '/metrics', '/run', '/runsync', '/status', '/cancel', '/stream', '/purge-queue', '/v1/audio/transcriptions', '/v1/audio/translations', '/v1/models']);
function routeLabel(path: string): string {
  const label = path.startsWith('/v1/') ? path : path.split('/').slice(0, 2).join('/');
  return ROUTE_LABELS.has(label) ? label : 'unknown';
}

async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new WhisperServeError('PAYLOAD_TOO_LARGE', `the body is over the ${maxBytes} byte limit`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new WhisperServeError('PAYLOAD_TOO_LARGE', `the body is over the ${maxBytes} byte limit`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (err) {
    throw new WhisperServeError('INVALID_INPUT', `the body is not JSON: ${(err as Error).message}`);
  }
}

/**
 * Reads and drops what is left of a request body; false when it passes `maxBytes`, breaks off,
 * or takes over 30 s (a client that drips its upload does not hold the answer forever).
 */
function discardBody(req: IncomingMessage, maxBytes: number): Promise<boolean> {
  if (req.complete) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 30_000);
    req.once('close', () => clearTimeout(timer));
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        req.pause();
        resolve(false);
      }
    });
    req.once('end', () => resolve(true));
    req.once('error', () => resolve(false));
    req.once('close', () => resolve(req.complete));
    req.resume();
  });
}

/** RunPod's job status shape; times in ms. */
function runpodErrorText(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return JSON.stringify({ error_type: e.code ?? 'INTERNAL', error_message: e.message ?? String(error) });
}

function statusBody(job: StoredJob, progress = job.progress): Record<string, unknown> {
  return {
    id: job.id,
    status: job.status,
    ...(job.status === 'IN_PROGRESS' &&
      progress && {
        progress: {
          fraction: Math.round(progress.fraction * 1000) / 1000,
          audioSeconds: Math.round(progress.audioSeconds * 10) / 10,
          audioSecondsDone: Math.round(progress.audioSecondsDone * 10) / 10,
          realtimeFactor: Math.round(progress.realtimeFactor * 10) / 10,
        },
      }),
    ...(job.startedAt !== undefined && { delayTime: job.startedAt - job.createdAt }),
    ...(job.startedAt !== undefined && job.completedAt !== undefined && { executionTime: job.completedAt - job.startedAt }),
    ...(job.output !== undefined && { output: job.output }),
    // A string, as RunPod's API returns it: the JSON text its workers post for a failed job.
    ...(job.error !== undefined && { error: runpodErrorText(job.error) }),
  };
}

/**
 * RunPod's SDKs call `{base}/{endpoint_id}/run` (base `https://api.runpod.ai/v2`): with the base
 * pointed here (with or without /v2), `/{id}/run`, `/v2/{id}/status/:job`… are the routes below.
 */
function withoutEndpointPrefix(path: string): string {
  const m = /^(?:\/v2)?\/([\w-]+)(\/(?:run|runsync|health|purge-queue|(?:status|cancel|stream)\/[\w-]+))$/.exec(path);
  return m && !['status', 'cancel', 'stream', 'v1', 'v2'].includes(m[1]!) ? m[2]! : path;
}

function authorised(req: IncomingMessage, key: string | undefined): boolean {
  if (!key) return true;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(String(req.headers.authorization ?? ''));
  if (!bearer) return false;
  const given = Buffer.from(bearer[1]!);
  const want = Buffer.from(key);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** Opens the job store JOBS_DB names, starts this node's share of the queue, and builds the server (not yet listening). */
export async function createApp(cfg: ServerConfig, host: ModelHost, log: Logger): Promise<App> {
  const webhookPolicy = { ...WEBHOOK_POLICY, timeoutMs: cfg.webhookTimeoutSeconds * 1000 };
  // Another node sends a settled job's webhook only once the settling node's delivery would have
  // ended (all attempts), with one attempt's wait to spare.
  const webhookClaimMs = deliveryDeadlineMs(webhookPolicy) + webhookPolicy.timeoutMs;
  const store = await JobStore.open(cfg.jobsDb ?? join(host.config.modelCache, 'jobs.sqlite'), { maxQueue: cfg.maxQueue, warn: (m) => log.warn(m), webhookClaimMs });
  const node = nodeIdentity(cfg.nodeName);
  log.info('job store open', { store: store.dialect, at: store.describe, node: node.owner });
  const metrics = new Metrics();
  // Finished jobs are kept JOB_TTL, then deleted (checked every tenth of it, at most a minute apart).
  const ttlMs = cfg.jobTtlSeconds * 1000;
  const purge = () =>
    store.purge(ttlMs, Math.min(ttlMs, UNREAD_STREAM_MS)).then(
      (n) => n > 0 && log.debug('finished jobs past JOB_TTL deleted', { jobs: n }),
      (err: Error) => log.warn(`job store: ${err.message}`),
    );
  const purgeTimer = setInterval(() => void purge(), Math.max(250, Math.min(ttlMs / 10, 60_000))).unref();
  await purge();
  const webhooks = new WebhookOutbox(store, new WebhookSender(host.config.allowPrivateUrls, webhookPolicy), (job) => statusBody(job), log);
  const queue = new JobQueue(store, host, log, {
    jobDone: (audioSeconds, transcribeSeconds) => metrics.jobDone(audioSeconds, transcribeSeconds),
    jobSettled: (job) => webhooks.deliver(job),
  }, { concurrency: cfg.concurrency, node, leaseMs: cfg.jobLeaseSeconds * 1000 });
  try {
    await queue.start();
  } catch (err) {
    clearInterval(purgeTimer);
    await webhooks.close(0);
    await store.close();
    throw err;
  }
  const closing = new AbortController();

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<[string, number]> {
    const method = req.method ?? 'GET';
    if (path === '/health' && method === 'GET') {
      const c = await store.counts();
      // RunPod's shape: a slot of SERVER_CONCURRENCY is a worker (ready when idle); nothing here
      // retries jobs or throttles workers.
      const idle = Math.max(cfg.concurrency - queue.active, 0);
      send(res, 200, {
        jobs: { completed: c.COMPLETED, failed: c.FAILED, cancelled: c.CANCELLED, inProgress: c.IN_PROGRESS, inQueue: c.IN_QUEUE, retried: 0 },
        workers: { idle, initializing: 0, ready: idle, running: queue.active, throttled: 0, unhealthy: 0 },
        model: host.loaded === undefined ? null : basename(host.loaded), // a name, never a server path
      });
      return ['/health', 200];
    }
    if (!authorised(req, cfg.apiKey)) throw new WhisperServeError('UNAUTHORIZED', 'send Authorization: Bearer <API_KEY>');
    if (path === '/metrics' && method === 'GET') {
      send(res, 200, metrics.render(await store.counts(), queue.active, host.loaded !== undefined), 'text/plain; version=0.0.4');
      return ['/metrics', 200];
    }
    if ((path === '/run' || path === '/runsync') && method === 'POST') {
      const body = (await readJson(req, cfg.maxUploadBytes)) as { input?: unknown; webhook?: unknown } | null;
      if (!body || typeof body !== 'object' || Array.isArray(body) || !('input' in body)) throw new WhisperServeError('INVALID_INPUT', 'the body must be {"input": {...}}');
      const unknown = Object.keys(body).filter((k) => k !== 'input' && k !== 'webhook');
      if (unknown.length > 0) {
        throw new WhisperServeError('INVALID_INPUT', `unknown top-level key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}: a job request takes "input" and "webhook"`);
      }
      validateJob(body.input); // refused now, not after queueing
      const job = await store.add(body.input, body.webhook === undefined ? undefined : webhookUrl(body.webhook, host.config.allowPrivateUrls));
      log.child(job.id).info('Job queued', { route: path });
      queue.pump();
      if (path === '/run') {
        send(res, 200, { id: job.id, status: 'IN_QUEUE' });
      } else {
        const done = await queue.waitFor(job.id, RUNSYNC_WAIT_MS);
        send(res, 200, statusBody(done ?? job));
      }
      return [path, 200];
    }
    if (path === '/purge-queue' && method === 'POST') {
      send(res, 200, { removed: await queue.purgeQueue(), status: 'completed' });
      return [path, 200];
    }
    const m = /^\/(status|cancel|stream)\/([\w-]+)$/.exec(path);
    if (m && (method === 'GET' || method === 'POST')) {
      const job = m[1] === 'cancel' ? await queue.cancel(m[2]!) : await store.get(m[2]!);
      if (!job) throw new WhisperServeError('JOB_NOT_FOUND', `no job ${m[2]}`);
      if (m[1] === 'stream') {
        // RunPod's /stream: the partial output since the last call (jobs with input.stream), each
        // chunk once; a client polls until the status is final and no chunk is left.
        send(res, 200, { id: job.id, status: job.status, stream: (await queue.takeStream(job.id)).map((output) => ({ output })) });
      } else {
        send(res, 200, statusBody(job, queue.progress(job.id) ?? job.progress));
      }
      return [`/${m[1]}`, 200];
    }
    if (path === '/v1/models' && method === 'GET') {
      send(res, 200, openAiModels(host));
      return [path, 200];
    }
    const modelId = /^\/v1\/models\/([^/]+)$/.exec(path);
    if (modelId && method === 'GET') {
      const model = openAiModels(host).data.find((m) => m.id === decodeURIComponent(modelId[1]!));
      if (!model) throw new WhisperServeError('MODEL_NOT_FOUND', `no model ${decodeURIComponent(modelId[1]!)} here; GET /v1/models lists them`);
      send(res, 200, model);
      return ['/v1/models/:id', 200];
    }
    const oa = /^\/v1\/audio\/(transcriptions|translations)$/.exec(path);
    if (oa && method === 'POST') {
      const jobLog = log.child(`oa-${randomUUID().slice(0, 8)}`);
      const ac = new AbortController();
      res.on('close', () => res.writableFinished || ac.abort());
      const signal = AbortSignal.any([ac.signal, closing.signal]);
      const openEventStream = () => {
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
        return (event: object) => res.write(`data: ${JSON.stringify(event)}\n\n`);
      };
      const task = oa[1] === 'translations' ? 'translate' : 'transcribe';
      const reply = await openAiTranscription(req, task, { host, log: jobLog, maxBytes: cfg.maxUploadBytes, signal, withSlot: (fn) => queue.withSlot(fn), counted: (a, t) => metrics.jobDone(a, t, 'openai'), openEventStream });
      if (reply === 'streamed') res.end();
      else send(res, 200, reply.body, reply.contentType);
      return [path, 200];
    }
    send(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${method} ${path}` } });
    return ['unknown', 404];
  }

  const server = createServer((req, res) => {
    const path = withoutEndpointPrefix(new URL(req.url ?? '/', 'http://x').pathname);
    // A body must keep coming: BODY_IDLE_SECONDS without a byte closes the connection (a drip of
    // one byte every few seconds held temp dirs and descriptors for minutes); the answer may then
    // take as long as the job does.
    // No callback: a socket timeout nobody listens to destroys the socket (node:http), and a
    // keep-alive socket gathers no listeners request after request.
    if (req.method === 'POST') {
      req.socket.setTimeout(cfg.bodyIdleSeconds * 1000);
      req.once('end', () => req.socket.setTimeout(0));
    }
    route(req, res, path)
      .then(([name, status]) => metrics.request(routeLabel(name), status))
      .catch(async (err: unknown) => {
        const e = toWhisperServeError(err, 'INVALID_INPUT');
        const status = STATUS_OF[e.code] ?? 500;
        metrics.request(routeLabel(path), status);
        if (status >= 500) log.error(`${req.method} ${path}: ${e.code}: ${e.message}`);
        // An event stream already open says what went wrong as its last event (OpenAI's clients
        // raise a `data` with an `error` as an APIError), then ends.
        if (res.headersSent && res.getHeader('content-type')?.toString().startsWith('text/event-stream') && !res.writableEnded) {
          return res.end(`data: ${JSON.stringify({ error: { message: publicError(e, host.config).message, type: e.code.toLowerCase(), code: e.code } })}\n\n`);
        }
        if (res.headersSent) return res.destroy();
        // OpenAI clients read error.message / error.type; RunPod-style clients read error.code.
        const shown = publicError(e, host.config);
        const error = path.startsWith('/v1/') ? { message: shown.message, type: e.code.toLowerCase(), code: e.code } : shown;
        // Answering while the client still uploads (a wrong key, a bad field, a body just over the
        // limit) would cut its upload: it sees EPIPE (the OpenAI SDK reports a connection error),
        // not our answer. So read what is left first in 30 s: at most what it declared (a body
        // just over the limit: read to its end, else the close raced its last megabytes), or
        // another MAX_UPLOAD_BYTES where it declared nothing; a body that says it is longer than
        // twice the limit is not read: the connection closes.
        const declared = Number(req.headers['content-length'] ?? 0);
        const readToEnd =
          e.code !== 'ABORTED' && declared <= 2 * cfg.maxUploadBytes && (await discardBody(req, Math.max(declared, cfg.maxUploadBytes)));
        if (!readToEnd && !req.complete) res.setHeader('Connection', 'close');
        send(res, status, { error });
      });
  });
  // Receiving a whole request (headers and body; not the answer, which a /runsync waits for) is bounded.
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = 30_000;
  return {
    server,
    store,
    queue,
    async close(graceMs = 20_000) {
      clearInterval(purgeTimer);
      server.close();
      server.closeIdleConnections();
      closing.abort();
      await queue.shutdown(graceMs);
      server.closeAllConnections();
      await webhooks.close(graceMs);
      await store.close();
    },
  };
}
