/**
 * The job store's embedded default: a SQLite file (better-sqlite3). Several servers on one
 * machine may share it (WAL; writes are serialised, so a claim is atomic without a row lock);
 * across machines they may not (over NFS SQLite's locks are not safe): that is PostgreSQL's job.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { WhisperServeError } from '../../errors.js';
import type { SqlDriver, SqlResult } from './sql.js';

/**
 * better-sqlite3 is an optional dependency (a native module: without its prebuilt binary it
 * compiles, and without a compiler it is not installed at all), loaded only when a server
 * opens its job store, so the library, the CLI and the RunPod worker never need it.
 */
function openDatabase(path: string): Database.Database {
  const fix = 'run `npm install better-sqlite3` (or `npm install-scripts approve better-sqlite3 && npm rebuild better-sqlite3` when npm 11 blocked its install script), or set JOBS_DB=postgres://…';
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

/** Columns added after the first release, with their type: added to an older file at open. */
const ADDED_COLUMNS: Array<[string, string]> = [
  ['attempts', 'INTEGER NOT NULL DEFAULT 0'],
  ['webhook', 'TEXT'],
  ['lease_owner', 'TEXT'],
  ['lease_until', 'INTEGER'],
  ['progress', 'TEXT'],
  ['webhook_state', 'TEXT'],
  ['webhook_until', 'INTEGER'],
];

export class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite';
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(readonly describe: string) {
    try {
      if (describe !== ':memory:') mkdirSync(dirname(describe), { recursive: true });
      this.db = openDatabase(describe);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      // Another server on the same file holds the write lock for a statement at most: wait for it.
      this.db.pragma('busy_timeout = 5000');
    } catch (err) {
      // A garbage file, a read-only one or a folder we may not write: the server's setup, not a job.
      if (err instanceof WhisperServeError) throw err;
      throw new WhisperServeError('SETUP_FAILED', `the job database ${describe} (JOBS_DB) cannot be opened: ${(err as Error).message}`, { cause: err });
    }
  }

  migrate(): Promise<void> {
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
    CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, created_at);
    CREATE TABLE IF NOT EXISTS job_chunks (
      job_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      output TEXT NOT NULL,
      PRIMARY KEY (job_id, seq)
    );`);
    const have = new Set((this.db.prepare('PRAGMA table_info(jobs)').all() as Array<{ name: string }>).map((c) => c.name));
    for (const [name, type] of ADDED_COLUMNS) if (!have.has(name)) this.db.exec(`ALTER TABLE jobs ADD COLUMN ${name} ${type}`);
    this.db.exec('CREATE INDEX IF NOT EXISTS jobs_webhooks ON jobs (webhook_state, webhook_until)');
    return Promise.resolve();
  }

  query<Row>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<Row>> {
    try {
      let statement = this.statements.get(sql);
      if (!statement) this.statements.set(sql, (statement = this.db.prepare(sql)));
      if (statement.reader) {
        const rows = statement.all(...params) as Row[];
        return Promise.resolve({ rows, changes: rows.length });
      }
      return Promise.resolve({ rows: [], changes: statement.run(...params).changes });
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  notify(): Promise<void> {
    return Promise.resolve();
  }

  listen(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
