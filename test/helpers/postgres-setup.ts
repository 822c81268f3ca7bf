// Global setup: a throwaway PostgreSQL cluster for the job store's tests (scripts/postgres-cluster.mjs),
// unless WHISPER_SERVE_TEST_POSTGRES names a server to use. Without the server binaries nothing
// starts here: the tests that need it then fail under CI=true (test/helpers/postgres.ts).
import { postgresBinDir, startCluster } from '../../scripts/postgres-cluster.mjs';

export default async function setup(): Promise<(() => void) | undefined> {
  if (process.env.WHISPER_SERVE_TEST_POSTGRES || !postgresBinDir()) return undefined;
  const cluster = await startCluster();
  process.env.WHISPER_SERVE_TEST_POSTGRES = cluster.url;
  return () => cluster.stop();
}
