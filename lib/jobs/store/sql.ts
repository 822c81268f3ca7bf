/**
 * The two databases the job store runs on, behind one small interface: the store's SQL is
 * written once (`?` placeholders, RETURNING, ON CONFLICT: both SQLite 3.35+ and PostgreSQL
 * take them), and each driver says what differs (table DDL, the row lock a claim takes).
 */
export interface SqlResult<Row> {
  rows: Row[];
  /** Rows the statement inserted, updated or deleted. */
  changes: number;
}

export interface SqlDriver {
  readonly dialect: 'sqlite' | 'postgres';
  /** What the store opened, for logs and errors: a file path, or a URL without its password. */
  readonly describe: string;
  /** Creates or migrates the tables (every node runs it at start; it is idempotent). */
  migrate(): Promise<void>;
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<SqlResult<Row>>;
  /**
   * Tells every node (this one too) that something happened: `queued` or `cancel:<id>`. A
   * no-op on SQLite (one machine: the nodes' one-second poll is the message).
   */
  notify(message: string): Promise<void>;
  /** Calls `onMessage` for every notify, from any node; the poll stays the fallback. */
  listen(onMessage: (message: string) => void): Promise<void>;
  close(): Promise<void>;
}

/** Table names: SQLite's file is ours alone; in a shared PostgreSQL database they carry a prefix. */
export interface Tables {
  jobs: string;
  chunks: string;
}

export function tablesOf(driver: SqlDriver): Tables {
  return driver.dialect === 'postgres' ? { jobs: 'whisper_serve_jobs', chunks: 'whisper_serve_job_chunks' } : { jobs: 'jobs', chunks: 'job_chunks' };
}
