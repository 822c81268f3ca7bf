/**
 * RunPod's top-level `webhook`: when a job ends (completed, failed or cancelled) its status, the
 * JSON GET /status/:id answers, is POSTed there. Retried with back-off on network errors, 5xx,
 * 408 and 429; through the same SSRF guard as audio downloads (private addresses refused unless
 * ALLOW_PRIVATE_URLS says, metadata addresses always); redirects are not followed. Deliveries
 * run beside the queue and never hold it up.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { checkUrl, guardedLookup, redactUrl } from '../audio/ssrf.js';
import { WhisperServeError } from '../errors.js';
import type { Logger } from '../log.js';

export interface WebhookPolicy {
  attempts: number;
  /** Wait before the second attempt; ×4 before each later one. */
  backoffMs: number;
  timeoutMs: number;
}

export const WEBHOOK_POLICY: WebhookPolicy = { attempts: 3, backoffMs: 2000, timeoutMs: 10_000 };

/** The `webhook` of a job request, checked when the job is submitted (not when it ends). */
export function webhookUrl(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length > 2048) throw new WhisperServeError('INVALID_INPUT', 'webhook must be an http(s) URL');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WhisperServeError('INVALID_INPUT', 'webhook must be an http(s) URL');
  }
  checkUrl(url);
  return url.href;
}

function postOnce(url: URL, body: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      url,
      {
        method: 'POST',
        lookup: guardedLookup,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'whisper-serve' },
        timeout: timeoutMs,
      },
      (res: IncomingMessage) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

const retryable = (status: number) => status >= 500 || status === 408 || status === 429;

export class WebhookSender {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly policy: WebhookPolicy = WEBHOOK_POLICY) {}

  /** Starts delivering; returns at once. */
  send(url: string, payload: unknown, log: Logger): void {
    const delivery = this.deliver(new URL(url), JSON.stringify(payload), log);
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
  }

  private async deliver(url: URL, body: string, log: Logger): Promise<void> {
    let why = '';
    for (let attempt = 1; attempt <= this.policy.attempts; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, this.policy.backoffMs * 4 ** (attempt - 2)).unref());
      try {
        const status = await postOnce(url, body, this.policy.timeoutMs);
        if (status >= 200 && status < 300) {
          log.info('webhook delivered', { url: redactUrl(url), status, attempt });
          return;
        }
        why = `HTTP ${status}`;
        if (!retryable(status)) break;
      } catch (err) {
        why = (err as Error).message;
        if ((err as { code?: string }).code === 'URL_BLOCKED') break;
      }
    }
    log.warn(`webhook not delivered: ${why}`, { url: redactUrl(url) });
  }

  /** Waits for deliveries under way, at most `ms`. */
  async close(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }
}
