/**
 * Accepted jobs, durable: in a SQLite file (one machine) or PostgreSQL (many), the same SQL on
 * both. Nodes claim jobs with a lease they renew while they work; a job whose lease lapsed (its
 * node died: kill -9, power cut, a partition) goes back to the queue for any node. A job is
 * counted each time it starts; one found abandoned after its `MAX_ATTEMPTS`-th start is a poison
 * job (it may be what killed its nodes) and ends FAILED with JOB_CRASHED instead of crash-looping
 * them. Progress and streamed segments live here too, so any node answers for any job; a
 * settled job's webhook is recorded here, so it is sent once. Statuses are RunPod's.
 */
import { randomUUID } from 'node:crypto';
import { WhisperServeError } from '../../errors.js';
import type { Progress } from '../../whisper.js';
import type { StreamedSegment } from '../handler.js';
import { PostgresDriver } from './postgres.js';
import { tablesOf, type SqlDriver, type Tables } from './sql.js';
import { SqliteDriver } from './sqlite.js';

/** Starts a job gets before a node dying during it fails it (a kill -9 of a sound node costs one). */
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
  /** The latest progress its node wrote (about once a second). */
  progress?: Progress;
  /** The node holding it while IN_PROGRESS. */
  leaseOwner?: string;
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
  progress: string | null;
  lease_owner: string | null;
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
    ...(r.progress !== null && { progress: JSON.parse(r.progress) as Progress }),
    ...(r.lease_owner !== null && { leaseOwner: r.lease_owner }),
  };
}

/** True for JOBS_DB values that name a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** How long a node that settled a job has to deliver its webhook before another node may. */
export const WEBHOOK_CLAIM_MS = 120_000;

/** Columns set when a job settles: its webhook (if any) claimed by the node settling it. */
const SETTLE = `lease_owner = NULL, lease_until = NULL, progress = NULL,
  webhook_state = CASE WHEN webhook IS NULL THEN NULL ELSE 'pending' END, webhook_until = ?`;

export class JobStore {
  private readonly t: Tables;
  /** PostgreSQL's claim takes the row lock and passes over rows other nodes are claiming. */
  private readonly lock: string;
  /** FIFO among jobs queued in the same millisecond. */
  private readonly order: string;

  private constructor(
    private readonly sql: SqlDriver,
    private readonly maxQueue: number,
    private readonly webhookClaimMs: number,
  ) {
    this.t = tablesOf(sql);
    this.lock = sql.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    this.order = sql.dialect === 'postgres' ? 'seq' : 'rowid';
  }

  /** Opens (creating or migrating) the store JOBS_DB names: a postgres:// URL, else a SQLite file. */
  static async open(location: string, options: { maxQueue?: number; warn?: (message: string) => void; webhookClaimMs?: number } = {}): Promise<JobStore> {
    const driver = isPostgresUrl(location) ? new PostgresDriver(location, options.warn ?? (() => undefined)) : new SqliteDriver(location);
    try {
      await driver.migrate();
    } catch (err) {
      await driver.close().catch(() => undefined);
      if (err instanceof WhisperServeError) throw err;
      throw new WhisperServeError('SETUP_FAILED', `the job database ${driver.describe} (JOBS_DB) cannot be set up: ${(err as Error).message}`, { cause: err });
    }
    return new JobStore(driver, options.maxQueue ?? 1000, options.webhookClaimMs ?? WEBHOOK_CLAIM_MS);
  }

  get dialect(): SqlDriver['dialect'] {
    return this.sql.dialect;
  }

  get describe(): string {
    return this.sql.describe;
  }

  async add(input: unknown, webhook?: string): Promise<StoredJob> {
    if ((await this.count('IN_QUEUE')) >= this.maxQueue) throw new WhisperServeError('QUEUE_FULL', `the queue holds ${this.maxQueue} jobs already; retry later`);
    const job: StoredJob = { id: randomUUID(), status: 'IN_QUEUE', input, createdAt: Date.now(), ...(webhook && { webhook }) };
    await this.sql.query(`INSERT INTO ${this.t.jobs} (id, status, input, created_at, webhook) VALUES (?, ?, ?, ?, ?)`, [job.id, job.status, JSON.stringify(input), job.createdAt, webhook ?? null]);
    await this.sql.notify('queued');
    return job;
  }

  async get(id: string): Promise<StoredJob | undefined> {
    const row = (await this.sql.query<Row>(`SELECT * FROM ${this.t.jobs} WHERE id = ?`, [id])).rows[0];
    return row && fromRow(row);
  }

  /** Takes the oldest queued job for `owner` (one attempt more, leased `leaseMs`), atomically. */
  async take(owner: string, leaseMs: number): Promise<StoredJob | undefined> {
    const now = Date.now();
    const row = (
      await this.sql.query<Row>(
        `UPDATE ${this.t.jobs} SET status = 'IN_PROGRESS', started_at = ?, attempts = attempts + 1, lease_owner = ?, lease_until = ?, progress = NULL
         WHERE id = (SELECT id FROM ${this.t.jobs} WHERE status = 'IN_QUEUE' ORDER BY created_at, ${this.order} LIMIT 1${this.lock}) RETURNING *`,
        [now, owner, now + leaseMs],
      )
    ).rows[0];
    if (!row) return undefined;
    // A run taken over from a dead node streams from the start again.
    await this.sql.query(`DELETE FROM ${this.t.chunks} WHERE job_id = ?`, [row.id]);
    return fromRow(row);
  }

