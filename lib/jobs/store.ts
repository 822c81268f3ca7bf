/**
 * Accepted jobs, in SQLite, so a restart (or a crash) loses none: on open, jobs that were
 * running go back to the queue and run again. A job is counted each time it starts; one that
 * was running when the process died `MAX_ATTEMPTS` times is a poison job (it may be what killed
 * the process) and ends FAILED with JOB_CRASHED instead of crash-looping the server.
 * Statuses are RunPod's.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { WhisperServeError } from '../errors.js';

/**
 * better-sqlite3 is an optional dependency (a native module: without its prebuilt binary it
 * compiles, and without a compiler it is not installed at all), loaded only when a server
 * opens its job store, so the library, the CLI and the RunPod worker never need it.
 */
function openDatabase(path: string): Database.Database {
  const fix = 'run `npm install better-sqlite3` (or `npm install-scripts approve better-sqlite3 && npm rebuild better-sqlite3` when npm 11 blocked its install script)';
  try {
    const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof Database;
    return new Sqlite(path);
  } catch (err) {
    const first = String((err as Error).message).split('\n')[0] ?? '';
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && /better-sqlite3/.test(first)) {
      throw new WhisperServeError('NATIVE_ADDON_MISSING', `the HTTP server's job store needs better-sqlite3, which is not installed: ${fix}`, { cause: err });
    }
    if (/bindings|better_sqlite3\.node|NODE_MODULE_VERSION/.test(String(err))) {
      throw new WhisperServeError('NATIVE_ADDON_MISSING', `better-sqlite3 (the HTTP server's job store) has no native binary: ${fix} (${first})`, { cause: err });
    }
    throw err;
  }
}

/** Starts a job gets before a process death during it fails it (a kill -9 of a sound server costs one). */
export const MAX_ATTEMPTS = 2;

export const STATUSES = ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type JobStatus = (typeof STATUSES)[number];

export interface StoredJob {
  id: string;
  status: JobStatus;
  input: unknown;
  output?: unknown;
  error?: unknown;
  /** ms since the epoch. */
  createdAt: number;
  startedAt?: number;
  completedAt?: number;
  /** Where to POST the job's status when it ends (RunPod's top-level `webhook`). */
  webhook?: string;
}

interface Row {
  id: string;
  status: JobStatus;
  input: string;
  output: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  webhook: string | null;
}

function fromRow(r: Row): StoredJob {
  return {
    id: r.id,
    status: r.status,
    input: JSON.parse(r.input) as unknown,
    ...(r.output !== null && { output: JSON.parse(r.output) as unknown }),
    ...(r.error !== null && { error: JSON.parse(r.error) as unknown }),
    createdAt: r.created_at,
    ...(r.started_at !== null && { startedAt: r.started_at }),
    ...(r.completed_at !== null && { completedAt: r.completed_at }),
    ...(r.webhook !== null && { webhook: r.webhook }),
  };
}

export class JobStore {
  private readonly db: Database.Database;
  /** Jobs found running when the store was opened, now queued again. */
  readonly requeuedAtOpen: number;
  /** Jobs found running when the store was opened for the MAX_ATTEMPTS-th time, now FAILED (JOB_CRASHED). */
  readonly crashedAtOpen: string[];

