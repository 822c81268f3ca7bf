/**
 * Runs stored jobs on this node: at most `concurrency` at once (they share the model's pool of
 * states), oldest first, claimed from a store other nodes may share. Every second the node
 * renews the leases of the jobs it runs (a job no longer held, cancelled anywhere or taken over,
 * is aborted here) and writes their progress; every third of a lease it hands jobs of dead nodes
 * back to the queue. Direct requests (OpenAI uploads) take a slot from the same `concurrency`,
 * ahead of queued jobs. Shutdown lets running jobs finish within a grace period, then puts them
 * back in the queue for any node.
 */
import { EventEmitter } from 'node:events';
import { toWhisperServeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Progress } from '../whisper.js';
import { releaseJobMemory } from '../memory.js';
import { handleJob, type JobOutput, type StreamedSegment } from './handler.js';
import type { ModelHost } from './model-host.js';
import type { NodeIdentity } from './node-id.js';
import type { JobStore, StoredJob } from './store/job-store.js';
import { logJobError, publicError } from './public-error.js';

/** What the queue tells whoever listens (the server's /metrics, its webhooks) about jobs. */
export interface JobEvents {
  jobDone(audioSeconds: number, transcribeSeconds: number): void;
  /** A job ended on this node's say: completed, failed, cancelled (queued or running), or crashed. */
  jobSettled(job: StoredJob): void;
}

export interface QueueOptions {
  concurrency: number;
  node: NodeIdentity;
  /** How long a claim holds without renewal (JOB_LEASE_SECONDS): a dead node's jobs wait this long for another. */
  leaseMs: number;
}

interface RunningJob {
  abort: AbortController;
  /** Aborted by a shutdown: back to the queue rather than FAILED. */
  requeue: boolean;
  progress?: Progress;
  /** Whether `progress` changed since it was last written to the store. */
  progressDirty: boolean;
  /** Streamed segments' writes, in order: awaited before the job's end is written. */
  writes: Promise<void>;
}

/** How long a finished job's unread partial output waits for its reader. */
export const UNREAD_STREAM_MS = 10 * 60_000;

export class JobQueue {
  private readonly running = new Map<string, RunningJob>();
  private readonly settled = new EventEmitter();
  private stopping = false;
  /** Pending waitFor calls, answered at shutdown at the latest. */
  private readonly waiters = new Set<() => void>();
  private readonly runs = new Set<Promise<void>>();
  /** Slots held by direct requests, claims under way, and the direct requests waiting for a slot. */
  private direct = 0;
  private claiming = 0;
  private readonly slotWaiters: Array<() => void> = [];
  private pumping = false;
  private pumpAgain = false;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private lastRenewed = Date.now();
  private lastReclaim = 0;

  constructor(
    private readonly store: JobStore,
    private readonly host: ModelHost,
    private readonly log: Logger,
    private readonly events: JobEvents,
    private readonly o: QueueOptions,
  ) {
    this.settled.setMaxListeners(0);
  }

  private get tickMs(): number {
    return Math.min(1000, this.o.leaseMs / 3);
  }

  /** Hands back dead nodes' jobs, starts the lease loop and (PostgreSQL) listens to the other nodes; then claims work. */
  async start(): Promise<void> {
    await this.reclaim(true);
    await this.store.listen((message) => {
      if (message === 'queued') this.pump();
      else if (message.startsWith('cancel:')) this.running.get(message.slice(7))?.abort.abort();
    });
    this.timer = setInterval(() => {
      this.stopIfCutOff();
      if (this.ticking) return; // a database that hangs does not pile ticks up
      this.ticking = true;
      void this.tick().finally(() => (this.ticking = false));
    }, this.tickMs);
    this.timer.unref();
    this.pump();
  }

  private async reclaim(atStart = false): Promise<void> {
    this.lastReclaim = Date.now();
    const { requeued, crashed } = await this.store.reclaim((owner) => this.o.node.isDead(owner));
    if (requeued.length > 0) this.log.info(atStart ? 'jobs that were running at the last stop are queued again' : 'jobs of a node that stopped answering are queued again', { jobs: requeued.length });
    for (const id of crashed) {
      this.log.child(id).error('Job failed: JOB_CRASHED: the process died during each of its runs; not run again');
      await this.settle(id);
    }
  }

  /** The lease loop: renew, notice jobs this node lost, write progress, reclaim, claim. */
  private async tick(): Promise<void> {
    try {
      if (this.running.size > 0) {
        const held = await this.store.renew(this.o.node.owner, this.o.leaseMs);
        this.lastRenewed = Date.now();
        for (const [id, entry] of this.running) {
          if (!held.has(id) && !entry.abort.signal.aborted) {
            this.log.child(id).info('Job no longer held by this node (cancelled, or its lease lapsed): stopping it');
            entry.abort.abort();
          }
          if (entry.progressDirty && entry.progress && held.has(id)) {
            entry.progressDirty = false;
            await this.store.setProgress(id, this.o.node.owner, entry.progress);
          }
        }
      } else {
        this.lastRenewed = Date.now();
      }
      if (Date.now() - this.lastReclaim >= this.o.leaseMs / 3) await this.reclaim();
      this.pump();
    } catch (err) {
      this.log.warn(`job store: ${(err as Error).message}`);
    }
  }

