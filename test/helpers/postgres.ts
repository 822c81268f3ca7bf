// The suite's PostgreSQL (test/helpers/postgres-setup.ts starts it): one fresh database per caller.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const ADMIN_URL = process.env.WHISPER_SERVE_TEST_POSTGRES;

/** True when a PostgreSQL server is there to test against; under CI=true its absence fails. */
export function havePostgres(): boolean {
  if (ADMIN_URL) return true;
  const why = 'no PostgreSQL server for the job store tests: apt-get install postgresql (.ci/run installs it; the suite starts a throwaway cluster), or set WHISPER_SERVE_TEST_POSTGRES=postgres://…';
  if (process.env.CI === 'true') throw new Error(`cannot run under CI=true: ${why}`);
  console.warn(`SKIP: ${why}`);
  return false;
}

/** A new, empty database; its URL. */
export async function freshDatabase(prefix: string): Promise<string> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await asSuperuser(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL!);
  url.pathname = `/${name}`;
  return url.href;
}

/** Runs SQL as the cluster's superuser, on `database` (default the admin one). */
export async function asSuperuser<T extends pg.QueryResultRow>(sql: string, database?: string): Promise<T[]> {
  const url = new URL(ADMIN_URL!);
  if (database) url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.href });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}
