// The job store on both of its databases, the same tests: a SQLite file and a real PostgreSQL
// (the suite's throwaway cluster). Two stores opened on one database stand for two nodes.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type Database from 'better-sqlite3';
import { JobStore, MAX_ATTEMPTS } from '../lib/jobs/store/job-store.js';
import { nodeIdentity } from '../lib/jobs/node-id.js';
import { asSuperuser, freshDatabase, havePostgres } from './helpers/postgres.js';

const dir = mkdtempSync(join(tmpdir(), 'ws-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pgReady = havePostgres();
const backends: Array<[string, () => Promise<string>]> = [
  ['SQLite', () => Promise.resolve(join(dir, `${Math.random().toString(36).slice(2)}.sqlite`))],
  ...(pgReady ? ([['PostgreSQL', () => freshDatabase('store')]] as Array<[string, () => Promise<string>]>) : []),
];

describe.each(backends)('job store on %s', (_name, location) => {
  let at: string;
  let a: JobStore;
  let b: JobStore;
  // Each test on a database of its own.
  beforeEach(async () => {
    at = await location();
    a = await JobStore.open(at, { webhookClaimMs: 300 });
    b = await JobStore.open(at, { webhookClaimMs: 300 }); // a second node on the same database
  });
  afterEach(async () => {
    await a?.close();
    await b?.close();
  });

  it('hands out each job once, oldest first, to nodes claiming at the same time', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await a.add({ n: i })).id);
    const taken: Array<[string, string]> = [];
    const claimer = async (store: JobStore, owner: string) => {
      for (let job = await store.take(owner, 60_000); job; job = await store.take(owner, 60_000)) taken.push([owner, job.id]);
    };
    await Promise.all([claimer(a, 'A'), claimer(b, 'B'), claimer(a, 'A2'), claimer(b, 'B2')]);
    expect(taken.map(([, id]) => id).sort()).toEqual([...ids].sort());
    // Oldest first: each claimer's own sequence is in submission order.
    for (const owner of ['A', 'B', 'A2', 'B2']) {
      const order = taken.filter(([o]) => o === owner).map(([, id]) => ids.indexOf(id));
      expect(order).toEqual([...order].sort((x, y) => x - y));
    }
    expect((await a.counts()).IN_PROGRESS).toBe(30);
    const job = (await b.get(ids[0]!))!;
    expect(job).toMatchObject({ status: 'IN_PROGRESS', input: { n: 0 }, leaseOwner: taken.find(([, id]) => id === ids[0])![0] });
  });

  it('renews leases; hands a lapsed one to another node, then fails it JOB_CRASHED after its last start', async () => {
    const { id } = await a.add({ audio_base64: 'QUJD' }, 'http://127.0.0.1:9/hook');
    expect((await a.take('A', 300))!.id).toBe(id);
    await sleep(150);
    expect([...(await a.renew('A', 300))]).toEqual([id]); // held: renewed before it lapsed
    await sleep(200);
    expect(await b.reclaim(() => false)).toEqual({ requeued: [], crashed: [] }); // renewed 200 ms ago: still A's
    await sleep(250);
    expect(await b.reclaim(() => false)).toEqual({ requeued: [id], crashed: [] });
    expect((await a.renew('A', 300)).has(id)).toBe(false); // A sees it lost the job
    expect((await b.take('B', 200))!.id).toBe(id);
    expect(await a.finish(id, 'A', { output: 'late' })).toBe(false); // A's late result is refused
    await sleep(300);
    expect(MAX_ATTEMPTS).toBe(2);
    expect(await a.reclaim(() => false)).toEqual({ requeued: [], crashed: [id] });
    const crashed = (await b.get(id))!;
    expect(crashed.status).toBe('FAILED');
    expect(crashed.error).toMatchObject({ code: 'JOB_CRASHED' });
    expect((crashed.input as { audio_base64: string }).audio_base64).toMatch(/^<4 base64 characters, dropped/);
    // Its webhook is pending, claimed by the node that failed it; after that claim lapses another takes it, once.
    expect(await b.claimWebhook()).toBeUndefined();
    await sleep(350);
    expect((await b.claimWebhook())?.id).toBe(id);
    expect(await a.claimWebhook()).toBeUndefined();
    await b.webhookDone(id, true);
    await sleep(350);
    expect(await a.claimWebhook()).toBeUndefined();
  });

  it("takes a dead process's job back at once, without waiting for its lease", async () => {
    const here = nodeIdentity('machine-1');
    const gone = 'machine-1/2147483646/0badcafe'; // a pid that does not run
    const elsewhere = 'machine-2/1/0badcafe'; // another machine's: only its lease says
    const { id } = await a.add({});
    const other = await a.add({});
    await a.take(gone, 60_000);
    await a.take(elsewhere, 60_000);
    expect(here.isDead(gone)).toBe(true);
    expect(here.isDead(elsewhere)).toBe(false);
    expect(here.isDead(here.owner)).toBe(false);
    expect(here.isDead(`machine-1/${process.pid}/00000000`)).toBe(true); // this pid, an earlier process
    expect(await b.reclaim((o) => here.isDead(o))).toEqual({ requeued: [id], crashed: [] });
    expect((await a.get(other.id))!.status).toBe('IN_PROGRESS');
  });

  it('cancels a running job for every node: its owner sees it gone from its leases and cannot finish it', async () => {
    const { id } = await a.add({});
    await a.take('A', 60_000);
    expect(await b.cancel(id)).toBe(true);
    expect(await b.cancel(id)).toBe(false);
    expect((await a.renew('A', 60_000)).has(id)).toBe(false);
    expect(await a.finish(id, 'A', { output: 'x' })).toBe(false);
    expect((await a.get(id))!.status).toBe('CANCELLED');
    const queued = await a.add({});
    expect(await b.purgeQueue()).toEqual([queued.id]);
  });

  it('keeps progress and streamed segments for any node to read, each segment once and in order', async () => {
    const { id } = await a.add({ stream: true });
    await a.take('A', 60_000);
    await a.setProgress(id, 'A', { fraction: 0.5, audioSeconds: 10, audioSecondsDone: 5, realtimeFactor: 3 } as never);
    expect((await b.get(id))!.progress).toMatchObject({ fraction: 0.5 });
    for (const n of [1, 0, 2]) await a.addChunk(id, { id: n, start: n, end: n + 1, text: `s${n}` });
    await a.addChunk(id, { id: 1, start: 1, end: 2, text: 's1' }); // a retried write adds nothing
    expect((await b.takeChunks(id)).map((c) => c.text)).toEqual(['s0', 's1', 's2']);
    expect(await a.takeChunks(id)).toEqual([]);
    await a.addChunk(id, { id: 3, start: 3, end: 4, text: 's3' });
    expect(await a.finish(id, 'A', { output: { text: 'done' } })).toBe(true);
    expect((await b.get(id))!.progress).toBeUndefined();
    expect((await b.takeChunks(id)).map((c) => c.text)).toEqual(['s3']); // read after the end, still there once
  });

  it('puts a stopping node\'s job back without counting its start, and does not grow with jobs served', async () => {
    const { id } = await a.add({});
    await a.take('A', 60_000);
    await a.requeue(id, 'A');
    await a.take('A', 60_000);
    await a.requeue(id, 'A');
    const job = (await a.take('B', 1))!;
    expect(job.id).toBe(id);
    await sleep(5);
    expect((await a.reclaim(() => false)).requeued).toEqual([id]); // attempts 1 of 2: queued again, not crashed
    expect(await a.purgeQueue()).toEqual([id]);
    for (let i = 0; i < 50; i++) {
      const j = await a.add({ audio_base64: 'A'.repeat(1000), stream: true });
      expect((await b.take('B', 60_000))!.id).toBe(j.id);
      await b.addChunk(j.id, { id: 0, start: 0, end: 1, text: 'x' });
      await b.finish(j.id, 'B', { output: 'ok' });
    }
    expect(await a.size()).toEqual({ jobs: 51, chunks: 50 });
    await sleep(5);
    expect(await a.purge(60_000, 1)).toBe(0); // within JOB_TTL: kept, unread chunks past their wait dropped
    expect(await a.size()).toEqual({ jobs: 51, chunks: 0 });
    expect(await a.purge(1, 1)).toBe(51);
    expect(await a.size()).toEqual({ jobs: 0, chunks: 0 });
  });

  it('refuses past MAX_QUEUE with QUEUE_FULL', async () => {
    const small = await JobStore.open(at, { maxQueue: 2 });
    try {
      await small.add({});
      await small.add({});
      await expect(small.add({})).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    } finally {
      await small.close();
    }
  });
});

