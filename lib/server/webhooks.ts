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
import type { JobStore, StoredJob } from '../jobs/store/job-store.js';

export interface WebhookPolicy {
  attempts: number;
  /** Wait before the second attempt; ×4 before each later one. */
  backoffMs: number;
  timeoutMs: number;
}

export const WEBHOOK_POLICY: WebhookPolicy = { attempts: 3, backoffMs: 2000, timeoutMs: 10_000 };

/** The longest one delivery can take: every attempt at its deadline (twice the answer's wait), and the waits between them. */
export function deliveryDeadlineMs(policy: WebhookPolicy): number {
  let ms = 0;
  for (let n = 1; n <= policy.attempts; n++) ms += 2 * policy.timeoutMs + (n > 1 ? policy.backoffMs * 4 ** (n - 2) : 0);
  return ms;
}

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
  private readonly inFlight = new Set<Promise<boolean>>();

  constructor(
    private readonly privateUrls: PrivateUrlPolicy,
    private readonly policy: WebhookPolicy = WEBHOOK_POLICY,
  ) {}

  /** Starts delivering; resolves (never rejects) to whether the receiver took it. */
  send(url: string, payload: unknown, log: Logger): Promise<boolean> {
    const delivery = this.deliver(new URL(url), JSON.stringify(payload), log);
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
    return delivery;
  }

  private async deliver(url: URL, body: string, log: Logger): Promise<boolean> {
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
          delayMs: (n) => this.policy.backoffMs * 4 ** (n - 2), // as deliveryDeadlineMs counts them
          unref: true,
          // A refused address stays refused; a 4xx other than 408/429 is the receiver's answer.
          retryable: (err) => (err instanceof HttpStatusError ? retryableStatus(err.status) : (err as { code?: string }).code !== 'URL_BLOCKED'),
        },
      );
      log.info('webhook delivered', { url: redactUrl(url), status, attempt });
      return true;
    } catch (err) {
      log.warn(`webhook not delivered: ${(err as Error).message}`, { url: redactUrl(url) });
      return false;
    }
  }

  /** Waits for deliveries under way, at most `ms`. */
  async close(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }
}

/** How often a node looks for webhooks a dead node left undelivered. */
const SWEEP_MS = 5000;

/**
 * Webhooks once per job across nodes: the store records each settled job's webhook as pending,
 * claimed by the node that settled it; that node delivers it and records it sent. One left
 * pending past its claim (its node died first) is claimed and sent by another. A node that dies
 * between sending and recording makes the only duplicate.
 */
export class WebhookOutbox {
  private readonly timer: NodeJS.Timeout;
  private sweeping = false;

  constructor(
    private readonly store: JobStore,
    private readonly sender: WebhookSender,
    private readonly payload: (job: StoredJob) => unknown,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => void this.sweep(), SWEEP_MS);
    this.timer.unref();
    void this.sweep();
  }

  /** A job this node settled: its webhook, if it has one, is this node's to send. */
  deliver(job: StoredJob): void {
    if (!job.webhook) return;
    const log = this.log.child(job.id);
    void this.sender
      .send(job.webhook, this.payload(job), log)
      .then((delivered) => this.store.webhookDone(job.id, delivered))
      .catch((err: Error) => log.warn(`webhook sent, but not recorded (another node may send it again): ${err.message}`));
  }

  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (let job = await this.store.claimWebhook(); job; job = await this.store.claimWebhook()) {
        this.log.child(job.id).info('webhook left undelivered by the node that ended the job: sending it');
        this.deliver(job);
      }
    } catch (err) {
      this.log.warn(`job store: cannot look for undelivered webhooks: ${(err as Error).message}`);
    } finally {
      this.sweeping = false;
    }
  }

  /** Stops sweeping; waits for deliveries under way, at most `ms`. */
  async close(ms: number): Promise<void> {
    clearInterval(this.timer);
    await this.sender.close(ms);
  }
}
