// Several servers on one PostgreSQL queue, as if on separate machines (each its own NODE_NAME,
// temp dir and model cache): jobs submitted to one node, that node killed -9 mid-job, the others
// finish everything; any node answers for any job (status, output, stream, cancel, health);
// every webhook arrives (at most one duplicate); a restarted node runs nothing twice; a
// SIGTERM hands a running job to another node at once; a cancel reaches the node running a job;
// a webhook its node died sending is sent by another.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, have, normalise } from './helpers/fixtures.js';
import { audioServer, type Loopback } from './helpers/loopback.js';
import { freshDatabase, havePostgres } from './helpers/postgres.js';
import { startServer, untilDone, untilRunning, type RunningServer } from './helpers/server-process.js';
import { receiver, until } from './helpers/webhook-receiver.js';

const ready = have(TINY_EN, JFK_WAV, join(packageRoot, 'dist', 'cli', 'main.js')) && havePostgres();
const dir = mkdtempSync(join(tmpdir(), 'ws-cluster-'));

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const status = async (node: RunningServer, id: string) => (await (await fetch(`${node.url}/status/${id}`)).json()) as any;
/** Lines a node logged for a job. */
const logged = (node: RunningServer, id: string, what: string) => node.stderr().split('\n').filter((l) => l.includes(id) && l.includes(what)).length;