describe('job store: opening', () => {
  it('migrates a SQLite file of the first release, its running job queued again', async () => {
    const file = join(dir, 'old.sqlite');
    const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof Database;
    const old = new Sqlite(file);
    old.exec(`CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, input TEXT NOT NULL, output TEXT, error TEXT,
      created_at INTEGER NOT NULL, started_at INTEGER, completed_at INTEGER);
      INSERT INTO jobs VALUES ('old-1', 'IN_PROGRESS', '{}', NULL, NULL, 1, 2, NULL);`);
    old.close();
    const store = await JobStore.open(file);
    try {
      expect(await store.reclaim(() => false)).toEqual({ requeued: ['old-1'], crashed: [] });
      expect((await store.take('A', 1000))!.id).toBe('old-1');
    } finally {
      await store.close();
    }
  });

  it.skipIf(!pgReady)('says which setting is wrong when PostgreSQL cannot be reached, refuses the user, or lacks the database', async () => {
    const admin = new URL(process.env.WHISPER_SERVE_TEST_POSTGRES!);
    await expect(JobStore.open('postgres://nobody:secret@127.0.0.1:9/db')).rejects.toMatchObject({
      code: 'SETUP_FAILED',
      message: expect.stringMatching(/^the job database postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:9\/db \(JOBS_DB\): the database cannot be reached.*ECONNREFUSED/),
    });
    const missing = new URL(admin.href);
    missing.pathname = '/no_such_db';
    await expect(JobStore.open(missing.href)).rejects.toMatchObject({ code: 'SETUP_FAILED', message: expect.stringMatching(/does not exist: create it/) });
    // A user that may connect but not create tables.
    const db = await freshDatabase('rights');
    const dbName = new URL(db).pathname.slice(1);
    await asSuperuser(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ws_reader') THEN CREATE ROLE ws_reader LOGIN; END IF; END $$`);
    await asSuperuser(`REVOKE CREATE ON SCHEMA public FROM PUBLIC`, dbName);
    const reader = new URL(db);
    reader.username = 'ws_reader';
    await expect(JobStore.open(reader.href)).rejects.toMatchObject({ code: 'SETUP_FAILED', message: expect.stringMatching(/ws_reader.*lacks the rights|lacks the rights.*permission denied/s) });
  });
});
