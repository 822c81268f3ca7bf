/**
 * HTTP(S) download into a job's temp dir: connect, stall (under 1 KiB in DOWNLOAD_IDLE_SECONDS)
 * and total timeouts, a size cap (header and stream), at most 5 redirects (each re-checked), retries
 * with back-off on network errors, 5xx, 408 and 429 (lib/net/http.ts; never another 4xx, never a stalled origin), AbortSignal, SSRF
 * guard before connecting (literals) and at connect time (names).
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { DEFAULTS, type PrivateUrlPolicy } from '../config.js';
import { WhisperServeError } from '../errors.js';
import { retryableStatus, USER_AGENT, withRetries } from '../net/http.js';
import { checkUrl, guardedLookup, redactUrl } from '../net/ssrf.js';

/** A download's limits: a shell's configuration (MAX_AUDIO_BYTES, DOWNLOAD_IDLE_SECONDS, ALLOW_PRIVATE_URLS), else DEFAULTS. */
export interface FetchOptions {
  maxBytes?: number;
  connectTimeoutMs?: number;
  /** An origin that sends under 1 KiB (nothing, or a drip) in this long fails with DOWNLOAD_TIMEOUT. */
  idleTimeoutMs?: number;
  totalTimeoutMs?: number;
  retries?: number;
  /** Which private addresses the URL (and its redirects) may reach; default none. */
  privateUrls?: PrivateUrlPolicy;
  signal?: AbortSignal;
}

export interface Downloaded {
  path: string;
  bytes: number;
  contentType: string | undefined;
  url: string;
}

type Options = Required<Omit<FetchOptions, 'signal'>>;

/** Fewer bytes than this in an idle period (DOWNLOAD_IDLE_SECONDS) is a stall: 1 byte a second is not a download. */
const STALL_BYTES = 1024;

/** The response, and the error that ended it when the origin stalled (the body then fails with a bare "aborted"). */
interface Response {
  res: http.IncomingMessage;
  stalled: () => WhisperServeError | undefined;
}

function request(url: URL, o: Options, signal: AbortSignal): Promise<Response> {
  const mod = url.protocol === 'https:' ? https : http;
  let stalled: WhisperServeError | undefined;
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { lookup: guardedLookup(o.privateUrls), signal, headers: { 'user-agent': USER_AGENT } }, (res) => {
      res.once('close', () => clearInterval(watch)); // the body is read (or failed): the socket may go back to the agent
      resolve({ res, stalled: () => stalled });
    });
    const timer = setTimeout(() => req.destroy(new WhisperServeError('DOWNLOAD_TIMEOUT', `no connection to ${url.host} within ${o.connectTimeoutMs} ms`)), o.connectTimeoutMs);
    // A stalled or dripping origin: under STALL_BYTES in a whole idle period, headers included.
    let seen = 0;
    const watch = setInterval(() => {
      const read = req.socket?.bytesRead ?? 0;
      if (read - seen < STALL_BYTES) {
        const what = read === seen ? 'nothing' : `only ${read - seen} bytes`;
        stalled = new WhisperServeError('DOWNLOAD_TIMEOUT', `${url.host} sent ${what} in ${o.idleTimeoutMs / 1000} s`);
        req.destroy(stalled);
      }
      seen = read;
    }, o.idleTimeoutMs).unref();
    req.on('close', () => clearInterval(watch));
    req.on('socket', (s) => s.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(timer)));
    req.on('response', () => clearTimeout(timer));
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function attempt(start: URL, dest: string, o: Options, signal: AbortSignal): Promise<Downloaded> {
  let url = start;
  for (let hop = 0; ; hop++) {
    checkUrl(url, o.privateUrls);
    const { res, stalled } = await request(url, o, signal);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hop >= 5) throw new WhisperServeError('DOWNLOAD_FAILED', `too many redirects fetching ${redactUrl(start)}`, { details: { host: start.host } });
      url = new URL(res.headers.location, url);
      continue;
    }
    if (status !== 200) {
      res.resume();
      throw new WhisperServeError('DOWNLOAD_FAILED', `HTTP ${status} from ${url.host} for ${redactUrl(url)}`, { details: { status, host: url.host } });
    }
    const declared = Number(res.headers['content-length']);
    if (declared > o.maxBytes) {
      res.destroy();
      throw new WhisperServeError('DOWNLOAD_TOO_LARGE', `${redactUrl(url)} is ${declared} bytes, over the ${o.maxBytes} byte limit`);
    }
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        if (bytes > o.maxBytes) return cb(new WhisperServeError('DOWNLOAD_TOO_LARGE', `${redactUrl(url)} is over the ${o.maxBytes} byte limit`));
        cb(null, chunk);
      },
    });
    await pipeline(res, counter, createWriteStream(dest), { signal }).catch((err: unknown) => {
      throw stalled() ?? err;
    });
    return { path: dest, bytes, contentType: res.headers['content-type'], url: redactUrl(url) };
  }
}

function retryable(err: unknown): boolean {
  const e = err as WhisperServeError & { status?: number };
  if (e instanceof WhisperServeError) {
    const status = e.details?.status;
    return e.code === 'DOWNLOAD_FAILED' && typeof status === 'number' && retryableStatus(status); // a stall (DOWNLOAD_TIMEOUT) is not retried
  }
  return (err as Error).name !== 'AbortError';
}

export async function download(url: string | URL, dir: string, options: FetchOptions = {}): Promise<Downloaded> {
  const o: Options = {
    maxBytes: options.maxBytes ?? DEFAULTS.maxAudioBytes,
    connectTimeoutMs: options.connectTimeoutMs ?? 15_000,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULTS.downloadIdleSeconds * 1000,
    totalTimeoutMs: options.totalTimeoutMs ?? 15 * 60_000,
    retries: options.retries ?? 2,
    privateUrls: options.privateUrls ?? DEFAULTS.allowPrivateUrls,
  };
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw new WhisperServeError('INVALID_ARGUMENT', `not a URL: ${String(url)}`);
  }
  const total = AbortSignal.timeout(o.totalTimeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, total]) : total;
  const dest = join(dir, 'download');
  try {
    return await withRetries(
      async () => {
        try {
          return await attempt(parsed, dest, o, signal);
        } catch (err) {
          await rm(dest, { force: true });
          throw err;
        }
      },
      { attempts: o.retries + 1, delayMs: (n) => 250 * 2 ** (n - 2), retryable, signal },
    );
  } catch (err) {
    if (options.signal?.aborted) throw new WhisperServeError('ABORTED', 'download aborted');
    if (total.aborted) throw new WhisperServeError('DOWNLOAD_TIMEOUT', `${redactUrl(parsed)} did not finish within ${o.totalTimeoutMs} ms`);
    if (err instanceof WhisperServeError) throw err;
    throw new WhisperServeError('DOWNLOAD_FAILED', `fetching ${redactUrl(parsed)} failed: ${(err as Error).message}`, {
      cause: err,
      details: { host: parsed.host },
    });
  }
}