  /** Extends `owner`'s leases; returns the jobs it still holds (a cancelled or taken-over one is not among them). */
  async renew(owner: string, leaseMs: number): Promise<Set<string>> {
    const { rows } = await this.sql.query<{ id: string }>(`UPDATE ${this.t.jobs} SET lease_until = ? WHERE lease_owner = ? AND status = 'IN_PROGRESS' RETURNING id`, [Date.now() + leaseMs, owner]);
    return new Set(rows.map((r) => r.id));
  }

  /**
   * Running jobs whose node is gone (lease lapsed, or `isDead` says so of its owner): back to
   * the queue, or FAILED with JOB_CRASHED after their MAX_ATTEMPTS-th start.
   */
  async reclaim(isDead: (owner: string) => boolean): Promise<{ requeued: string[]; crashed: string[] }> {
    const now = Date.now();
    const owners = (await this.sql.query<{ lease_owner: string | null }>(`SELECT DISTINCT lease_owner FROM ${this.t.jobs} WHERE status = 'IN_PROGRESS'`)).rows.map((r) => r.lease_owner);
    const dead = owners.filter((o): o is string => o !== null && isDead(o));
    const abandoned = `status = 'IN_PROGRESS' AND (lease_until IS NULL OR lease_until < ?${dead.map(() => ' OR lease_owner = ?').join('')})`;
    const crashedError = new WhisperServeError('JOB_CRASHED', `the node running this job died during each of its ${MAX_ATTEMPTS} starts (a crash, the OOM killer, kill -9 or a lost machine): it is not run again`);
    const crashed = await this.sql.query<{ id: string }>(
      `UPDATE ${this.t.jobs} SET status = 'FAILED', error = ?, completed_at = ?, ${SETTLE} WHERE ${abandoned} AND attempts >= ? RETURNING id`,
      [JSON.stringify(crashedError.toJSON()), now, now + this.webhookClaimMs, now, ...dead, MAX_ATTEMPTS],
    );
    const requeued = await this.sql.query<{ id: string }>(`UPDATE ${this.t.jobs} SET status = 'IN_QUEUE', started_at = NULL, lease_owner = NULL, lease_until = NULL, progress = NULL WHERE ${abandoned} RETURNING id`, [now, ...dead]);
    for (const { id } of crashed.rows) await this.dropAudioBytes(id);
    if (requeued.rows.length > 0) await this.sql.notify('queued');
    return { requeued: requeued.rows.map((r) => r.id), crashed: crashed.rows.map((r) => r.id) };
  }

  /** Ends `owner`'s running job; false when it was cancelled or taken over meanwhile (the other side wins). */
  async finish(id: string, owner: string, result: { output: unknown } | { error: unknown }): Promise<boolean> {
    const now = Date.now();
    const [status, column, value] = 'output' in result ? (['COMPLETED', 'output', result.output] as const) : (['FAILED', 'error', result.error] as const);
    const done = await this.sql.query(
      `UPDATE ${this.t.jobs} SET status = ?, ${column} = ?, completed_at = ?, ${SETTLE} WHERE id = ? AND status = 'IN_PROGRESS' AND lease_owner = ?`,
      [status, JSON.stringify(value), now, now + this.webhookClaimMs, id, owner],
    );
    if (done.changes === 1) await this.dropAudioBytes(id);
    return done.changes === 1;
  }

  /**
   * A settled job no longer needs its audio: base64 bytes (up to MAX_UPLOAD_BYTES a job) are
   * dropped from the row, their size kept, the rest of the input (options, URLs) stays. Not at
   * the start: a node that dies mid-job leaves the job to another, which needs the audio again.
   */
  private async dropAudioBytes(id: string): Promise<void> {
    const row = (await this.sql.query<{ input: string }>(`SELECT input FROM ${this.t.jobs} WHERE id = ?`, [id])).rows[0];
    const input = row && (JSON.parse(row.input) as Record<string, unknown> | null);
    if (!input || typeof input !== 'object' || typeof input.audio_base64 !== 'string') return;
    const kept = { ...input, audio_base64: `<${input.audio_base64.length} base64 characters, dropped when the job ended>` };
    await this.sql.query(`UPDATE ${this.t.jobs} SET input = ? WHERE id = ?`, [JSON.stringify(kept), id]);
  }

  /** Puts `owner`'s running job back in the queue (its node stopping before it finished): that start does not count. */
  async requeue(id: string, owner: string): Promise<void> {
    await this.sql.query(
      `UPDATE ${this.t.jobs} SET status = 'IN_QUEUE', started_at = NULL, attempts = attempts - 1, lease_owner = NULL, lease_until = NULL, progress = NULL WHERE id = ? AND status = 'IN_PROGRESS' AND lease_owner = ?`,
      [id, owner],
    );
    await this.sql.notify('queued');
  }

