/** Speech regions from the Silero VAD model (whisper.cpp's ggml port), for VAD windowing. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from './config.js';
import { WhisperServeError, toWhisperServeError } from './errors.js';
import { binding, packageRoot, type NativeVadModel, type NativeVadParams } from './native/binding.js';

/** model: a Silero ggml file (a shell's WHISPER_VAD_MODEL); else looked for by name in cacheDir, then in the package. */
export type VadOptions = NativeVadParams & { model?: string; cacheDir?: string };

/**
 * Looked for by name in the model cache, then in the package's own models/ (where the Docker image
 * keeps one): whisper.cpp's v6.2.0 (`models pull silero-vad`; the library downloads it on first
 * use) first, then the v6 that `models import` makes of faster-whisper's ONNX.
 */
export const DEFAULT_VAD_FILES = ['ggml-silero-v6.2.0.bin', 'ggml-silero-v6.bin'];

/** The registry name of the VAD model downloaded on first use (models/registry.json: ggml-silero-v6.2.0.bin). */
export const VAD_MODEL = 'silero-vad';

export function resolveVadModel(named: string | undefined, cacheDir: string = DEFAULTS.modelCache): string {
  const candidates = named ? [named] : [cacheDir, join(packageRoot, 'models')].flatMap((dir) => DEFAULT_VAD_FILES.map((f) => join(dir, f)));
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new WhisperServeError(
      'MODEL_NOT_FOUND',
      named
        ? `VAD model ${named} not found; set WHISPER_VAD_MODEL to a Silero ggml model`
        : `no Silero VAD model in ${cacheDir} (${DEFAULT_VAD_FILES.join(' or ')}): run \`whisper-serve models pull ${VAD_MODEL}\` (WHISPER_MODEL_MIRROR for another source), ` +
          `or make one from the ONNX that PyPI's faster-whisper==1.2.1 carries (\`whisper-serve models import <faster_whisper>/assets/silero_vad_v6.onnx -o ${join(cacheDir, DEFAULT_VAD_FILES[1]!)}\`), or set WHISPER_VAD_MODEL to one`,
    );
  }
  return path;
}

const loaded = new Map<string, NativeVadModel>();

/** Speech regions in seconds. VAD models are small and kept loaded per path. */
export async function detectSpeech(pcm: Float32Array, options: VadOptions = {}): Promise<Array<{ start: number; end: number }>> {
  const path = resolveVadModel(options.model, options.cacheDir);
  let vad = loaded.get(path);
  try {
    if (!vad) {
      // One thread: Silero runs a tiny graph per 32 ms of audio, and ggml's worker threads
      // spin-wait between graphs; with another process on a core that spinning collapsed (30 s
      // of audio took 5.2 s on 2 threads, 0.17 s on 1, issue "Speed").
      vad = new (binding().VadModel)(path, { threads: 1 });
      loaded.set(path, vad);
    }
    const { model: _model, cacheDir: _cacheDir, ...params } = options;
    return await vad.detect(pcm, params);
  } catch (err) {
    throw toWhisperServeError(err, 'VAD_FAILED');
  }
}
