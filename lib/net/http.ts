/**
 * The one HTTP client policy: how requests to other hosts are made and retried. Audio downloads,
 * model pulls, webhooks and the RunPod worker's posts each name a RetryPolicy here instead of a
 * loop of their own; requests to URLs a client gave us go through `guardedRequest` (the SSRF guard
 * at connect time, no redirects unless the caller follows them, one user agent).
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { PrivateUrlPolicy } from '../config.js';
import { guardedLookup } from './ssrf.js';

export const USER_AGENT = 'whisper-serve';

/** An HTTP status worth trying again: the server's fault or its load (5xx, 408, 429). */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** A response whose status says the request failed. */
export class HttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  /** Wait before try `n` (n ≥ 2), ms. */
  delayMs: (n: number) => number;
  /** Whether an error is worth another try (default: anything but a status that is not retryableStatus). */
  retryable?: (err: unknown) => boolean;
  /** Called before each retry with the error that caused it. */
  onRetry?: (err: unknown, next: number) => void;
  signal?: AbortSignal;
  /** The wait does not keep the process alive (deliveries beside a server that is stopping). */
  unref?: boolean;
}

const defaultRetryable = (err: unknown) => !(err instanceof HttpStatusError) || retryableStatus(err.status);

/** Runs `fn` until it succeeds, the policy's tries are spent, or an error is not worth retrying (then that error is thrown). */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= policy.attempts || policy.signal?.aborted || !(policy.retryable ?? defaultRetryable)(err)) throw err;
      policy.onRetry?.(err, attempt + 1);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, policy.delayMs(attempt + 1));
        if (policy.unref) timer.unref();
        policy.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  }
}

export interface GuardedRequest {
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer;
  /** No answer (headers) within this long fails the request. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Which private addresses may be reached (the shell's ALLOW_PRIVATE_URLS; default none). */
  privateUrls?: PrivateUrlPolicy;
}

/**
 * One request to a URL a client gave us: private addresses refused at connect time (the SSRF
 * guard: literals should be checked with checkUrl before), redirects not followed. Resolves with
 * the response, whose body the caller reads or discards.
 */
export function guardedRequest(url: URL, o: GuardedRequest = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers: OutgoingHttpHeaders = { 'user-agent': USER_AGENT, ...o.headers };
    if (o.body !== undefined) headers['content-length'] = Buffer.byteLength(o.body);
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: o.method ?? 'GET',
      lookup: guardedLookup(o.privateUrls),
      headers,
      ...(o.timeoutMs !== undefined && { timeout: o.timeoutMs }),
      ...(o.signal && { signal: o.signal }),
    });
    req.on('response', resolve);
    req.on('timeout', () => req.destroy(new Error(`no answer in ${(o.timeoutMs ?? 0) / 1000} s`)));
    req.on('error', reject);
    req.end(o.body);
  });
}
