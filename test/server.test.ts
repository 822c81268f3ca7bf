// The HTTP server as a process, over real HTTP on loopback: OpenAI uploads, the RunPod-style job
// routes over the SQLite queue, cancel, auth, metrics, and a kill -9 + restart that loses no job.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, have, normalise } from './helpers/fixtures.js';
import { audioServer, type Loopback } from './helpers/loopback.js';
import { startServer, untilDone, untilRunning, type RunningServer } from './helpers/server-process.js';

const ready = have(TINY_EN, JFK_WAV, join(packageRoot, 'dist', 'cli', 'main.js'));
const dir = mkdtempSync(join(tmpdir(), 'ws-server-'));

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe.skipIf(!ready)('HTTP server', () => {
  let audio: Loopback;
  let server: RunningServer;
  beforeAll(async () => {
    audio = await audioServer(JFK_WAV);
    server = await startServer({ JOBS_DB: join(dir, 'main.sqlite'), SERVER_CONCURRENCY: '1' });
  });
  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    await audio?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers an OpenAI multipart upload in json, verbose_json (with words) and srt', async () => {
    const form = () => {
      const f = new FormData();
      f.append('file', new Blob([readFileSync(JFK_WAV)], { type: 'audio/wav' }), 'jfk.wav');
      f.append('model', 'whisper-1');
      return f;
    };
    const json = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form() });
    expect(json.status).toBe(200);
    expect(normalise(((await json.json()) as { text: string }).text)).toBe(normalise(JFK_TEXT));

    const vf = form();
    vf.append('response_format', 'verbose_json');
    vf.append('timestamp_granularities[]', 'word');
    vf.append('timestamp_granularities[]', 'segment');
    const verbose = (await (await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: vf })).json()) as any;
    expect(verbose).toMatchObject({ task: 'transcribe', language: 'english', duration: 11 });
    expect(verbose.words.length).toBeGreaterThan(15);
    expect(verbose.words[0]).toMatchObject({ word: 'And', start: expect.any(Number), end: expect.any(Number) });

    const sf = form();
    sf.append('response_format', 'srt');
    const srt = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: sf });
    expect(await srt.text()).toMatch(/^1\n00:00:00,000 --> /);
  });

  it('refuses an upload that is not audio, or has no file, with an OpenAI-shaped error', async () => {
    const f = new FormData();
    f.append('file', new Blob(['<html>not audio</html>']), 'page.mp3');
    const bad = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: f });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'UNSUPPORTED_FORMAT', type: 'unsupported_format', message: expect.any(String) } });
    const nf = new FormData();
    nf.append('model', 'whisper-1');
    const none = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: nf });
    expect(((await none.json()) as any).error.message).toMatch(/no "file" part/);
  });

  it('queues a job with /run, reports it with /status, and answers /runsync', async () => {
    const run = (await (await post(`${server.url}/run`, { input: { audio_url: `${audio.url}/jfk.wav`, transcription: 'formatted_text' } })).json()) as any;
    expect(run).toMatchObject({ id: expect.any(String), status: 'IN_QUEUE' });
    const done = await untilDone(server.url, run.id);
    expect(done).toMatchObject({ status: 'COMPLETED', delayTime: expect.any(Number), executionTime: expect.any(Number) });
    expect(normalise(done.output.transcription)).toBe(normalise(JFK_TEXT));
    const sync = (await (await post(`${server.url}/runsync`, { input: { audio: `${audio.url}/jfk.wav` } })).json()) as any;
    expect(sync.status).toBe('COMPLETED');
    expect(sync.output.detected_language).toBe('en');
  });

  it('rejects bad job JSON and schema errors with 400 naming the field, and unknown ids with 404', async () => {
    const notJson = await fetch(`${server.url}/run`, { method: 'POST', body: '{"input": ' });
    expect(notJson.status).toBe(400);
    const schema = await post(`${server.url}/run`, { input: { audio_url: `${audio.url}/jfk.wav`, beam_size: 0 } });
    expect(schema.status).toBe(400);
    expect(((await schema.json()) as any).error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/input\.beam_size/) });
    const model = await post(`${server.url}/run`, { input: { audio_url: `${audio.url}/jfk.wav`, model: '/etc/passwd' } });
    expect(model.status).toBe(400);
    expect(((await model.json()) as any).error.message).toMatch(/input\.model: unknown model "\/etc\/passwd"; known: tiny\.en/);
    const local = await post(`${server.url}/run`, { input: { audio: '/etc/passwd' } });
    expect(((await local.json()) as any).error.message).toMatch(/input\.audio: must be an http\(s\) URL/);
    expect((await fetch(`${server.url}/status/nope`)).status).toBe(404);
  });

  it('a failing job ends FAILED with its code and the server serves the next', async () => {
    const { id } = (await (await post(`${server.url}/run`, { input: { audio_url: `${audio.url}/missing.wav` } })).json()) as any;
    const failed = (await untilDone(server.url, id)) as any;
    expect(failed.status).toBe('FAILED');
    expect(typeof failed.error).toBe('string'); // as RunPod returns it: its workers' JSON text
    expect(JSON.parse(failed.error)).toMatchObject({ error_type: 'DOWNLOAD_FAILED', error_message: expect.stringMatching(/404/) });
    const sync = (await (await post(`${server.url}/runsync`, { input: { audio_url: `${audio.url}/jfk.wav` } })).json()) as any;
    expect(sync.status).toBe('COMPLETED');
  });

  it('cancels a running job and a queued one', async () => {
    const long = (await (await post(`${server.url}/run`, { input: { audio_url: `${audio.url}/jfk-x20.wav` } })).json()) as any;
    const queued = (await (await post(`${server.url}/run`, { input: { audio_url: `${audio.url}/jfk.wav` } })).json()) as any;
    await untilRunning(server.url, long.id);
    expect(((await (await post(`${server.url}/cancel/${queued.id}`, {})).json()) as any).status).toBe('CANCELLED');
    expect(((await (await post(`${server.url}/cancel/${long.id}`, {})).json()) as any).status).toBe('CANCELLED');
    // The server is free again at once: the aborted job stopped.
    const sync = (await (await post(`${server.url}/runsync`, { input: { audio_url: `${audio.url}/jfk.wav` } })).json()) as any;
    expect(sync.status).toBe('COMPLETED');
    expect(((await (await fetch(`${server.url}/status/${long.id}`)).json()) as any).status).toBe('CANCELLED');
    // A cancel is no failure: a WARN line, never an ERROR one.
    expect(server.stderr()).toMatch(new RegExp(`WARN \\| ${long.id} \\| Job cancelled`));
    expect(server.stderr()).not.toMatch(new RegExp(`ERROR \\| ${long.id} \\|`));
  });

  it('gives an OpenAI upload a slot of SERVER_CONCURRENCY, shared with queued jobs', async () => {
    const long = (await (await post(`${server.url}/run`, { input: { audio_url: `${audio.url}/jfk-x20.wav` } })).json()) as any;
    await untilRunning(server.url, long.id);
    const f = new FormData();
    f.append('file', new Blob([readFileSync(JFK_WAV)], { type: 'audio/wav' }), 'jfk.wav');
    let answered = false;
    const upload = fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: f }).then(async (r) => {
      answered = true;
      return (await r.json()) as { text: string };
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect(answered).toBe(false); // the one slot is the long job's
    expect(((await (await fetch(`${server.url}/health`)).json()) as any).workers).toMatchObject({ running: 1, idle: 0 });
    await post(`${server.url}/cancel/${long.id}`, {});
    expect(normalise((await upload).text)).toBe(normalise(JFK_TEXT));
  });

  it('runs a short job beside a long one (default SERVER_CONCURRENCY): they take turns on the model, so the short one finishes first; /status reports progress', async () => {
    const s = await startServer({ JOBS_DB: join(dir, 'fair.sqlite'), MODEL_BATCH_SIZE: '1' });
    try {
      const long = (await (await post(`${s.url}/run`, { input: { audio_url: `${audio.url}/jfk-x20.wav` } })).json()) as any;
      await untilRunning(s.url, long.id);
      const short = (await (await post(`${s.url}/runsync`, { input: { audio_url: `${audio.url}/jfk.wav` } })).json()) as any;
      expect(short.status).toBe('COMPLETED');
      expect(normalise(short.output.transcription)).toBe(normalise(JFK_TEXT));
      expect(((await (await fetch(`${s.url}/status/${long.id}`)).json()) as any).status).toBe('IN_PROGRESS');
      // /status says how far the long one is, never going back.
      const fractions: number[] = [];
      for (;;) {
        const st = (await (await fetch(`${s.url}/status/${long.id}`)).json()) as any;
        if (st.status !== 'IN_PROGRESS') break;
        if (st.progress) {
          expect(st.progress.audioSeconds).toBeGreaterThan(250);
          expect(st.progress.audioSecondsDone).toBeCloseTo(st.progress.fraction * st.progress.audioSeconds, 0);
          expect(st.progress.realtimeFactor).toBeGreaterThan(0);
          fractions.push(st.progress.fraction);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(fractions.length).toBeGreaterThan(1);
      for (let i = 1; i < fractions.length; i++) expect(fractions[i]).toBeGreaterThanOrEqual(fractions[i - 1]!);
      expect(fractions[fractions.length - 1]).toBeLessThanOrEqual(1);
      const done = (await untilDone(s.url, long.id)) as any;
      expect(done.status).toBe('COMPLETED');
      expect(done.progress).toBeUndefined();
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });

  it("streams a job's segments through /stream/:id as RunPod's SDK polls it: chunks mid-job, each once, together the transcription", async () => {
    const id = ((await (await post(`${server.url}/run`, { input: { audio_url: `${audio.url}/jfk-x8.wav`, stream: true, batch_size: 1 } })).json()) as any).id;
    const chunks: any[] = [];
    let midJob = 0;
    for (;;) {
      const st = (await (await fetch(`${server.url}/v2/whisper-ep/stream/${id}`)).json()) as any;
      expect(st.id).toBe(id);
      if (st.status === 'IN_PROGRESS' && st.stream.length > 0) midJob++;
      chunks.push(...st.stream.map((c: any) => c.output));
      if (!['IN_QUEUE', 'IN_PROGRESS'].includes(st.status) && st.stream.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(midJob).toBeGreaterThan(0);
    expect(chunks.map((c) => c.id)).toEqual(chunks.map((_, i) => i));
    const done = (await untilDone(server.url, id)) as any;
    expect(normalise(chunks.map((c) => c.text).join(''))).toBe(normalise(done.output.transcription));
    expect(normalise(done.output.transcription).split('ask not what your country').length - 1).toBe(8);
    expect(await (await fetch(`${server.url}/stream/no-such-job`)).json()).toMatchObject({ error: { code: 'JOB_NOT_FOUND' } });
  });

  it("answers RunPod's SDK routes: /{endpoint_id}/… and /v2/{endpoint_id}/…, purge-queue included", async () => {
    const ep = `${server.url}/v2/whisper-ep`;
    const id = ((await (await post(`${ep}/run`, { input: { audio_url: `${audio.url}/jfk.wav` } })).json()) as any).id;
    for (;;) {
      const st = (await (await fetch(`${server.url}/whisper-ep/status/${id}`)).json()) as any;
      if (st.status === 'COMPLETED') break;
      expect(['IN_QUEUE', 'IN_PROGRESS']).toContain(st.status);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(((await (await fetch(`${ep}/health`)).json()) as any).jobs.completed).toBeGreaterThanOrEqual(1);
    // One job runs (SERVER_CONCURRENCY 1), two wait: purge-queue cancels the two.
    const long = ((await (await post(`${ep}/run`, { input: { audio_url: `${audio.url}/jfk-x20.wav` } })).json()) as any).id;
    await untilRunning(server.url, long);
    const queued = await Promise.all([1, 2].map(async () => ((await (await post(`${ep}/run`, { input: { audio_url: `${audio.url}/jfk.wav` } })).json()) as any).id));
    expect((await (await post(`${ep}/purge-queue`, {})).json()) as any).toEqual({ removed: 2, status: 'completed' });
    for (const q of queued) expect(((await (await fetch(`${ep}/status/${q}`)).json()) as any).status).toBe('CANCELLED');
    expect(((await (await post(`${ep}/cancel/${long}`, {})).json()) as any).status).toBe('CANCELLED');
    expect((await fetch(`${server.url}/v2/run`, { method: 'POST' })).status).toBe(404);
  });

  it('reports /health and Prometheus /metrics (counting what this test ran, whatever ran before)', async () => {
    const health = async () => (await (await fetch(`${server.url}/health`)).json()) as any;
    const metric = async (re: RegExp) => Number(re.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? 0);
    const completed = /^whisper_serve_jobs\{state="COMPLETED"\} (\d+)/m;
    const audioSeconds = /^whisper_serve_audio_seconds_total (\S+)/m;
    const [before, completedBefore, secondsBefore] = [await health(), await metric(completed), await metric(audioSeconds)];
    expect(((await (await post(`${server.url}/runsync`, { input: { audio_url: `${audio.url}/jfk.wav` } })).json()) as any).status).toBe('COMPLETED');
    const failed = ((await (await post(`${server.url}/run`, { input: { audio_url: `${audio.url}/missing.wav` } })).json()) as any).id;
    expect((await untilDone(server.url, failed)).status).toBe('FAILED');
    const after = await health();
    expect(after.jobs.completed - before.jobs.completed).toBe(1);
    expect(after.jobs.failed - before.jobs.failed).toBe(1);
    expect(after.model).toBe(basename(TINY_EN)); // a file's base name: never the server's path
    // RunPod's /health fields, as its SDK's endpoint.health() returns them.
    expect(after.jobs).toMatchObject({ inProgress: 0, inQueue: 0, retried: 0 });
    expect(after.workers).toEqual({ idle: 1, initializing: 0, ready: 1, running: 0, throttled: 0, unhealthy: 0 });
    expect((await metric(completed)) - completedBefore).toBe(1);
    expect((await metric(audioSeconds)) - secondsBefore).toBeCloseTo(11, 0);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^whisper_serve_queue_depth 0$/m);
    expect(metrics).toMatch(/^whisper_serve_http_requests_total\{route="\/run",status="200"\} [1-9]\d*/m);
  });
});

describe.skipIf(!ready)('HTTP server: auth, kill -9 and restart, graceful stop', () => {
  let audio: Loopback;
  const db = join(dir, 'restart.sqlite');
  beforeAll(async () => {
    audio = await audioServer(JFK_WAV);
  });
  afterAll(async () => {
    await audio?.close();
  });

  it('refuses requests without the API key, but not /health', async () => {
    const s = await startServer({ API_KEY: 'k-123', JOBS_DB: join(dir, 'auth.sqlite') });
    try {
      expect((await fetch(`${s.url}/metrics`)).status).toBe(401);
      const refused = await post(`${s.url}/run`, { input: { audio_url: `${audio.url}/jfk.wav` } }, { authorization: 'Bearer wrong' });
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as any).error.code).toBe('UNAUTHORIZED');
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
      const ok = await post(`${s.url}/runsync`, { input: { audio_url: `${audio.url}/jfk.wav` } }, { authorization: 'Bearer k-123' });
      expect(((await ok.json()) as any).status).toBe('COMPLETED');
    } finally {
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
    }
  });

  it('bounds the queue (429) and the body size (413)', async () => {
    const s = await startServer({ JOBS_DB: join(dir, 'bounds.sqlite'), MAX_QUEUE: '1', SERVER_CONCURRENCY: '1', MAX_UPLOAD_BYTES: '4096' });
    try {
      const job = (name: string) => post(`${s.url}/run`, { input: { audio_url: `${audio.url}/${name}` } });
      const running = (await (await job('jfk-x20.wav')).json()) as any;
      await untilRunning(s.url, running.id);
      const queued = (await (await job('jfk.wav')).json()) as any;
      const full = await job('jfk.wav');
      expect(full.status).toBe(429);
      expect(((await full.json()) as any).error.code).toBe('QUEUE_FULL');
      const big = await post(`${s.url}/run`, { input: { audio_base64: 'A'.repeat(10_000) } });
      expect(big.status).toBe(413);
      for (const id of [running.id, queued.id]) await post(`${s.url}/cancel/${id}`, {});
    } finally {
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
    }
  });

  it('finishes every accepted job after a kill -9 and a restart', async () => {
    const first = await startServer({ JOBS_DB: db, SERVER_CONCURRENCY: '1' });
    const ids: string[] = [];
    // The first job is killed mid-download (the slow file pauses 2 s half-way), so its temp dir is left behind.
    for (const file of ['jfk-slow.wav', 'jfk-x3.wav', 'jfk-x3.wav']) {
      ids.push(((await (await post(`${first.url}/run`, { input: { audio_url: `${audio.url}/${file}` } })).json()) as any).id);
    }
    await untilRunning(first.url, ids[0]!);
    await new Promise((r) => setTimeout(r, 500));
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startServer({ JOBS_DB: db, SERVER_CONCURRENCY: '1' });
    try {
      expect(second.stderr()).toMatch(/queued again \{"jobs":1\}/);
      // The killed process had the job's download open: its temp dir is swept at the restart.
      expect(second.stderr()).toMatch(/removed temp dirs left by processes that were killed \{"dirs":1\}/);
      for (const id of ids) expect((await untilDone(second.url, id)).status).toBe('COMPLETED');
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      expect(second.stderr()).toMatch(/server stopped/);
    }
  });

  it('fails a job the process died during twice (JOB_CRASHED) instead of crash-looping, then serves the next', async () => {
    const db = join(dir, 'poison.sqlite');
    const dieDuringJob = async (submit: boolean): Promise<string | undefined> => {
      const s = await startServer({ JOBS_DB: db, SERVER_CONCURRENCY: '1' });
      // The slow file pauses 2 s half-way: the job is surely running when the process dies.
      const id = submit ? ((await (await post(`${s.url}/run`, { input: { audio_url: `${audio.url}/jfk-slow.wav` } })).json()) as any).id : undefined;
      for (;;) {
        const h = (await (await fetch(`${s.url}/health`)).json()) as any;
        if (h.jobs.inProgress === 1) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      s.child.kill('SIGKILL');
      await s.exited;
      return id;
    };
    const id = await dieDuringJob(true);
    await dieDuringJob(false); // the restart runs it again (a second start), and dies again
    const third = await startServer({ JOBS_DB: db, SERVER_CONCURRENCY: '1' });
    try {
      expect(third.stderr()).toMatch(new RegExp(`${id} \\| Job failed: JOB_CRASHED`));
      const crashed = (await (await fetch(`${third.url}/status/${id}`)).json()) as any;
      expect(crashed.status).toBe('FAILED');
      expect(JSON.parse(crashed.error)).toMatchObject({ error_type: 'JOB_CRASHED' });
      const sync = (await (await post(`${third.url}/runsync`, { input: { audio_url: `${audio.url}/jfk.wav` } })).json()) as any;
      expect(sync.status).toBe('COMPLETED');
    } finally {
      third.child.kill('SIGTERM');
      expect(await third.exited).toBe(0);
    }
  });

  it('unloads the model after IDLE_TIMEOUT without a job and loads it again for the next, logging both', async () => {
    const s = await startServer({ JOBS_DB: join(dir, 'idle.sqlite'), IDLE_TIMEOUT: '1' });
    try {
      const health = async () => (await (await fetch(`${s.url}/health`)).json()) as any;
      expect((await health()).model).toBeNull(); // lazy: nothing loaded before the first job
      const first = (await (await post(`${s.url}/runsync`, { input: { audio_url: `${audio.url}/jfk.wav` } })).json()) as any;
      expect(first.status).toBe('COMPLETED');
      expect((await health()).model).not.toBeNull();
      for (let i = 0; (await health()).model !== null; i++) {
        if (i > 100) throw new Error('the model was never unloaded');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(s.stderr()).toMatch(/model unloaded.*"idleSeconds":1/);
      expect(await (await fetch(`${s.url}/metrics`)).text()).toMatch(/whisper_serve_model_loaded 0/);
      const again = (await (await post(`${s.url}/runsync`, { input: { audio_url: `${audio.url}/jfk.wav` } })).json()) as any;
      expect(again.status).toBe('COMPLETED');
      expect(normalise(again.output.transcription)).toBe(normalise(JFK_TEXT));
      expect(s.stderr().match(/model loaded \(cold start/g)?.length).toBe(2);
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });

  it("drops a finished job's audio bytes at once and the job itself after JOB_TTL", async () => {
    const db = join(dir, 'ttl.sqlite');
    const s = await startServer({ JOBS_DB: db, JOB_TTL: '2' });
    try {
      const audio64 = readFileSync(JFK_WAV).toString('base64');
      const done = (await (await post(`${s.url}/runsync`, { input: { audio_base64: audio64 } })).json()) as any;
      expect(done.status).toBe('COMPLETED');
      const Database = createRequire(import.meta.url)('better-sqlite3') as new (path: string, o: object) => { prepare(q: string): { get(...a: unknown[]): any }; close(): void };
      const reader = new Database(db, { readonly: true });
      const row = reader.prepare('SELECT input FROM jobs WHERE id = ?').get(done.id) as { input: string };
      reader.close();
      expect(row.input.length).toBeLessThan(200); // was 470 kB of base64
      expect(JSON.parse(row.input).audio_base64).toMatch(/dropped when the job ended/);
      expect((await fetch(`${s.url}/status/${done.id}`)).status).toBe(200);
      for (let i = 0; (await fetch(`${s.url}/status/${done.id}`)).status !== 404; i++) {
        if (i > 100) throw new Error('the job was never deleted');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });
});
