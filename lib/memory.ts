/**
 * Gives a finished job's PCM back to the system. A decoded hour is 230 MB of Float32Array held
 * outside V8's heap; V8 frees it only at its next full collection, which an idle server may not
 * run for a long time, so a 20 h job would leave 4.6 GB resident after it ended. And the pipe
 * buffers the decode streamed through, once freed, stay in the C library's arenas. The job
 * queue and the RunPod worker call this when a job ends: past a threshold of array-buffer memory
 * it asks for that collection, then has the C library return what is free.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { binding } from './native/binding.js';

// About 17 min of PCM; below it the next collection V8 runs on its own is soon enough.
const THRESHOLD_BYTES = 64 * 1024 ** 2;
let gc: (() => void) | undefined;

function collect(): void {
  if (process.memoryUsage().arrayBuffers < THRESHOLD_BYTES) return;
  if (!gc) {
    // The same switch as `node --expose-gc`, turned on when first needed; a fresh context sees `gc`.
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  binding().trimMemory();
}

let scheduled: NodeJS.Timeout | undefined;

/**
 * Called as a job ends. Collects a moment later, once the request or job that held the PCM has
 * answered and let go of it (at the call it often still has); several calls in that moment make one.
 */
export function releaseJobMemory(): void {
  scheduled ??= setTimeout(() => {
    scheduled = undefined;
    collect();
  }, 250).unref();
}
