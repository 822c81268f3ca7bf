#!/usr/bin/env node
// `npm run bench:queue`: is the shared job queue ever the bottleneck? Two measures, on SQLite and
// on PostgreSQL (a throwaway cluster: scripts/postgres-cluster.mjs, or --postgres <url>):
// 1. The store alone: 2000 empty jobs queued, then claimed and finished by 1, 4 and 16 claimers,
//    each a store of its own (its own connections, as nodes are): jobs per second, and the
//    latency of one claim (median, p99) and of one submit.
// 2. Whole servers: 16 jfk.wav jobs (11 s each, tiny.en) submitted over HTTP to 1 node, then
//    to 2 nodes on one PostgreSQL, each node pinned to one core (WHISPER_THREADS=1, taskset) as
//    if it were a machine of its own: the wall time from the first submit to the last job done.
// Prints a table and writes bench/results/queue-<time>.json.
//
//   npm run bench:queue [-- --postgres postgres://… --jobs 16]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startCluster } from '../scripts/postgres-cluster.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const { JobStore } = await import(join(root, 'dist', 'jobs', 'store', 'job-store.js'));
const model = join(root, 'models', 'ggml-tiny.en.bin');
const jfk = join(root, '..', 'shared', 'audio', 'jfk.wav');
const serverJobs = Number(arg('jobs', '16'));
const work = mkdtempSync(join(tmpdir(), 'ws-bench-queue-'));
const cluster = arg('postgres', undefined) ? undefined : await startCluster();
const adminUrl = arg('postgres', undefined) ?? cluster.url;

async function freshPostgres() {
  const name = `bench_${Math.random().toString(36).slice(2, 10)}`;
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.href;
}
const location = (backend) => (backend === 'sqlite' ? Promise.resolve(join(work, `${Math.random().toString(36).slice(2)}.sqlite`)) : freshPostgres());
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

async function storeAlone(backend, claimers, jobs = 2000) {
  const at = await location(backend);
  const stores = await Promise.all(Array.from({ length: claimers }, () => JobStore.open(at, { maxQueue: jobs + 1 })));
  const submits = [];
  for (let i = 0; i < jobs; i++) {
    const t0 = process.hrtime.bigint();
    await stores[0].add({ audio_url: 'https://example.com/a.mp3', n: i });
    submits.push(ms(t0));
  }
  const claims = [];
  const t0 = process.hrtime.bigint();
  await Promise.all(
    stores.map(async (store, k) => {
      for (;;) {
        const c0 = process.hrtime.bigint();
        const job = await store.take(`node-${k}`, 30_000);
        if (!job) return;
        claims.push(ms(c0));
        await store.finish(job.id, `node-${k}`, { output: { text: '' } });
      }
    }),
  );
  const wall = ms(t0) / 1000;
  await Promise.all(stores.map((s) => s.close()));
  return { backend, claimers, jobs, jobsPerSecond: Math.round(jobs / wall), claimMsMedian: +quantile(claims, 0.5).toFixed(2), claimMsP99: +quantile(claims, 0.99).toFixed(2), submitMsMedian: +quantile(submits, 0.5).toFixed(2) };
}

function audioServer() {
  const bytes = readFileSync(jfk);
  return new Promise((resolve) => {
    const s = createServer((_req, res) => res.end(bytes)).listen(0, '127.0.0.1', () => resolve(s));
  });
}

function startNode(db, name, core) {
  const env = { ...process.env, JOBS_DB: db, NODE_NAME: name, WHISPER_MODEL: model, WHISPER_THREADS: '1', SERVER_CONCURRENCY: '1', ALLOW_PRIVATE_URLS: '1', LOG_FORMAT: 'text', PRELOAD: '1', WHISPER_SERVE_TMP: join(work, `${name}-tmp`) };
  const child = spawn('taskset', ['-c', String(core), process.execPath, join(root, 'bin', 'whisper-serve.js'), 'serve', '--port', '0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (c) => {
      log += c;
      const m = /listening on (http:\/\/[\d.:]+)/.exec(log);
      if (m) resolve({ child, url: m[1] });
    });
    child.on('exit', (code) => reject(new Error(`node ${name} exited ${code}: ${log}`)));
  });
}

async function servers(n, audioUrl) {
  const db = await freshPostgres();
  const cores = cpus().length;
  const nodes = [];
  for (let i = 0; i < n; i++) nodes.push(await startNode(db, `node-${i}`, i % cores));
  const post = (url, body) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json());
  const t0 = process.hrtime.bigint();
  const ids = [];
  for (let i = 0; i < serverJobs; i++) ids.push((await post(`${nodes[0].url}/run`, { input: { audio_url: `${audioUrl}/jfk.wav` } })).id);
  for (const id of ids) {
    for (;;) {
      const s = await (await fetch(`${nodes[nodes.length - 1].url}/status/${id}`)).json();
      if (s.status === 'COMPLETED') break;
      if (s.status !== 'IN_QUEUE' && s.status !== 'IN_PROGRESS') throw new Error(`job ${id} ${s.status}: ${s.error}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const wall = ms(t0) / 1000;
  for (const node of nodes) node.child.kill('SIGTERM');
  await Promise.all(nodes.map((node) => new Promise((r) => node.child.once('exit', r))));
  return { nodes: n, jobs: serverJobs, audioSeconds: serverJobs * 11, wallSeconds: +wall.toFixed(2) };
}

try {
  const store = [];
  for (const backend of ['sqlite', 'postgres']) for (const claimers of [1, 4, 16]) store.push(await storeAlone(backend, claimers));
  const audio = await audioServer();
  const audioUrl = `http://127.0.0.1:${audio.address().port}`;
  const cluster2 = [await servers(1, audioUrl), await servers(Math.min(2, cpus().length), audioUrl)];
  audio.close();
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  const postgres = (await c.query('SHOW server_version')).rows[0].server_version;
  await c.end();
  console.log(`\n${cpu}, ${cpus().length} cores; PostgreSQL ${postgres} (fsync ${cluster ? 'off, throwaway cluster' : 'as configured'}), SQLite (WAL)\n`);
  console.log('| store | claimers | jobs/s (claim + finish) | claim median ms | claim p99 ms | submit median ms |');
  console.log('|---|---|---|---|---|---|');
  for (const r of store) console.log(`| ${r.backend} | ${r.claimers} | ${r.jobsPerSecond} | ${r.claimMsMedian} | ${r.claimMsP99} | ${r.submitMsMedian} |`);
  console.log('\n| nodes (1 core each) on PostgreSQL | jobs | audio s | wall s | × one node |');
  console.log('|---|---|---|---|---|');
  for (const r of cluster2) console.log(`| ${r.nodes} | ${r.jobs} | ${r.audioSeconds} | ${r.wallSeconds} | ${(cluster2[0].wallSeconds / r.wallSeconds).toFixed(2)} |`);
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  const out = join(root, 'bench', 'results', `queue-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, `${JSON.stringify({ cpu, cores: cpus().length, postgres, store, servers: cluster2 }, null, 2)}\n`);
  console.log(`\n${out}`);
} finally {
  cluster?.stop();
  rmSync(work, { recursive: true, force: true });
}
