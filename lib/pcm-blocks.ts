/**
 * Long audio in bounded memory: PCM read in blocks (blockSeconds() of new audio plus what the last
 * block left over), each planned into windows and transcribed, then dropped. A block's windows
 * that end near its edge wait for the next block, where they are planned again with what follows
 * them: windows are cut where the audio says (pauses, speech regions), never where a block ended.
 */
import { WhisperServeError } from './errors.js';
import type { NativeWindow } from './native/binding.js';
import { detectSpeech, type VadOptions } from './vad.js';
import { audibleSpans, MAX_WINDOW_SECONDS, planFixedWindows, SAMPLE_RATE, windowsFromSpeech } from './windows.js';

/**
 * New audio per block: at least 10 min (38 MB of PCM), and two turns of the engine's batch (a
 * turn is two batches of 30 s windows) so a block keeps a large GPU batch full. Bounded by the
 * batch, whatever the recording's length.
 */
export function blockSeconds(batchSize: number): number {
  return Math.max(10 * 60, batchSize * 2 * 2 * MAX_WINDOW_SECONDS);
}
/** Windows ending this close to a block's edge wait for the next block (a window is at most this long). */
const EDGE_SAMPLES = MAX_WINDOW_SECONDS * SAMPLE_RATE;

export interface Block {
  pcm: Float32Array;
  /** Sample of the recording where the block starts. */
  start: number;
  /** No audio follows. */
  last: boolean;
}

/**
 * Loudest sample taken, in full scales: float audio may clip a little past 1, but a peak 24 dB over
 * it is no recording (a float WAV scaled by 1e30 drove the model into 10-minute windows).
 */
export const MAX_SAMPLE = 16;

function checkSamples(pcm: Float32Array, offset: number): void {
  for (let i = 0; i < pcm.length; i++) {
    const x = pcm[i]!;
    if (!(Math.abs(x) <= MAX_SAMPLE)) {
      const what = Number.isFinite(x) ? `a sample ${Math.abs(x).toExponential(1)} times full scale (over ${MAX_SAMPLE})` : `a non-finite sample (${x})`;
      throw new WhisperServeError('CORRUPT_AUDIO', `the audio holds ${what} at ${((offset + i) / SAMPLE_RATE).toFixed(2)} s`);
    }
  }
}

/**
 * Blocks of a PCM source: an array is one block (it is in memory already); a stream is read
 * until a block holds `blockSamples` of new audio. `next(used)` drops the first `used` samples of
 * the block before (the rest starts the next one). A stream's blocks live in one buffer, reused:
 * a block's audio is gone once the next is asked for.
 */
export class PcmBlocks {
  private readonly iterator: AsyncIterator<Float32Array> | undefined;
  private pending: Float32Array | undefined; // read but not yet in a block
  private buffer = new Float32Array(0);
  private filled = 0; // samples of `buffer` in the current block
  private start = 0;
  private ended = false;

  constructor(
    private readonly source: Float32Array | AsyncIterable<Float32Array>,
    private readonly blockSamples: number,
  ) {
    this.iterator = source instanceof Float32Array ? undefined : source[Symbol.asyncIterator]();
  }

  async next(used?: number): Promise<Block | undefined> {
    if (this.source instanceof Float32Array) {
      if (used !== undefined) return undefined;
      checkSamples(this.source, 0);
      return { pcm: this.source, start: 0, last: true };
    }
    if (used !== undefined) {
      this.start += used;
      this.buffer.copyWithin(0, used, this.filled); // the tail starts the next block
      this.filled -= used;
    }
    if (this.ended && this.filled === 0 && !this.pending) return undefined;
    // Room for the tail the block before left (at most two window lengths) and the new audio.
    const capacity = this.filled + this.blockSamples;
    if (this.buffer.length < capacity) {
      const grown = new Float32Array(Math.max(capacity, this.blockSamples + 4 * EDGE_SAMPLES));
      grown.set(this.buffer.subarray(0, this.filled));
      this.buffer = grown;
    }
    let n = this.filled;
    while (!this.ended && n < capacity) {
      const chunk = this.pending ?? (await this.read());
      this.pending = undefined;
      if (!chunk) break;
      checkSamples(chunk, this.start + n);
      const fits = Math.min(chunk.length, capacity - n);
      this.buffer.set(chunk.subarray(0, fits), n);
      n += fits;
      if (fits < chunk.length) this.pending = chunk.subarray(fits);
    }
    this.filled = n;
    // One more read tells whether this block is the last.
    if (!this.ended && !this.pending) this.pending = await this.read();
    return { pcm: this.buffer.subarray(0, n), start: this.start, last: this.ended && !this.pending };
  }

  /** Stops the source early (ffmpeg, a download) when the caller gives up. */
  async close(): Promise<void> {
    await this.iterator?.return?.();
  }

  private async read(): Promise<Float32Array | undefined> {
    const r = await this.iterator!.next();
    if (r.done) {
      this.ended = true;
      return undefined;
    }
    return r.value;
  }
}

export interface BlockPlan {
  /** Every window planned in the block (block samples); the first `decoded` are decoded now. */
  windows: NativeWindow[];
  decoded: number;
  /** Samples of the block done with: the next block starts here. */
  used: number;
  /** whisper.cpp's spans for its own decoder (it seeks through them itself), within [0, used). */
  spans: NativeWindow[];
}

/**
 * Windows for one block: cut at pauses within stretches of sound (long digital silence left out),
 * or at speech regions with VAD. In a block that is not the last, the windows that end within a
 * window's length of its edge are left for the next block, which starts where the first of them does.
 */
export async function planBlock(block: Block, vad: boolean | VadOptions | undefined): Promise<BlockPlan> {
  const pcm = block.pcm;
  const audible = vad ? [] : audibleSpans(pcm);
  const windows = vad
    ? windowsFromSpeech(await detectSpeech(pcm, vad === true ? {} : vad), pcm.length)
    : audible.flatMap((span) => planFixedWindows(pcm.subarray(span.start, span.end)).map((w) => ({ start: w.start + span.start, end: w.end + span.start })));
  if (block.last) return { windows, decoded: windows.length, used: pcm.length, spans: vad ? windows : audible };
  const limit = Math.max(0, pcm.length - EDGE_SAMPLES);
  let decoded = 0;
  while (decoded < windows.length && windows[decoded]!.end <= limit) decoded++;
  const used = Math.min(windows[decoded]?.start ?? limit, limit);
  const spans = (vad ? windows.slice(0, decoded) : audible).flatMap((s) => (s.start < used ? [{ start: s.start, end: Math.min(s.end, used) }] : []));
  return { windows, decoded, used, spans };
}