  /** Cancels a queued or running job, telling the node running it; false when there was none to cancel (unknown, or ended). */
  async cancel(id: string): Promise<boolean> {
    const now = Date.now();
    const changed = (await this.sql.query(`UPDATE ${this.t.jobs} SET status = 'CANCELLED', completed_at = ?, ${SETTLE} WHERE id = ? AND status IN ('IN_QUEUE', 'IN_PROGRESS')`, [now, now + this.webhookClaimMs, id])).changes === 1;
    if (changed) {
      await this.dropAudioBytes(id);
      await this.sql.notify(`cancel:${id}`);
    }
    return changed;
  }

  /** Cancels every queued job (RunPod's purge-queue); returns their ids. */
  async purgeQueue(): Promise<string[]> {
    const now = Date.now();
    const { rows } = await this.sql.query<{ id: string }>(`UPDATE ${this.t.jobs} SET status = 'CANCELLED', completed_at = ?, ${SETTLE} WHERE status = 'IN_QUEUE' RETURNING id`, [now, now + this.webhookClaimMs]);
    for (const { id } of rows) await this.dropAudioBytes(id);
    return rows.map((r) => r.id);
  }

  async setProgress(id: string, owner: string, progress: Progress): Promise<void> {
    await this.sql.query(`UPDATE ${this.t.jobs} SET progress = ? WHERE id = ? AND lease_owner = ?`, [JSON.stringify(progress), id, owner]);
  }

  /** One segment of a running job's partial output, kept until a /stream call reads it. */
  async addChunk(id: string, chunk: StreamedSegment): Promise<void> {
    await this.sql.query(`INSERT INTO ${this.t.chunks} (job_id, seq, output) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, [id, chunk.id, JSON.stringify(chunk)]);
  }

  /** A job's partial output not read yet, in order; each chunk is read once (RunPod's /stream). */
  async takeChunks(id: string): Promise<StreamedSegment[]> {
    const { rows } = await this.sql.query<{ seq: number; output: string }>(`DELETE FROM ${this.t.chunks} WHERE job_id = ? RETURNING seq, output`, [id]);
    return rows.sort((a, b) => a.seq - b.seq).map((r) => JSON.parse(r.output) as StreamedSegment);
  }

  /** A settled job whose webhook nobody is delivering (its node died before it could): claimed for this node. */
  async claimWebhook(): Promise<StoredJob | undefined> {
    const now = Date.now();
    const row = (
      await this.sql.query<Row>(
        `UPDATE ${this.t.jobs} SET webhook_until = ? WHERE id = (SELECT id FROM ${this.t.jobs} WHERE webhook_state = 'pending' AND webhook_until < ? ORDER BY completed_at LIMIT 1${this.lock}) RETURNING *`,
        [now + this.webhookClaimMs, now],
      )
    ).rows[0];
    return row && fromRow(row);
  }

  /** Records that a job's webhook was delivered (or given up on): no node sends it again. */
  async webhookDone(id: string, delivered: boolean): Promise<void> {
    await this.sql.query(`UPDATE ${this.t.jobs} SET webhook_state = ? WHERE id = ?`, [delivered ? 'sent' : 'failed', id]);
  }

  /** Deletes jobs that ended more than `ttlMs` ago, and partial output unread `unreadMs` after its job ended; returns the jobs deleted. */
  async purge(ttlMs: number, unreadMs: number): Promise<number> {
    const now = Date.now();
    const ended = `status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND completed_at < ?`;
    const deleted = await this.sql.query(`DELETE FROM ${this.t.jobs} WHERE ${ended}`, [now - ttlMs]);
    await this.sql.query(`DELETE FROM ${this.t.chunks} WHERE job_id NOT IN (SELECT id FROM ${this.t.jobs} WHERE NOT (${ended}))`, [now - unreadMs]);
    return deleted.changes;
  }

  async count(status: JobStatus): Promise<number> {
    return (await this.sql.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${this.t.jobs} WHERE status = ?`, [status])).rows[0]?.n ?? 0;
  }

  async counts(): Promise<Record<JobStatus, number>> {
    const { rows } = await this.sql.query<{ status: JobStatus; n: number }>(`SELECT status, COUNT(*) AS n FROM ${this.t.jobs} GROUP BY status`);
    const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    for (const r of rows) counts[r.status] = r.n;
    return counts;
  }

  /** Rows in the store's tables (the retention test's and the benchmark's measure). */
  async size(): Promise<{ jobs: number; chunks: number }> {
    const n = async (table: string) => (await this.sql.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`)).rows[0]?.n ?? 0;
    return { jobs: await n(this.t.jobs), chunks: await n(this.t.chunks) };
  }

  /** Messages from every node's store (`queued`, `cancel:<id>`); PostgreSQL only, SQLite's nodes poll. */
  listen(onMessage: (message: string) => void): Promise<void> {
    return this.sql.listen(onMessage);
  }

  close(): Promise<void> {
    return this.sql.close();
  }
}
