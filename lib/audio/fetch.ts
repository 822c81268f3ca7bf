/**
 * HTTP(S) download into a job's temp dir: connect and total timeouts, a size cap (header and
 * stream), at most 5 redirects (each re-checked), retries with back-off on network errors and
 * 5xx (never 4xx), AbortSignal, SSRF guard at connect time.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { readConfig } from '../config.js';
import { WhisperServeError } from '../errors.js';
import { checkUrl, guardedLookup, redactUrl } from './ssrf.js';

export interface FetchOptions {
  maxBytes?: number;
  connectTimeoutMs?: number;
  totalTimeoutMs?: number;
  retries?: number;
  signal?: AbortSignal;
}

export interface Downloaded {
  path: string;
  bytes: number;
  contentType: string | undefined;
  url: string;
}


function request(url: URL, connectTimeoutMs: number, signal: AbortSignal): Promise<http.IncomingMessage> {
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { lookup: guardedLookup, signal, headers: { 'user-agent': 'whisper-serve' } }, resolve);
    const timer = setTimeout(() => req.destroy(new WhisperServeError('DOWNLOAD_TIMEOUT', `no connection to ${url.host} within ${connectTimeoutMs} ms`)), connectTimeoutMs);
    req.on('socket', (s) => s.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(timer)));
    req.on('response', () => clearTimeout(timer));
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function attempt(start: URL, dest: string, o: Required<Omit<FetchOptions, 'signal'>>, signal: AbortSignal): Promise<Downloaded> {
  let url = start;
  for (let hop = 0; ; hop++) {
    checkUrl(url);
    const res = await request(url, o.connectTimeoutMs, signal);
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
    await pipeline(res, counter, createWriteStream(dest), { signal });
    return { path: dest, bytes, contentType: res.headers['content-type'], url: redactUrl(url) };
  }
}

function retryable(err: unknown): boolean {
  const e = err as WhisperServeError & { status?: number };
  if (e instanceof WhisperServeError) {
    const status = e.details?.status;
    return e.code === 'DOWNLOAD_FAILED' && typeof status === 'number' && status >= 500;
  }
  return (err as Error).name !== 'AbortError';
}

export async function download(url: string | URL, dir: string, options: FetchOptions = {}): Promise<Downloaded> {
  const o = {
    maxBytes: options.maxBytes ?? readConfig().maxAudioBytes,
    connectTimeoutMs: options.connectTimeoutMs ?? 15_000,
    totalTimeoutMs: options.totalTimeoutMs ?? 15 * 60_000,
    retries: options.retries ?? 2,
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
  for (let i = 0; ; i++) {
    try {
      return await attempt(parsed, dest, o, signal);
    } catch (err) {
      await rm(dest, { force: true });
      if (options.signal?.aborted) throw new WhisperServeError('ABORTED', 'download aborted');
      if (total.aborted) throw new WhisperServeError('DOWNLOAD_TIMEOUT', `${redactUrl(parsed)} did not finish within ${o.totalTimeoutMs} ms`);
      if (i < o.retries && retryable(err)) {
        await new Promise((r) => setTimeout(r, 250 * 2 ** i));
        continue;
      }
      if (err instanceof WhisperServeError) throw err;
      throw new WhisperServeError('DOWNLOAD_FAILED', `fetching ${redactUrl(parsed)} failed: ${(err as Error).message}`, {
        cause: err,
        details: { host: parsed.host },
      });
    }
  }
}
