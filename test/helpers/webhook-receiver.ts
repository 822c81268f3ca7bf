// A webhook receiver on loopback, for the tests of RunPod's `webhook`.
import type { IncomingMessage } from 'node:http';
import { listen, type Loopback } from './loopback.js';

export interface Delivery {
  path: string;
  body: any;
  at: number;
}

/**
 * A webhook receiver: answers each path's first `fail` calls with 503, never answers its first
 * `hang` calls (a receiver that stalls), then answers 200.
 */
export async function receiver(fail: Record<string, number> = {}, hang: Record<string, number> = {}): Promise<Loopback & { deliveries: Delivery[]; calls: Map<string, number> }> {
  const deliveries: Delivery[] = [];
  const calls = new Map<string, number>();
  const lb = await listen((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const path = req.url ?? '/';
      const n = (calls.get(path) ?? 0) + 1;
      calls.set(path, n);
      if (n <= (hang[path] ?? 0)) return;
      if (n <= (hang[path] ?? 0) + (fail[path] ?? 0)) return res.writeHead(503).end();
      deliveries.push({ path, body: JSON.parse(raw), at: Date.now() });
      res.writeHead(200).end('ok');
    });
  });
  return Object.assign(lb, { deliveries, calls });
}

/** Polls `what` every 50 ms until it holds. */
export async function until(what: () => boolean, ms = 30_000): Promise<void> {
  for (const t0 = Date.now(); !what(); ) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

