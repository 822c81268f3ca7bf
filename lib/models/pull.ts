/**
 * Downloads a registry model into the cache: streamed to `<file>.partial`, resumed with a
 * Range request when a partial exists (a connection that drops or stalls mid-way is resumed at
 * once, by lib/net/http.ts's retry policy), checked against the registry's checksum and the ggml
 * structure, then renamed into place. Offline it fails fast, naming the URL and the path to place
 * the file by hand.
 */
import { closeSync, createReadStream, createWriteStream, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { retryableStatus, USER_AGENT, withRetries } from '../net/http.js';
import { WhisperServeError } from '../errors.js';
import { processRuns } from '../processes.js';
import { Hashes, hashFile, type Checksums } from './cache.js';
import { GGML_MAGIC, readGgmlModel } from './ggml-format.js';
import { knownVadModels, registryEntry, registryNames, type RegistryEntry } from './registry.js';

export interface PullOptions {
  /** The model cache (a shell's WHISPER_MODEL_CACHE). */
  cacheDir: string;
  /** Another source for the file; the registry's checksum still applies. */
  url?: string;
  /** A base URL the file is fetched from instead of the registry's (a shell's WHISPER_MODEL_MIRROR). */
  mirror?: string;
  /** Overrides the registry's checksum (for a mirror of another build). */
  sha256?: string;
  /** No bytes for this long → fail (ms). */
  stallTimeoutMs?: number;
  /** Tries in all, each resuming where the last stopped (default 4). */
  attempts?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number | undefined) => void;
}

export interface Pulled {
  path: string;
  bytes: number;
  resumedFrom: number;
  checksum: string;
}

