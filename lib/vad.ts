/** Speech regions from the Silero VAD model (whisper.cpp's ggml port), for VAD windowing. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readConfig } from './config.js';
import { WhisperServeError, toWhisperServeError } from './errors.js';
import { binding, type NativeVadModel, type NativeVadParams } from './native/binding.js';

export type VadOptions = NativeVadParams & { model?: string };

export const DEFAULT_VAD_FILE = 'ggml-silero-v6.2.0.bin';

export function resolveVadModel(explicit?: string): string {
  const cfg = readConfig();
  const path = explicit ?? cfg.vadModel ?? join(cfg.modelCache, DEFAULT_VAD_FILE);
  if (!existsSync(path)) {
    throw new WhisperServeError(
      'MODEL_NOT_FOUND',
      `VAD model ${path} not found; set WHISPER_VAD_MODEL to a Silero ggml model (e.g. ggml-silero-v6.2.0.bin)`,
    );
  }
  return path;
}

const loaded = new Map<string, NativeVadModel>();

/** Speech regions in seconds. VAD models are small and kept loaded per path. */
export async function detectSpeech(pcm: Float32Array, options: VadOptions = {}): Promise<Array<{ start: number; end: number }>> {
  const path = resolveVadModel(options.model);
  let vad = loaded.get(path);
  try {
    if (!vad) {
      // One thread: Silero runs a tiny graph per 32 ms of audio, and ggml's worker threads
      // spin-wait between graphs; with another process on a core that spinning collapsed (30 s
      // of audio took 5.2 s on 2 threads, 0.17 s on 1, issue "Speed").
      vad = new (binding().VadModel)(path, { threads: 1 });
      loaded.set(path, vad);
    }
    const { model: _model, ...params } = options;
    return await vad.detect(pcm, params);
  } catch (err) {
    throw toWhisperServeError(err, 'VAD_FAILED');
  }
}
