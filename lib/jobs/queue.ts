/**
 * Runs the stored jobs: at most `concurrency` at once (they share the model's pool of states),
 * oldest first. Direct requests (OpenAI uploads) take a slot from the same `concurrency`, ahead
 * of queued jobs. Cancel aborts a running job; shutdown lets running jobs finish within a grace
 * period and puts the rest back in the queue for the next start.
 */
import { EventEmitter } from 'node:events';
import { toWhisperServeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Progress } from '../whisper.js';
import { releaseJobMemory } from '../memory.js';
import { handleJob, type JobOutput, type StreamedSegment } from './handler.js';
import type { ModelHost } from './model-host.js';
import type { JobStore, StoredJob } from './store.js';
import { logJobError, publicError } from './public-error.js';

/** What the queue tells whoever listens (the server's /metrics, its webhooks) about jobs. */
export interface JobEvents {
  jobDone(audioSeconds: number, transcribeSeconds: number): void;
  /** A job ended: completed, failed, or cancelled (queued or running). */
  jobSettled(job: StoredJob): void;
}

interface RunningJob {
  abort: AbortController;
  /** Aborted by a shutdown: back to the queue rather than FAILED. */
  requeue: boolean;
  progress?: Progress;
  /** Partial output not yet read through /stream (jobs that asked for `stream`). */
  chunks: StreamedSegment[];
}

/** How long a finished job's unread partial output waits for its reader. */
const UNREAD_STREAM_MS = 10 * 60_000;

export class JobQueue {
  private readonly running = new Map<string, RunningJob>();
  /** Finished jobs' partial output not read yet (the last chunks before they ended). */
  private readonly unread = new Map<string, StreamedSegment[]>();
  private readonly settled = new EventEmitter();
  private stopping = false;
  /** Pending waitFor calls, answered at shutdown at the latest. */
  private readonly waiters = new Set<() => void>();
  private readonly runs = new Set<Promise<void>>();
  /** Slots held by direct requests, and the direct requests waiting for one. */
  private direct = 0;
  private readonly slotWaiters: Array<() => void> = [];

  constructor(
    private readonly store: JobStore,
    private readonly host: ModelHost,
    private readonly log: Logger,
    private readonly events: JobEvents,
    private readonly concurrency: number,
  ) {
    this.settled.setMaxListeners(0);
  }

  /** A job's partial output since the last call (RunPod's /stream: each chunk is read once). */
  takeStream(id: string): StreamedSegment[] {
    const running = this.running.get(id);
    if (running) return running.chunks.splice(0);
    const chunks = this.unread.get(id) ?? [];
    this.unread.delete(id);
    return chunks;
  }

  /** How far a running job's transcription is, when it has started transcribing. */
  progress(id: string): Progress | undefined {
    return this.running.get(id)?.progress;
  }

  get active(): number {
    return this.running.size + this.direct;
  }

  /** Starts jobs while slots are free. Called on submit, on each finish, and at start. */
  pump(): void {
    while (!this.stopping && this.active < this.concurrency && this.slotWaiters.length === 0) {
      const job = this.store.take();
      if (!job) return;
      this.start(job);
    }
  }

  private start(job: StoredJob): void {
    const entry: RunningJob = { abort: new AbortController(), requeue: false, chunks: [] };
    this.running.set(job.id, entry);
    const log = this.log.child(job.id);
    const onProgress = (p: Progress) => (entry.progress = p);
    const onSegment = (s: StreamedSegment) => entry.chunks.push(s);
    const run = handleJob({ id: job.id, input: job.input }, { host: this.host, log, signal: entry.abort.signal, onProgress, onSegment })
      .then((output: JobOutput) => {
        this.events.jobDone(output.duration, output.timings.transcribe ?? 0);
        if (!this.store.finish(job.id, { output })) log.info('Job finished after it was cancelled; result dropped');
        else this.settle(job.id);
      })
      .catch((err: unknown) => {
        if (entry.requeue) {
          this.store.requeue(job.id);
          log.info('Job put back in the queue for the next start');
          return;
        }
        const e = toWhisperServeError(err);
        logJobError(log, e);
        if (this.store.finish(job.id, { error: publicError(e, this.host.config) })) this.settle(job.id);
      })
      .finally(() => {
        this.running.delete(job.id);
        if (entry.chunks.length > 0 && !entry.requeue) {
          this.unread.set(job.id, entry.chunks);
          setTimeout(() => this.unread.delete(job.id), UNREAD_STREAM_MS).unref();
        }
        this.settled.emit(job.id);
        this.freeSlot();
      });
    this.runs.add(run);
    void run.finally(() => this.runs.delete(run));
  }

  /** Runs `fn` in one of the slots shared with queued jobs; waits for one when all are busy. */
  async withSlot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.concurrency) await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    else this.direct++;
    try {
      return await fn();
    } finally {
      this.direct--;
      this.freeSlot();
    }
  }

  /** A slot came free (a job ended, its audio with it): a waiting direct request gets it first (counted for it here), else the queue. */
  private freeSlot(): void {
    releaseJobMemory();
    const next = this.slotWaiters.shift();
    if (next) {
      this.direct++;
      next();
    } else {
      this.pump();
    }
  }

  /** Resolves when the job leaves IN_QUEUE/IN_PROGRESS, or after timeoutMs. */
  waitFor(id: string, timeoutMs: number): Promise<StoredJob | undefined> {
    return new Promise((resolve) => {
      const check = () => {
        const job = this.store.get(id);
        if (!job || (job.status !== 'IN_QUEUE' && job.status !== 'IN_PROGRESS')) finish(job);
      };
      const finish = (job: StoredJob | undefined) => {
        clearTimeout(timer);
        this.settled.off(id, check);
        this.waiters.delete(onShutdown);
        resolve(job);
      };
      const onShutdown = () => finish(this.store.get(id));
      const timer = setTimeout(onShutdown, timeoutMs);
      this.settled.on(id, check);
      this.waiters.add(onShutdown);
      check();
    });
  }

  cancel(id: string): StoredJob | undefined {
    if (this.store.cancel(id)) {
      this.running.get(id)?.abort.abort();
      this.settle(id);
    }
    return this.store.get(id);
  }

  /** Cancels every queued job (running ones go on); returns how many. */
  purgeQueue(): number {
    const ids = this.store.purgeQueue();
    ids.forEach((id) => this.settle(id));
    return ids.length;
  }

  private settle(id: string): void {
    const job = this.store.get(id);
    if (job) this.events.jobSettled(job);
  }

  /** Graceful stop: no new jobs; running ones get graceMs, then are aborted and re-queued. */
  async shutdown(graceMs: number): Promise<void> {
    this.stopping = true;
    const timer = setTimeout(() => {
      for (const [id, entry] of this.running) {
        this.log.child(id).warn('shutdown grace period over: aborting the job');
        entry.requeue = true;
        entry.abort.abort();
      }
    }, graceMs);
    await Promise.all(this.runs);
    clearTimeout(timer);
    [...this.waiters].forEach((answer) => answer());
    // Direct requests still waiting run now against the aborted server signal, and fail fast.
    for (const next of this.slotWaiters.splice(0)) {
      this.direct++;
      next();
    }
  }
}
