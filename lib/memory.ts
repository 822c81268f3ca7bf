/**
 * Gives a finished job's PCM back to the system. A decoded hour is 230 MB of Float32Array held
 * outside V8's heap; V8 frees it only at its next full collection, which an idle server may not
 * run for a long time, so a 20 h job would leave 4.6 GB resident after it ended. The shells call
 * this when a job ends: past a threshold of array-buffer memory it asks for that collection.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const THRESHOLD_BYTES = 256 * 1024 ** 2;
let gc: (() => void) | undefined;

function collect(): void {
  if (process.memoryUsage().arrayBuffers < THRESHOLD_BYTES) return;
  if (!gc) {
    // The same switch as `node --expose-gc`, turned on when first needed; a fresh context sees `gc`.
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}

/** Called as a job ends; collects on the next turn of the event loop, once the job's own frames are gone. */
export function releaseJobMemory(): void {
  setImmediate(collect);
}
