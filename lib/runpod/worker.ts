/**
 * The RunPod serverless job protocol in TypeScript (../shared/runpod/PROTOCOL.md): take a job,
 * run it, post the result with retries; a heartbeat and the stop channel run beside it.
 * One job at a time: the GPU is the unit of work, and parallelism lives inside a job (windows).
 * Nothing a job does can end the loop; only stop() (SIGTERM) or refresh_worker do.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunpodEnv } from '../config.js';
import { WhisperServeError, toWhisperServeError } from '../errors.js';
import type { Logger } from '../log.js';
import { releaseJobMemory } from '../memory.js';
import { packageRoot } from '../native/binding.js';
import { handleJob, type Job, type JobContext, type StreamedSegment } from '../jobs/handler.js';
import { HttpStatusError, withRetries } from '../net/http.js';
import type { ModelHost } from '../jobs/model-host.js';
import { logJobError } from '../jobs/public-error.js';

export interface WorkerOptions {
  env: RunpodEnv;
  host: ModelHost;
  log: Logger;
  /** Base of the back-offs (429, network errors, result retries); ms. */
  backoffMs?: number;
  /** Pause after a 204 from the stop channel, so a platform that answers at once is not hammered. */
  stopPollMs?: number;
  /** For tests and embedding: replaces handleJob. */
  handler?: (job: Job, ctx: JobContext) => Promise<unknown>;
}

type ResultPayload = { output: unknown } | { error: string };

const VERSION = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

function withQuery(url: string, query: Record<string, string>): string {
  const extra = new URLSearchParams(query).toString();
  return `${url}${url.includes('?') ? '&' : '?'}${extra}`;
}

export class RunpodWorker {
  private readonly stopping = new AbortController();
  private current: { id: string; abort: AbortController } | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly backoffMs: number;
  private done: Promise<void> | undefined;

  constructor(private readonly o: WorkerOptions) {
    if (!o.env.getJobUrl) throw new WhisperServeError('INVALID_ARGUMENT', 'RUNPOD_WEBHOOK_GET_JOB is not set: not on RunPod (use the local test mode)');
    if (!o.env.postOutputUrl) throw new WhisperServeError('INVALID_ARGUMENT', 'RUNPOD_WEBHOOK_POST_OUTPUT is not set');
    this.backoffMs = o.backoffMs ?? 1000;
  }

  /** Runs until stop() or a refresh_worker exit; never rejects because of a job. */
  run(): Promise<void> {
    this.done ??= this.loop();
    return this.done;
  }

  /** SIGTERM: take no more jobs, let the running one finish within the grace period, else abort it; its result is still posted. */
  async stop(): Promise<void> {
    if (!this.stopping.signal.aborted) {
      this.o.log.info('stopping: no more jobs taken', { running: this.current?.id ?? null, graceSeconds: this.o.env.graceSeconds });
      this.stopping.abort();
      const job = this.current;
      if (job) {
        const grace = setTimeout(() => {
          this.o.log.warn('grace period over: aborting the running job', { job: job.id });
          job.abort.abort();
        }, this.o.env.graceSeconds * 1000);
        await this.done?.finally(() => clearTimeout(grace));
      }
    }
    await this.done;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { Authorization: this.o.env.apiKey, ...extra };
  }

  private async loop(): Promise<void> {
    const { env, log } = this.o;
    log.info('RunPod worker started', { workerId: env.podId, version: VERSION, pingIntervalMs: env.pingIntervalMs });
    this.startHeartbeat();
    const stopChannel = this.watchStopChannel();
    let backoff = this.backoffMs;
    try {
      while (!this.stopping.signal.aborted) {
        let job: Job | undefined;
        try {
          job = await this.takeJob();
          backoff = this.backoffMs;
        } catch (err) {
          if (this.stopping.signal.aborted) break;
          log.warn(`job take failed, backing off ${backoff} ms: ${(err as Error).message}`);
          await sleep(backoff, this.stopping.signal);
          backoff = Math.min(backoff * 2, 30 * this.backoffMs);
          continue;
        }
        if (!job) continue;
        await this.runJob(job);
        if (env.refreshWorker) {
          log.info('refresh_worker: exiting after the job so the platform recycles this worker');
          break;
        }
      }
    } finally {
      this.stopping.abort();
      if (this.heartbeat) clearInterval(this.heartbeat);
      await stopChannel;
      log.info('RunPod worker stopped');
    }
  }

  /** One GET of the job-take URL: a job, or undefined for 204/400/no JSON. Throws to ask for back-off. */
  private async takeJob(): Promise<Job | undefined> {
    const url = withQuery(this.o.env.getJobUrl!.replaceAll('$ID', this.o.env.podId), { job_in_progress: this.current ? '1' : '0' });
    const res = await fetch(url, { headers: this.headers(), signal: this.stopping.signal });
    if (res.status === 204 || res.status === 400) {
      await res.body?.cancel();
      return undefined;
    }
    if (res.status === 429) throw new Error('429 Too Many Requests');
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const text = await res.text();
    if (!/json/.test(res.headers.get('content-type') ?? '') || text.trim() === '') return undefined;
    let job: unknown;
    try {
      job = JSON.parse(text);
    } catch {
      this.o.log.error('job take returned invalid JSON; skipped', { body: text.slice(0, 200) });
      return undefined;
    }
    const j = job as { id?: unknown; input?: unknown } | null;
    if (!j || typeof j.id !== 'string' || !j.id) {
      this.o.log.error('job without an id; skipped (no result can be posted for it)', { body: text.slice(0, 200) });
      return undefined;
    }
    return { id: j.id, input: j.input };
  }

