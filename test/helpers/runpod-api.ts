// A local stand-in of the RunPod serverless API (../shared/runpod/PROTOCOL.md) that records every request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listen } from './loopback.js';

export interface Recorded {
  at: number;
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

export type TakeReply = { status: number } | { job: { id: string; input?: unknown } };

export interface RunpodStandIn {
  url: string;
  requests: Recorded[];
  /** Env that points a worker at this stand-in. */
  env: Record<string, string>;
  /** Replies for the next job takes, in order; when empty, takes answer 204. */
  takes: TakeReply[];
  /** Result posts to answer with 500 before accepting. */
  failPosts: number;
  /** Job ids the stop channel will name (once). */
  stop: string[];
  results(jobId: string): Recorded[];
  /** Partial output posted to the stream URL (isStream=true), in arrival order. */
  partials(jobId: string): Recorded[];
  /** Resolves with the first accepted result post for the job. */
  waitForResult(jobId: string, timeoutMs?: number): Promise<{ output?: any; error?: string; stopPod?: boolean }>;
  waitFor(pred: (r: Recorded) => boolean, timeoutMs?: number): Promise<Recorded>;
  close(): Promise<void>;
}

export async function runpodStandIn(apiKey = 'rp-test-key'): Promise<RunpodStandIn> {
  const requests: Recorded[] = [];
  const accepted: Recorded[] = [];
  const state = { takes: [] as TakeReply[], failPosts: 0, stop: [] as string[] };
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = await listen((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const rec: Recorded = { at: Date.now(), method: req.method ?? '', path: u.pathname, query: u.searchParams, headers: req.headers, body };
      requests.push(rec);
      if (u.pathname.includes('/job-take/')) {
        const next = state.takes.shift();
        if (!next) return setTimeout(() => res.writeHead(204).end(), 20); // a short "long poll"
        return 'job' in next ? json(res, 200, next.job) : res.writeHead(next.status).end();
      }
      if (u.pathname.includes('/job-stop/')) {
        const ids = state.stop.splice(0);
        return ids.length ? json(res, 200, { jobsToStop: ids }) : setTimeout(() => res.writeHead(204).end(), 20);
      }
      if (u.pathname.includes('/job-done/')) {
        if (state.failPosts > 0) {
          state.failPosts--;
          return res.writeHead(500).end('try again');
        }
        accepted.push(rec);
        return json(res, 200, {});
      }
      if (u.pathname.includes('/job-stream/')) return json(res, 200, {});
      if (u.pathname.includes('/ping/')) return json(res, 200, {});
      res.writeHead(404).end();
    });
  });
  const base = `${server.url}/v2/endpoint-1`;
  const waitFor = (pred: (r: Recorded) => boolean, timeoutMs = 60_000, list = requests) =>
    new Promise<Recorded>((resolve, reject) => {
      const t0 = Date.now();
      const tick = () => {
        const hit = list.find(pred);
        if (hit) return resolve(hit);
        if (Date.now() - t0 > timeoutMs) return reject(new Error('stand-in: timed out waiting for a request'));
        setTimeout(tick, 25);
      };
      tick();
    });
  return {
    url: server.url,
    requests,
    get takes() { return state.takes; },
    set takes(v) { state.takes = v; },
    get failPosts() { return state.failPosts; },
    set failPosts(v) { state.failPosts = v; },
    get stop() { return state.stop; },
    set stop(v) { state.stop = v; },
    env: {
      RUNPOD_WEBHOOK_GET_JOB: `${base}/job-take/$ID?gpu=test`,
      RUNPOD_WEBHOOK_POST_OUTPUT: `${base}/job-done/$RUNPOD_POD_ID/$ID?gpu=test`,
      RUNPOD_WEBHOOK_POST_STREAM: `${base}/job-stream/$RUNPOD_POD_ID/$ID?gpu=test`,
      RUNPOD_WEBHOOK_PING: `${base}/ping/$RUNPOD_POD_ID`,
      RUNPOD_AI_API_KEY: apiKey,
      RUNPOD_POD_ID: 'worker-1',
    },
    results: (jobId) => requests.filter((r) => r.path.includes('/job-done/') && r.path.endsWith(`/${jobId}`)),
    partials: (jobId) => requests.filter((r) => r.path.includes('/job-stream/') && r.path.endsWith(`/${jobId}`)),
    waitForResult: async (jobId, timeoutMs) => JSON.parse((await waitFor((r) => r.path.endsWith(`/${jobId}`), timeoutMs, accepted)).body),
    waitFor,
    close: server.close,
  };
}