describe.skipIf(!ready)('a cluster of servers on one PostgreSQL queue', () => {
  let db: string;
  let audio: Loopback;
  let hooks: Awaited<ReturnType<typeof receiver>>;
  const nodes: RunningServer[] = [];
  const alive = () => nodes.filter((s) => s.child.exitCode === null && s.child.signalCode === null);
  /** A node "on its own machine": its name, temp dir and model cache its own; leases of 3 s. */
  const node = async (name: string, extra: Record<string, string> = {}) => {
    const tmp = join(dir, `${name}-tmp`);
    mkdirSync(tmp, { recursive: true });
    const s = await startServer({
      JOBS_DB: db,
      NODE_NAME: name,
      JOB_LEASE_SECONDS: '3',
      SERVER_CONCURRENCY: '1',
      WHISPER_SERVE_TMP: tmp,
      WHISPER_MODEL_CACHE: join(dir, `${name}-models`),
      ...extra,
    });
    nodes.push(s);
    return s;
  };
  beforeAll(async () => {
    db = await freshDatabase('cluster');
    audio = await audioServer(JFK_WAV);
    hooks = await receiver();
  });
  afterAll(async () => {
    for (const s of nodes) s.child.kill('SIGTERM');
    await Promise.all(nodes.map((s) => s.exited));
    await audio?.close();
    await hooks?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finishes every job of a node killed -9 on the others, answers for any job on any node, sends each webhook, runs nothing twice', async () => {
    const a = await node('node-a');
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const body = { input: { audio_url: `${audio.url}/${i === 0 ? 'jfk-x3' : 'jfk'}.wav`, ...(i === 1 && { stream: true }) }, webhook: `${hooks.url}/hook/${i}` };
      ids.push(((await (await post(`${a.url}/run`, body)).json()) as any).id);
    }
    await untilRunning(a.url, ids[0]!);
    const [b, c] = [await node('node-b'), await node('node-c')];
    // The last job, still queued, cancelled through another node.
    const cancelled = ids[7]!;
    expect((await (await post(`${b.url}/cancel/${cancelled}`, {})).json()) as any).toMatchObject({ status: 'CANCELLED' });
    expect((await status(c, cancelled)).status).toBe('CANCELLED');
    // A dies while it works on a job.
    await until(() => /Transcription started/.test(a.stderr()));
    const diedWith = ids.find((id) => logged(a, id, 'Job started') > 0 && logged(a, id, 'Job finished') === 0)!;
    expect(diedWith).toBeDefined();
    a.child.kill('SIGKILL');
    await a.exited;

    const done = await Promise.all(ids.map((id, i) => untilDone(i % 2 ? b.url : c.url, id)));
    for (const [i, s] of done.entries()) {
      if (ids[i] === cancelled) continue;
      expect(s.status).toBe('COMPLETED');
      expect(normalise(s.output.transcription)).toContain(normalise(JFK_TEXT));
    }
    // The killed node's job was started again by another once its lease lapsed, and finished once.
    expect(logged(b, diedWith, 'Job started') + logged(c, diedWith, 'Job started')).toBe(1);
    for (const id of ids.filter((x) => x !== cancelled)) expect(nodes.reduce((n, s) => n + logged(s, id, 'Job finished'), 0)).toBe(1);
    // The streamed job's chunks are read from a node that did not run it (it ended: whatever is unread, once).
    const streamed = ((await (await fetch(`${c.url}/stream/${ids[1]}`)).json()) as any).stream;
    const again = ((await (await fetch(`${b.url}/stream/${ids[1]}`)).json()) as any).stream;
    expect(streamed.length + again.length).toBeGreaterThan(0);
    expect(again.length === 0 || streamed.length === 0).toBe(true);
    // Every job's webhook, cancelled included; at most one duplicate in all.
    await until(() => new Set(hooks.deliveries.map((d) => d.path)).size === 8, 60_000);
    expect(hooks.deliveries.length).toBeLessThanOrEqual(9);
    for (const [i, id] of ids.entries()) expect(hooks.deliveries.find((d) => d.path === `/hook/${i}`)!.body).toMatchObject({ id, status: id === cancelled ? 'CANCELLED' : 'COMPLETED' });
    // Any node counts the same jobs.
    const health = await Promise.all([b, c].map(async (s) => ((await (await fetch(`${s.url}/health`)).json()) as any).jobs));
    expect(health[0]).toEqual(health[1]);
    expect(health[0]).toMatchObject({ completed: 7, cancelled: 1, inQueue: 0, inProgress: 0 });
    // A, restarted, takes its temp dirs back and runs nothing that already ran.
    const a2 = await node('node-a');
    await new Promise((r) => setTimeout(r, 2000));
    expect(a2.stderr()).not.toMatch(/Job started/);
    expect(a2.stderr()).toMatch(/removed temp dirs left by processes that were killed/);
  });

  it('hands a running job to another node at once on SIGTERM, and a cancel reaches the node running a job within a second or two', async () => {
    for (const name of ['node-e', 'node-f']) if (alive().length < 2) await node(name); // when run alone
    const others = alive();
    // Fill every node there is, so the next job goes to the new one.
    const busy: string[] = [];
    for (const s of others) busy.push(((await (await post(`${s.url}/run`, { input: { audio_url: `${audio.url}/jfk-x20.wav` } })).json()) as any).id);
    await until(() => busy.every((id) => others.some((s) => logged(s, id, 'Transcription started') > 0)), 60_000);
    // d's claims hold 60 s: its job can only be queued again by d handing it back.
    const d = await node('node-d', { SHUTDOWN_GRACE_SECONDS: '1', JOB_LEASE_SECONDS: '60' });
    const handed = ((await (await post(`${d.url}/run`, { input: { audio_url: `${audio.url}/jfk-x3.wav` } })).json()) as any).id;
    await until(() => logged(d, handed, 'Job started') > 0, 30_000);
    d.child.kill('SIGTERM'); // its grace: 1 s, then the job goes back
    expect(await d.exited).toBe(0);
    expect(d.stderr()).toMatch(new RegExp(`${handed} \\| Job put back in the queue`));
    expect((await status(others[0]!, handed)).status).toBe('IN_QUEUE'); // at once: not left to its lease
    // Cancel the busy jobs through a node that does not run them: each stops within two seconds.
    for (const id of busy) {
      const runner = others.find((s) => logged(s, id, 'Job started') > 0)!;
      const other = others.find((s) => s !== runner)!;
      const t1 = Date.now();
      expect(((await (await post(`${other.url}/cancel/${id}`, {})).json()) as any).status).toBe('CANCELLED');
      // The lease loop would take up to a second; the notification is quicker. 5 s: a loaded CI machine.
      await until(() => logged(runner, id, 'Job cancelled') > 0, 5000);
      console.log(`cancel through another node: the running node stopped the job ${Date.now() - t1} ms later`);
    }
    const finished = await untilDone(others[0]!.url, handed);
    expect(finished.status).toBe('COMPLETED');
  });

  it('sends the webhook of a node that died delivering it from another node, once its delivery would have ended', async () => {
    if (alive().length < 1) await node('node-g'); // when run alone
    const others = alive();
    const stalls = await receiver({}, { '/stall': 1 }); // its first call never answered
    try {
      // Every other node busy, so the new one takes the job; its webhook attempts wait 1 s each:
      // its claim on the delivery lapses 3 × 2 s + 2 s + 8 s + 1 s = 17 s after the job ended.
      const busy: string[] = [];
      for (const s of others) busy.push(((await (await post(`${s.url}/run`, { input: { audio_url: `${audio.url}/jfk-x20.wav` } })).json()) as any).id);
      await until(() => busy.every((id) => others.some((s) => logged(s, id, 'Transcription started') > 0)), 60_000);
      const h = await node('node-h', { WEBHOOK_TIMEOUT_SECONDS: '1' });
      const id = ((await (await post(`${h.url}/run`, { input: { audio_url: `${audio.url}/jfk.wav` }, webhook: `${stalls.url}/stall` })).json()) as any).id;
      await until(() => stalls.calls.get('/stall') === 1, 60_000); // h ended the job and is sending
      h.child.kill('SIGKILL');
      await h.exited;
      const died = Date.now();
      for (const b of busy) await post(`${others[0]!.url}/cancel/${b}`, {});
      await until(() => stalls.deliveries.length > 0, 60_000);
      const waited = Date.now() - died;
      console.log(`webhook of a node killed while sending it: sent by another node ${waited} ms later`);
      expect(waited).toBeGreaterThan(10_000); // not before h's own delivery would have ended
      expect(stalls.deliveries).toHaveLength(1);
      expect(stalls.deliveries[0]!.body).toMatchObject({ id, status: 'COMPLETED' });
      expect(stalls.calls.get('/stall')).toBe(2); // the stalled one and this: nothing more
      expect(others.filter((s) => logged(s, id, 'webhook left undelivered by the node that ended the job') > 0)).toHaveLength(1);
    } finally {
      await stalls.close();
    }
  });
});