  /** A node cut off from the database (errors, or queries that hang) longer than a lease has lost its jobs to others: it stops them. */
  private stopIfCutOff(): void {
    if (this.running.size === 0 || Date.now() - this.lastRenewed <= this.o.leaseMs) return;
    for (const [id, entry] of this.running) {
      if (entry.abort.signal.aborted) continue;
      this.log.child(id).warn('the job database was out of reach for longer than a lease: stopping the job (another node may take it)');
      entry.abort.abort();
    }
  }

  /** A job's partial output since the last call (RunPod's /stream: each chunk is read once). */
  takeStream(id: string): Promise<StreamedSegment[]> {
    return this.store.takeChunks(id);
  }

  /** How far a job running on this node is (the store holds every node's, a second old at most). */
  progress(id: string): Progress | undefined {
    return this.running.get(id)?.progress;
  }

  get active(): number {
    return this.running.size + this.direct + this.claiming;
  }

  /** Claims jobs while slots are free. Called on submit, on each finish, on notifications and every tick. */
  pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void this.fill().finally(() => {
      this.pumping = false;
      if (this.pumpAgain) {
        this.pumpAgain = false;
        this.pump();
      }
    });
  }

  private async fill(): Promise<void> {
    while (!this.stopping && this.active < this.o.concurrency && this.slotWaiters.length === 0) {
      this.claiming++;
      let job: StoredJob | undefined;
      try {
        job = await this.store.take(this.o.node.owner, this.o.leaseMs);
      } catch (err) {
        this.log.warn(`job store: cannot claim a job: ${(err as Error).message}`);
      } finally {
        this.claiming--;
      }
      if (!job) return;
      this.runJob(job);
    }
  }

  private runJob(job: StoredJob): void {
    const entry: RunningJob = { abort: new AbortController(), requeue: false, progressDirty: false, writes: Promise.resolve() };
    this.running.set(job.id, entry);
    const log = this.log.child(job.id);
    const owner = this.o.node.owner;
    const onProgress = (p: Progress) => {
      entry.progress = p;
      entry.progressDirty = true;
    };
    const onSegment = (s: StreamedSegment) => {
      entry.writes = entry.writes.then(() => this.store.addChunk(job.id, s)).catch((err: Error) => log.warn(`streamed segment not stored: ${err.message}`));
    };
    const run = handleJob({ id: job.id, input: job.input }, { host: this.host, log, signal: entry.abort.signal, onProgress, onSegment })
      .then(async (output: JobOutput) => {
        this.events.jobDone(output.duration, output.timings.transcribe ?? 0);
        await entry.writes;
        if (await this.store.finish(job.id, owner, { output })) await this.settle(job.id);
        else log.info('Job finished after it was cancelled or taken over by another node; result dropped');
      })
      .catch(async (err: unknown) => {
        if (entry.requeue) {
          await this.store.requeue(job.id, owner);
          log.info('Job put back in the queue for the next node');
          return;
        }
        const e = toWhisperServeError(err);
        logJobError(log, e);
        await entry.writes;
        if (await this.store.finish(job.id, owner, { error: publicError(e, this.host.config) })) await this.settle(job.id);
      })
      .catch((err: Error) => log.warn(`job store: the job's end was not recorded (its lease will lapse and another node run it): ${err.message}`))
      .finally(() => {
        this.running.delete(job.id);
        this.settled.emit(job.id);
        this.freeSlot();
      });
    this.runs.add(run);
    void run.finally(() => this.runs.delete(run));
  }

  /** Runs `fn` in one of the slots shared with queued jobs; waits for one when all are busy. */
  async withSlot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.o.concurrency) await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
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

  /** Resolves when the job leaves IN_QUEUE/IN_PROGRESS (on any node), or after timeoutMs. */
  waitFor(id: string, timeoutMs: number): Promise<StoredJob | undefined> {
    return new Promise((resolve) => {
      let done = false;
      const check = () =>
        void this.store
          .get(id)
          .then((job) => (!job || (job.status !== 'IN_QUEUE' && job.status !== 'IN_PROGRESS') ? finish(job) : undefined))
          .catch(() => undefined);
      const finish = (job: StoredJob | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(poll);
        this.settled.off(id, check);
        this.waiters.delete(onShutdown);
        resolve(job);
      };
      const onShutdown = () => void this.store.get(id).then(finish, () => finish(undefined));
      const timer = setTimeout(onShutdown, timeoutMs);
      // Another node may run it: its end reaches this one through the store.
      const poll = setInterval(check, 250);
      this.settled.on(id, check);
      this.waiters.add(onShutdown);
      check();
    });
  }

  async cancel(id: string): Promise<StoredJob | undefined> {
    if (await this.store.cancel(id)) {
      this.running.get(id)?.abort.abort();
      await this.settle(id);
    }
    return this.store.get(id);
  }

  /** Cancels every queued job (running ones go on); returns how many. */
  async purgeQueue(): Promise<number> {
    const ids = await this.store.purgeQueue();
    for (const id of ids) await this.settle(id);
    return ids.length;
  }

  private async settle(id: string): Promise<void> {
    const job = await this.store.get(id);
    if (job) this.events.jobSettled(job);
  }

  /** Graceful stop: no new jobs; running ones get graceMs (their leases renewed), then are aborted and re-queued. */
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
    clearInterval(this.timer);
    [...this.waiters].forEach((answer) => answer());
    // Direct requests still waiting run now against the aborted server signal, and fail fast.
    for (const next of this.slotWaiters.splice(0)) {
      this.direct++;
      next();
    }
  }
}
