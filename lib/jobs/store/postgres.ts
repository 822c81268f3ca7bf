/**
 * The job store on PostgreSQL (JOBS_DB=postgres://…), for servers on several machines sharing
 * one queue. Plain `pg`: a claim is one UPDATE over `FOR UPDATE SKIP LOCKED`, so two nodes never
 * take the same job and neither waits for the other; LISTEN/NOTIFY wakes idle nodes when a job
 * is queued and tells the node running a job that it was cancelled. libpq's settings apply: the
 * URL's host, port, user, password, database and `sslmode`, else PGHOST, PGUSER… and their defaults.
 */
import { createRequire } from 'node:module';
import type pg from 'pg';
import { WhisperServeError } from '../../errors.js';
import type { SqlDriver, SqlResult } from './sql.js';

const CHANNEL = 'whisper_serve';
const INT8_OID = 20;

/** The URL without its password, for logs and errors. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return 'postgres://<unparsable URL>';
  }
}

/** `?` placeholders (the store's SQL, shared with SQLite) as PostgreSQL's `$1, $2…`. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Why the database refused, in the user's terms, naming the setting to fix. */
function setupError(err: unknown, where: string): WhisperServeError {
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  const hint: Record<string, string> = {
    '28P01': 'the user or password in JOBS_DB is wrong',
    '28000': 'the server refuses this user from this host (pg_hba.conf), or sslmode does not match',
    '3D000': 'the database in JOBS_DB does not exist: create it (createdb) first',
    '42501': 'the user in JOBS_DB lacks the rights to create or use the job tables: grant it CREATE and USAGE on the schema (or create the tables once as their owner by starting one server as that owner)',
  };
  const reason = hint[e.code ?? ''] ?? (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|timeout|ECONNRESET/i.test(`${e.code} ${message}`) ? 'the database cannot be reached: is it running, and are JOBS_DB\'s host and port right?' : undefined);
  return new WhisperServeError('SETUP_FAILED', `the job database ${where} (JOBS_DB): ${reason ? `${reason} (${message})` : message}`, { cause: err });
}

function loadPg(): typeof pg {
  try {
    return createRequire(import.meta.url)('pg') as typeof pg;
  } catch (err) {
    throw new WhisperServeError('SETUP_FAILED', 'JOBS_DB names a PostgreSQL database, but the `pg` package is not installed: run `npm install pg`', { cause: err });
  }
}

export class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres';
  readonly describe: string;
  private readonly pg = loadPg();
  private readonly pool: pg.Pool;
  private listener: pg.Client | undefined;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly warn: (message: string) => void,
  ) {
    this.describe = redactDatabaseUrl(url);
    const parsers = this.pg.types;
    this.pool = new this.pg.Pool({
      connectionString: url,
      max: 4,
      connectionTimeoutMillis: 10_000,
      // A database that stops answering mid-query (a partition without a reset) fails the query
      // rather than holding the lease loop: the node then stops its jobs once its lease lapses.
      query_timeout: 10_000,
      keepAlive: true,
      // Times (ms since the epoch) and counts are BIGINT: numbers, not strings.
      types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? Number : parsers.getTypeParser(oid, format))) as typeof parsers.getTypeParser },
    });
    // An idle connection the server drops (a restart, a failover) must not take the process down.
    this.pool.on('error', (err) => this.warn(`job database connection lost: ${err.message}`));
  }

  async migrate(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw setupError(err, this.describe);
    }
    try {
      await client.query('BEGIN');
      // Nodes starting together migrate one after another.
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('whisper_serve_migrate'))`);
      await client.query(`CREATE TABLE IF NOT EXISTS whisper_serve_jobs (
        id TEXT PRIMARY KEY,
        seq BIGSERIAL,
        status TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        created_at BIGINT NOT NULL,
        started_at BIGINT,
        completed_at BIGINT,
        attempts INTEGER NOT NULL DEFAULT 0,
        webhook TEXT,
        lease_owner TEXT,
        lease_until BIGINT,
        progress TEXT,
        webhook_state TEXT,
        webhook_until BIGINT
      )`);
      await client.query('CREATE INDEX IF NOT EXISTS whisper_serve_jobs_queue ON whisper_serve_jobs (status, created_at, seq)');
      await client.query('CREATE INDEX IF NOT EXISTS whisper_serve_jobs_webhooks ON whisper_serve_jobs (webhook_state, webhook_until)');
      await client.query(`CREATE TABLE IF NOT EXISTS whisper_serve_job_chunks (
        job_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        output TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
      )`);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw setupError(err, this.describe);
    } finally {
      client.release();
    }
  }

  async query<Row>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<Row>> {
    try {
      const result = await this.pool.query(numbered(sql), params as unknown[]);
      return { rows: result.rows as Row[], changes: result.rowCount ?? 0 };
    } catch (err) {
      throw new WhisperServeError('JOB_STORE_UNAVAILABLE', `the job database ${this.describe} failed a query: ${(err as Error).message}`, { cause: err });
    }
  }

  async notify(message: string): Promise<void> {
    await this.query('SELECT pg_notify(?, ?)', [CHANNEL, message]);
  }

  /** One connection kept for LISTEN; when it drops it is made again a second later. */
  async listen(onMessage: (message: string) => void): Promise<void> {
    const connect = async (): Promise<void> => {
      const client = new this.pg.Client({ connectionString: this.url, connectionTimeoutMillis: 10_000, keepAlive: true });
      const retry = (err?: Error) => {
        if (this.listener !== client) return;
        this.listener = undefined;
        client.removeAllListeners('notification');
        void client.end().catch(() => undefined);
        if (this.closed) return;
        if (err) this.warn(`job database notifications lost, reconnecting: ${err.message}`);
        setTimeout(() => void connect().catch((e: Error) => this.warn(`job database notifications: ${e.message}`)), 1000).unref();
      };
      this.listener = client;
      client.on('error', retry);
      client.on('end', () => retry());
      client.on('notification', (n) => n.payload !== undefined && onMessage(n.payload));
      try {
        await client.connect();
        await client.query(`LISTEN ${CHANNEL}`);
      } catch (err) {
        retry(err as Error);
      }
    };
    await connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.pool.end();
  }
}
