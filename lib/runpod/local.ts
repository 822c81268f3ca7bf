/**
 * The SDK's local test mode: with no RUNPOD_WEBHOOK_GET_JOB, run one job from ./test_input.json
 * (or --test_input '<json>'), print the result on stdout, and say by the exit code how it went.
 * Local paths are allowed as audio here (the person running it owns the machine); the
 * platform loop and the server accept only URLs and base64.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { WhisperServeError, toWhisperServeError } from '../errors.js';
import type { Logger } from '../log.js';
import { handleJob } from '../jobs/handler.js';
import type { ModelHost } from '../jobs/model-host.js';
import { logJobError } from '../jobs/public-error.js';

export interface LocalTestOptions {
  /** JSON text given on the command line; else the file is read. */
  testInput?: string;
  file?: string;
  host: ModelHost;
  log: Logger;
  write?: (text: string) => void;
}

function readTestJob(o: LocalTestOptions): { id: string; input: unknown } {
  let text = o.testInput;
  const file = resolve(o.file ?? 'test_input.json');
  if (text === undefined) {
    if (!existsSync(file)) throw new WhisperServeError('INVALID_INPUT', `no ${file} and no --test_input: nothing to run (RUNPOD_WEBHOOK_GET_JOB is not set, so this is the local test mode)`);
    text = readFileSync(file, 'utf8');
  }
  let job: unknown;
  try {
    job = JSON.parse(text);
  } catch (err) {
    throw new WhisperServeError('INVALID_INPUT', `test input is not JSON: ${(err as Error).message}`);
  }
  const j = job as { id?: unknown; input?: unknown } | null;
  if (!j || typeof j !== 'object' || !('input' in j)) throw new WhisperServeError('INVALID_INPUT', 'test input must be {"input": {...}}');
  return { id: typeof j.id === 'string' && j.id ? j.id : 'local_test', input: j.input };
}

/** Returns the exit code: 0 when the job succeeded, 1 when it failed. */
export async function runLocalTest(o: LocalTestOptions): Promise<number> {
  const write = o.write ?? ((t: string) => process.stdout.write(t));
  let id = 'local_test';
  try {
    const job = readTestJob(o);
    id = job.id;
    const log = o.log.child(id);
    log.info('local test mode: running one job');
    const output = await handleJob(job, { host: o.host, log, allowLocalFiles: true });
    write(`${JSON.stringify({ id, status: 'COMPLETED', output }, null, 2)}\n`);
    return 0;
  } catch (err) {
    const e = toWhisperServeError(err);
    logJobError(o.log.child(id), e);
    write(`${JSON.stringify({ id, status: 'FAILED', error: e.toJSON() }, null, 2)}\n`);
    return 1;
  } finally {
    await o.host.close();
  }
}