  constructor(path: string, private readonly maxQueue = 1000) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = openDatabase(path);
      this.db.pragma('journal_mode = WAL');
    } catch (err) {
      // A garbage file, a read-only one or a folder we may not write: the server's setup, not a job.
      if (err instanceof WhisperServeError) throw err;
      throw new WhisperServeError('SETUP_FAILED', `the job database ${path} (JOBS_DB) cannot be opened: ${(err as Error).message}`, { cause: err });
    }
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS jobs (
      id TEXT PRIMARY KEY,
      status TEXT NOT NULL,
      input TEXT NOT NULL,
      output TEXT,
      error TEXT,
      created_at INTEGER NOT NULL,
      started_at INTEGER,
      completed_at INTEGER
    );
    CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, created_at);`);
    const columns = this.db.prepare('PRAGMA table_info(jobs)').all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === 'attempts')) this.db.exec('ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0');
    if (!columns.some((c) => c.name === 'webhook')) this.db.exec('ALTER TABLE jobs ADD COLUMN webhook TEXT');
    const crashed = new WhisperServeError('JOB_CRASHED', `the server process died while running this job ${MAX_ATTEMPTS} times (a crash, the OOM killer or kill -9): it is not run again`);
    this.crashedAtOpen = (
      this.db
        .prepare(`UPDATE jobs SET status = 'FAILED', error = ?, completed_at = ? WHERE status = 'IN_PROGRESS' AND attempts >= ? RETURNING id`)
        .all(JSON.stringify(crashed.toJSON()), Date.now(), MAX_ATTEMPTS) as Array<{ id: string }>
    ).map((r) => r.id);
    this.requeuedAtOpen = this.db.prepare(`UPDATE jobs SET status = 'IN_QUEUE', started_at = NULL WHERE status = 'IN_PROGRESS'`).run().changes;
  }

  add(input: unknown, webhook?: string): StoredJob {
    if (this.count('IN_QUEUE') >= this.maxQueue) throw new WhisperServeError('QUEUE_FULL', `the queue holds ${this.maxQueue} jobs already; retry later`);
    const job: StoredJob = { id: randomUUID(), status: 'IN_QUEUE', input, createdAt: Date.now(), ...(webhook && { webhook }) };
    this.db
      .prepare('INSERT INTO jobs (id, status, input, created_at, webhook) VALUES (?, ?, ?, ?, ?)')
      .run(job.id, job.status, JSON.stringify(input), job.createdAt, webhook ?? null);
    return job;
  }

  get(id: string): StoredJob | undefined {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined;
    return row && fromRow(row);
  }

  /** Takes the oldest queued job and marks it running (one attempt more), atomically. */
  take(): StoredJob | undefined {
    const row = this.db
      .prepare(`UPDATE jobs SET status = 'IN_PROGRESS', started_at = ?, attempts = attempts + 1 WHERE id = (SELECT id FROM jobs WHERE status = 'IN_QUEUE' ORDER BY created_at, rowid LIMIT 1) RETURNING *`)
      .get(Date.now()) as Row | undefined;
    return row && fromRow(row);
  }

  /** Ends a running job; false when it was cancelled meanwhile (the cancel wins). */
  finish(id: string, result: { output: unknown } | { error: unknown }): boolean {
    const status: JobStatus = 'output' in result ? 'COMPLETED' : 'FAILED';
    const value = JSON.stringify('output' in result ? result.output : result.error);
    const done =
      this.db
        .prepare(`UPDATE jobs SET status = ?, ${'output' in result ? 'output' : 'error'} = ?, completed_at = ? WHERE id = ? AND status = 'IN_PROGRESS'`)
        .run(status, value, Date.now(), id).changes === 1;
    if (done) this.dropAudioBytes(id);
    return done;
  }

  /**
   * A settled job no longer needs its audio: base64 bytes (up to MAX_UPLOAD_BYTES a job) are
   * dropped from the row, their size kept, the rest of the input (options, URLs) stays.
   */
  private dropAudioBytes(id: string): void {
    const row = this.db.prepare('SELECT input FROM jobs WHERE id = ?').get(id) as { input: string } | undefined;
    const input = row && (JSON.parse(row.input) as Record<string, unknown> | null);
    if (!input || typeof input !== 'object' || typeof input.audio_base64 !== 'string') return;
    const kept = { ...input, audio_base64: `<${input.audio_base64.length} base64 characters, dropped when the job ended>` };
    this.db.prepare('UPDATE jobs SET input = ? WHERE id = ?').run(JSON.stringify(kept), id);
  }

  /** Deletes jobs that ended more than `ttlMs` ago; returns how many. */
  purge(ttlMs: number): number {
    return this.db.prepare(`DELETE FROM jobs WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND completed_at < ?`).run(Date.now() - ttlMs).changes;
  }

  /** Puts a running job back in the queue (server shutting down before it finished): that start does not count. */
  requeue(id: string): void {
    this.db.prepare(`UPDATE jobs SET status = 'IN_QUEUE', started_at = NULL, attempts = attempts - 1 WHERE id = ? AND status = 'IN_PROGRESS'`).run(id);
  }

  /** Cancels a queued or running job; false when there was none to cancel (unknown, or ended). */
  cancel(id: string): boolean {
    const changed = this.db.prepare(`UPDATE jobs SET status = 'CANCELLED', completed_at = ? WHERE id = ? AND status IN ('IN_QUEUE', 'IN_PROGRESS')`).run(Date.now(), id).changes === 1;
    if (changed) this.dropAudioBytes(id);
    return changed;
  }

  /** Cancels every queued job (RunPod's purge-queue); returns their ids. */
  purgeQueue(): string[] {
    const ids = (
      this.db.prepare(`UPDATE jobs SET status = 'CANCELLED', completed_at = ? WHERE status = 'IN_QUEUE' RETURNING id`).all(Date.now()) as Array<{ id: string }>
    ).map((r) => r.id);
    for (const id of ids) this.dropAudioBytes(id);
    return ids;
  }

  count(status: JobStatus): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM jobs WHERE status = ?').get(status) as { n: number }).n;
  }

  counts(): Record<JobStatus, number> {
    const rows = this.db.prepare('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status').all() as Array<{ status: JobStatus; n: number }>;
    const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    for (const r of rows) counts[r.status] = r.n;
    return counts;
  }

  close(): void {
    this.db.close();
  }
}