describe.skipIf(!have(TINY_EN, JFK_WAV, join(packageRoot, 'dist', 'cli', 'main.js')))('two servers of one machine on one SQLite file', () => {
  it('takes over the jobs of a server killed -9 without waiting for its claims to lapse', async () => {
    const at = mkdtempSync(join(tmpdir(), 'ws-sqlite-pair-'));
    const audio = await audioServer(JFK_WAV);
    const env = (name: string) => ({ JOBS_DB: join(at, 'jobs.sqlite'), SERVER_CONCURRENCY: '1', WHISPER_SERVE_TMP: join(at, name) }); // JOB_LEASE_SECONDS: 30
    for (const name of ['a', 'b']) mkdirSync(join(at, name));
    const a = await startServer(env('a'));
    const b = await startServer(env('b'));
    try {
      const ids: string[] = [];
      for (const file of ['jfk-x3', 'jfk-x3', 'jfk']) ids.push(((await (await post(`${a.url}/run`, { input: { audio_url: `${audio.url}/${file}.wav` } })).json()) as any).id);
      await until(() => ids.some((id) => logged(a, id, 'Transcription started') > 0));
      const diedWith = ids.find((id) => logged(a, id, 'Job started') > 0 && logged(a, id, 'Job finished') === 0)!;
      a.child.kill('SIGKILL');
      await a.exited;
      const died = Date.now();
      // The claim's holder was a process of this machine that no longer runs: void at the next
      // reclaim (every lease / 3 = 10 s), not when the 30 s lease lapses.
      await until(() => /jobs of a node that stopped answering are queued again/.test(b.stderr()), 25_000);
      console.log(`SQLite pair: the killed server's job queued again by the other ${Date.now() - died} ms later`);
      for (const id of ids) expect((await untilDone(b.url, id)).status).toBe('COMPLETED');
      expect(logged(b, diedWith, 'Job started')).toBe(1);
    } finally {
      b.child.kill('SIGTERM');
      await b.exited;
      await audio.close();
      rmSync(at, { recursive: true, force: true });
    }
  });
});
