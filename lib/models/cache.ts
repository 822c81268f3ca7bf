/**
 * The model cache: which registry models are present and whether each file is the one the
 * registry names (sha256, or upstream's sha1). Hashing a GB file takes seconds, so the result
 * is kept beside it in `<file>.verified` keyed by size and mtime.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WhisperServeError } from '../errors.js';
import { knownModels, knownVadModels, locateFile, registryEntry, registryNames, type RegistryEntry } from './registry.js';

export type Verification = 'ok' | 'imported' | 'mismatch' | 'unchecked';

export interface CachedModel {
  name: string;
  path: string;
  bytes: number;
  verified: Verification;
}

export interface Checksums {
  sha256: string;
  sha1: string;
}

/** sha256 and sha1 at once: the registry names upstream files by sha1, our imports by sha256. */
export class Hashes {
  private readonly sha256 = createHash('sha256');
  private readonly sha1 = createHash('sha1');
  update(chunk: Buffer): void {
    this.sha256.update(chunk);
    this.sha1.update(chunk);
  }
  digest(): Checksums {
    return { sha256: this.sha256.digest('hex'), sha1: this.sha1.digest('hex') };
  }
}

/** sha256 and sha1 of a file in one read (the registry may name either). */
export async function hashFile(path: string): Promise<Checksums> {
  const hashes = new Hashes();
  for await (const chunk of createReadStream(path)) hashes.update(chunk as Buffer);
  return hashes.digest();
}

/** ok: the registry's checksum; imported: the checksum of our own import of the test weights. */
export async function verifyModel(path: string, entry: RegistryEntry): Promise<Verification> {
  if (!entry.sha256 && !entry.sha1 && !entry.importedSha256) return 'unchecked';
  const st = statSync(path);
  const stamp = `${st.size}:${st.mtimeMs}`;
  const sidecar = `${path}.verified`;
  if (existsSync(sidecar)) {
    const [savedStamp, result] = readFileSync(sidecar, 'utf8').trim().split(' ');
    if (savedStamp === stamp && result) return result as Verification;
  }
  const { sha256, sha1 } = await hashFile(path);
  const result: Verification =
    sha256 === entry.sha256 || sha1 === entry.sha1 ? 'ok' : sha256 === entry.importedSha256 ? 'imported' : 'mismatch';
  try {
    writeFileSync(sidecar, `${stamp} ${result}\n`);
  } catch {
    /* a read-only cache still answers, it just hashes again next time */
  }
  return result;
}

export async function listCache(dir: string): Promise<CachedModel[]> {
  const out: CachedModel[] = [];
  for (const [name, entry] of Object.entries({ ...knownModels(), ...knownVadModels() })) {
    const found = locateFile(entry.file, dir);
    if (!found) continue;
    out.push({ name, path: found.path, bytes: statSync(found.path).size, verified: await verifyModel(found.path, entry) });
  }
  return out;
}

/** Removes a cached model by registry name (and its sidecar and any partial download). */
export function removeModel(name: string, dir: string): string[] {
  const entry = registryEntry(name);
  if (!entry) throw new WhisperServeError('MODEL_NOT_FOUND', `unknown model "${name}"; known: ${registryNames()}`);
  const path = join(dir, entry.file);
  const removed = [path, `${path}.verified`, `${path}.partial`].filter((p) => existsSync(p));
  if (!removed.includes(path)) throw new WhisperServeError('MODEL_NOT_FOUND', `model ${name} is not in the cache (${path})`);
  removed.forEach((p) => rmSync(p, { force: true }));
  return removed;
}