  private async runJob(job: Job): Promise<void> {
    const log = this.o.log.child(job.id);
    const abort = new AbortController();
    this.current = { id: job.id, abort };
    const started = performance.now();
    let payload: ResultPayload;
    // Partial output (input.stream), one POST per segment to the stream URL, in order; the
    // result is posted after the last of them.
    let partials = Promise.resolve();
    const streamUrl = this.o.env.postStreamUrl;
    const onSegment = (segment: StreamedSegment) => {
      partials = partials.then(() => this.post(streamUrl!, job.id, { output: segment }, true, log));
    };
    try {
      if (job.input === undefined) throw new WhisperServeError('INVALID_INPUT', 'the job has no "input" object');
      const output = await (this.o.handler ?? handleJob)(job, { host: this.o.host, log, signal: abort.signal, ...(streamUrl && { onSegment }) });
      payload = { output };
    } catch (err) {
      const e = toWhisperServeError(err);
      logJobError(log, e);
      payload = { error: this.errorText(e, err) };
    }
    const body: Record<string, unknown> = { ...payload, ...(this.o.env.refreshWorker && { stopPod: true }) };
    await partials;
    await this.post(this.o.env.postOutputUrl!, job.id, body, false, log);
    this.current = undefined;
    releaseJobMemory();
    log.debug('result posted', { seconds: Math.round(performance.now() - started) / 1000, ok: 'output' in payload });
  }

  private errorText(e: WhisperServeError, original: unknown): string {
    return JSON.stringify({
      error_type: e.code,
      error_message: e.message,
      error_traceback: original instanceof Error && original.stack ? original.stack : '',
      hostname: this.o.env.hostname,
      worker_id: this.o.env.podId,
    });
  }

  /** POST a result or a partial with the protocol's headers; retried 3 times with Fibonacci back-off (1, 1, 2 × base). */
  private async post(urlTemplate: string, jobId: string, body: Record<string, unknown>, isStream: boolean, log: Logger): Promise<void> {
    const url = withQuery(urlTemplate.replaceAll('$ID', jobId).replaceAll('$RUNPOD_POD_ID', this.o.env.podId), { isStream: String(isStream) });
    const text = JSON.stringify(body);
    if (text.length > 20 * 1024 * 1024) log.warn('result is over 20 MB; RunPod may refuse it (ask for plain_text without segments)', { bytes: text.length });
    const what = isStream ? 'partial output' : 'result';
    const delays = [1, 1, 2]; // × backoffMs: the SDK's Fibonacci back-off
    await withRetries(
      async () => {
        const res = await fetch(url, {
          method: 'POST',
          headers: this.headers({ 'Content-Type': 'application/x-www-form-urlencoded', 'X-Request-ID': jobId }),
          body: text,
        });
        await res.body?.cancel();
        if (!res.ok) throw new HttpStatusError(res.status);
      },
      {
        attempts: delays.length + 1,
        delayMs: (n) => delays[n - 2]! * this.backoffMs,
        retryable: () => true, // the platform's answer may be a 4xx while it catches up: try every time
        onRetry: (err, n) => log.warn(`${what} post failed (${(err as Error).message}); retry ${n - 1}/${delays.length}`),
      },
    ).catch((err: unknown) => log.error(`${what} post failed ${delays.length + 1} times; giving up: ${(err as Error).message}`));
  }

  private startHeartbeat(): void {
    const { pingUrl, podId, pingIntervalMs } = this.o.env;
    if (!pingUrl) return;
    const ping = () => {
      const url = withQuery(pingUrl.replaceAll('$RUNPOD_POD_ID', podId), { job_id: this.current?.id ?? '', runpod_version: `whisper-serve/${VERSION}` });
      fetch(url, { headers: this.headers(), signal: AbortSignal.timeout(Math.max(pingIntervalMs, 1000)) })
        .then((res) => res.body?.cancel())
        .catch((err: Error) => this.o.log.debug(`heartbeat failed: ${err.message}`));
    };
    ping();
    this.heartbeat = setInterval(ping, pingIntervalMs);
  }

  /** The stop channel: job-take → job-stop, long-polled; `{"jobsToStop": [...]}` aborts those jobs. */
  private async watchStopChannel(): Promise<void> {
    const take = this.o.env.getJobUrl!;
    if (!take.includes('/job-take/')) return;
    const url = take.replace('/job-take/', '/job-stop/').replaceAll('$ID', this.o.env.podId);
    while (!this.stopping.signal.aborted) {
      try {
        const res = await fetch(url, { headers: this.headers(), signal: this.stopping.signal });
        if (res.status === 404) {
          this.o.log.debug('the platform has no stop channel');
          return;
        }
        const body = res.status === 200 ? ((await res.json()) as { jobsToStop?: unknown }) : (await res.body?.cancel(), {});
        const ids = Array.isArray(body.jobsToStop) ? body.jobsToStop : [];
        if (this.current && ids.includes(this.current.id)) {
          this.o.log.child(this.current.id).info('stop signal: aborting the job');
          this.current.abort.abort();
        }
        if (!ids.length) await sleep(this.o.stopPollMs ?? 1000, this.stopping.signal);
      } catch (err) {
        if (this.stopping.signal.aborted) return;
        this.o.log.debug(`stop channel: ${(err as Error).message}`);
        await sleep(this.backoffMs, this.stopping.signal);
      }
    }
  }
}
