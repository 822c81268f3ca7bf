/**
 * Which ggml code runs, chosen at run time as node-llama-cpp does: a prebuild carries the CPU
 * backend once per instruction set (ggml loads the best this CPU runs, lib/native/binding.ts) and,
 * where installed, a CUDA variant (`cuda/libggml-cuda.so` beside the addon:
 * `WHISPER_SERVE_CUDA=1 npm run build:prebuild`, the Docker image), loaded here when the GPU mode
 * allows it. Whether a loaded GPU is then used is lib/device.ts's call.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { loadBinding, type NativeSystemInfo } from './binding.js';

export interface GpuVariant {
  file: string;
  loaded: boolean;
  /** Why it did not load, in the dynamic loader's words (a missing libcudart.so.13, say). */
  error?: string;
}

let tried: GpuVariant | null | undefined;

/** Loads the CUDA variant once per process; null where none is installed beside the addon. */
export function loadGpuVariant(): GpuVariant | null {
  if (tried !== undefined) return tried;
  const { binding, path } = loadBinding();
  const file = join(dirname(path), 'cuda', 'libggml-cuda.so');
  if (!existsSync(file)) return (tried = null);
  try {
    binding.loadBackend(file);
    tried = { file, loaded: true };
  } catch (err) {
    tried = { file, loaded: false, error: (err as Error).message };
  }
  return tried;
}

/** "cpu-zen4" (the prebuild's module for this CPU), "cpu (linked in)" in a local build; "+ cuda" once loaded. */
export function variantName(info: NativeSystemInfo): string {
  const names = info.backends.map((b) => {
    const module = /^libggml-([a-z]+)(?:-(.+))?\.so$/.exec(basename(b.file)); // libggml-cpu-armv8.2_1.so too
    return module ? [module[1], module[2]].filter(Boolean).join('-') : `${b.name.toLowerCase()} (linked in)`;
  });
  return names.sort((a, b) => Number(b.startsWith('cpu')) - Number(a.startsWith('cpu'))).join(' + ');
}
