/**
 * RunPod's top-level `webhook`: when a job ends (completed, failed or cancelled) its status, the
 * JSON GET /status/:id answers, is POSTed there. Retried with back-off on network errors, 5xx,
 * 408 and 429; through the same SSRF guard as audio downloads (private addresses refused unless
 * ALLOW_PRIVATE_URLS says, metadata addresses always); redirects are not followed. Deliveries
 * run beside the queue and never hold it up.
 */
import { guardedRequest, HttpStatusError, retryableStatus, withRetries } from '../net/http.js';
import type { PrivateUrlPolicy } from '../config.js';
import { checkUrl, redactUrl } from '../net/ssrf.js';
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
export function webhookUrl(raw: unknown, privateUrls: PrivateUrlPolicy): string {
  if (typeof raw !== 'string' || raw.length > 2048) throw new WhisperServeError('INVALID_INPUT', 'webhook must be an http(s) URL');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WhisperServeError('INVALID_INPUT', 'webhook must be an http(s) URL');
  }
  checkUrl(url, privateUrls);
  return url.href;
}

export class WebhookSender {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly privateUrls: PrivateUrlPolicy,
    private readonly policy: WebhookPolicy = WEBHOOK_POLICY,
  ) {}

  /** Starts delivering; returns at once. */
  send(url: string, payload: unknown, log: Logger): void {
    const delivery = this.deliver(new URL(url), JSON.stringify(payload), log);
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
  }

  private async deliver(url: URL, body: string, log: Logger): Promise<void> {
    try {
      const { status, attempt } = await withRetries(
        async (attempt) => {
          // A total deadline per attempt (a receiver that drips never idles the socket), and the
          // answer's body is not read: its status is all we need, and a dripped body kept the
          // socket, and so a stopping process, alive.
          const res = await guardedRequest(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
            timeoutMs: this.policy.timeoutMs,
            signal: AbortSignal.timeout(2 * this.policy.timeoutMs),
            privateUrls: this.privateUrls,
          });
          res.destroy();
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) throw new HttpStatusError(status);
          return { status, attempt };
        },
        {
          attempts: this.policy.attempts,
          delayMs: (n) => this.policy.backoffMs * 4 ** (n - 2),
          unref: true,
          // A refused address stays refused; a 4xx other than 408/429 is the receiver's answer.
          retryable: (err) => (err instanceof HttpStatusError ? retryableStatus(err.status) : (err as { code?: string }).code !== 'URL_BLOCKED'),
        },
      );
      log.info('webhook delivered', { url: redactUrl(url), status, attempt });
    } catch (err) {
      log.warn(`webhook not delivered: ${(err as Error).message}`, { url: redactUrl(url) });
    }
  }

  /** Waits for deliveries under way, at most `ms`. */
  async close(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }
}