/** A VAD file is not a Whisper model: its ggml magic is all there is to check without loading it. */
function checkGgmlMagic(path: string): void {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    if (readSync(fd, head, 0, 4, 0) !== 4 || head.readUInt32LE(0) !== GGML_MAGIC) throw new WhisperServeError('MODEL_LOAD_FAILED', `${path} is not a ggml file`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Takes `<file>.lock` (this process's pid in it), waiting while another live process (or another
 * call of this one) holds it; a lock whose process is gone is taken over. True when it waited.
 */
async function lockDownload(dest: string, signal: AbortSignal | undefined): Promise<boolean> {
  const lock = `${dest}.lock`;
  for (let waited = false; ; waited = true) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return waited;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(readFileSync(lock, 'utf8').trim());
    if (Number.isInteger(holder) && holder > 0 && !processRuns(holder)) {
      rmSync(lock, { force: true });
      continue;
    }
    signal?.throwIfAborted();
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Where a registry file is downloaded from: `<mirror>/<file>`, else the registry's URL. */
export const downloadUrl = (entry: RegistryEntry, mirror: string | undefined): string => (mirror ? mirror.replace(/\/?$/, `/${entry.file}`) : entry.url);

export async function pullModel(name: string, o: PullOptions): Promise<Pulled> {
  const entry = registryEntry(name);
  if (!entry) throw new WhisperServeError('MODEL_NOT_FOUND', `unknown model "${name}"; known: ${registryNames()}`);
  const isVad = name in knownVadModels();
  const dir = o.cacheDir;
  mkdirSync(dir, { recursive: true });
  const dest = join(dir, entry.file);
  const partial = `${dest}.partial`;
  const url = o.url ?? downloadUrl(entry, o.mirror);
  // The file upstream publishes, or (from a mirror, say) our own import of the same weights.
  const accepted = o.sha256 ? [o.sha256] : [entry.sha256, entry.sha1, entry.importedSha256].filter((x): x is string => !!x);
  const byHand = `download ${url} yourself and place it at ${dest}`;

  // Servers sharing a cache (one per GPU) may all want the model at once: one downloads, the
  // others wait for it and take its file.
  const waited = await lockDownload(dest, o.signal);
  try {
    if (waited && existsSync(dest)) return { path: dest, bytes: statSync(dest).size, resumedFrom: 0, checksum: (await hashFile(dest)).sha256 };
    // A download cut or stalled mid-way, or a 5xx, is tried again from where the partial ends; a
    // host that does not answer, or another status, is not (offline fails fast).
    const { checksum, resumedFrom } = await withRetries(download, {
      attempts: o.attempts ?? 4,
      delayMs: (n) => 500 * 2 ** (n - 2),
      retryable: (err) => {
        const d = (err as WhisperServeError).details as { status?: number; bytes?: number } | undefined;
        return d?.bytes !== undefined || (d?.status !== undefined && retryableStatus(d.status));
      },
      ...(o.signal && { signal: o.signal }),
    });
    return finish(checksum, resumedFrom);
  } finally {
    rmSync(`${dest}.lock`, { force: true });
  }

  async function download(): Promise<{ checksum: Checksums; resumedFrom: number }> {
    // The bytes already here count towards the checksum.
    let hash = new Hashes();
    const have = existsSync(partial) ? statSync(partial).size : 0;
    if (have) await pipeline(createReadStream(partial), new Transform({ transform: (c: Buffer, _e, cb) => (hash.update(c), cb()) }));

    const stall = new AbortController();
    const signal = o.signal ? AbortSignal.any([o.signal, stall.signal]) : stall.signal;
    let stallTimer = setTimeout(() => stall.abort(), o.stallTimeoutMs ?? 15_000);
    const touch = () => {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => stall.abort(), o.stallTimeoutMs ?? 15_000);
    };
    let resumedFrom = 0;
    try {
      let res: Response;
      try {
        res = await fetch(url, { headers: { 'user-agent': USER_AGENT, ...(have && { Range: `bytes=${have}-` }) }, signal });
      } catch (err) {
        if (stall.signal.aborted) throw new WhisperServeError('DOWNLOAD_TIMEOUT', `${url} did not answer within ${(o.stallTimeoutMs ?? 15_000) / 1000} s; offline? ${byHand}`, { cause: err, details: { url } });
        throw new WhisperServeError('DOWNLOAD_FAILED', `cannot reach ${url} (${(err as Error).cause ?? (err as Error).message}); offline? ${byHand}`, { cause: err, details: { url } });
      }
      if (res.status === 416 && have) {
        // The partial is already whole (or longer than the file): check it as it is.
        await res.body?.cancel();
      } else {
        if (!res.ok) {
          await res.body?.cancel();
          throw new WhisperServeError('DOWNLOAD_FAILED', `HTTP ${res.status} for ${url}; ${byHand}`, { details: { status: res.status, url } });
        }
        resumedFrom = res.status === 206 ? have : 0;
        if (!resumedFrom) hash = new Hashes(); // no partial, or the server ignored the Range
        const length = Number(res.headers.get('content-length') ?? NaN);
        const total = Number.isFinite(length) ? resumedFrom + length : undefined;
        let done = resumedFrom;
        const counter = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            touch();
            hash.update(chunk);
            done += chunk.length;
            o.onProgress?.(done, total);
            cb(null, chunk);
          },
        });
        try {
          await pipeline(Readable.fromWeb(res.body! as import('node:stream/web').ReadableStream), counter, createWriteStream(partial, { flags: resumedFrom ? 'a' : 'w' }), { signal });
        } catch (err) {
          const why = stall.signal.aborted ? 'no data for too long' : (err as Error).message;
          throw new WhisperServeError(stall.signal.aborted ? 'DOWNLOAD_TIMEOUT' : 'DOWNLOAD_FAILED', `download of ${url} stopped at ${done} bytes (${why}); run the same command again to resume`, {
            cause: err,
            details: { url, bytes: done },
          });
        }
        if (total !== undefined && done < total) {
          throw new WhisperServeError('DOWNLOAD_FAILED', `download of ${url} ended at ${done} of ${total} bytes; run the same command again to resume`, { details: { url, bytes: done } });
        }
      }
      return { checksum: hash.digest(), resumedFrom };
    } finally {
      clearTimeout(stallTimer);
    }
  }

  function finish(checksum: Checksums, resumedFrom: number): Pulled {
    if (accepted.length && !accepted.includes(checksum.sha256) && !accepted.includes(checksum.sha1)) {
      rmSync(partial, { force: true });
      throw new WhisperServeError('MODEL_CHECKSUM_MISMATCH', `${url} has sha256 ${checksum.sha256}, expected ${accepted.join(' or ')}; the download was deleted`, {
        details: { url, expected: accepted, actual: checksum.sha256 },
      });
    }
    try {
      if (isVad) checkGgmlMagic(partial);
      else readGgmlModel(partial);
    } catch (err) {
      rmSync(partial, { force: true });
      throw err;
    }
    renameSync(partial, dest);
    return { path: dest, bytes: statSync(dest).size, resumedFrom, checksum: checksum.sha256 };
  }
}
