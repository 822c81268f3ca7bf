// The RunPod worker against a local stand-in of the platform API: real HTTP on loopback, real
// inference with tiny.en; what the worker did is read from what the stand-in received.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig, readRunpodEnv } from '../lib/config.js';
import { createLogger } from '../lib/log.js';
import { packageRoot } from '../lib/native/binding.js';
import { ModelHost } from '../lib/jobs/model-host.js';
import { RunpodWorker } from '../lib/runpod/worker.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, have, normalise } from './helpers/fixtures.js';
import { audioServer, type Loopback } from './helpers/loopback.js';
import { runpodStandIn, type RunpodStandIn } from './helpers/runpod-api.js';

const bin = join(packageRoot, 'bin', 'whisper-serve.js');
const ready = have(TINY_EN, JFK_WAV, join(packageRoot, 'dist', 'cli', 'main.js'));

describe.skipIf(!ready)('RunPod worker (in process) against the stand-in', () => {
  let api: RunpodStandIn;
  let audio: Loopback;
  let worker: RunpodWorker;
  let running: Promise<void>;
  const logs: string[] = [];

  beforeAll(async () => {
    api = await runpodStandIn();
    audio = await audioServer(JFK_WAV);
    const env = readRunpodEnv({ ...api.env, RUNPOD_PING_INTERVAL: '200' });
    const log = createLogger({ level: 'debug', format: 'json', write: (l) => logs.push(l) });
    // The configuration a worker reads at start: the test model, the audio server on loopback.
    const config = readConfig({ WHISPER_MODEL: TINY_EN, ALLOW_PRIVATE_URLS: '1' });
    worker = new RunpodWorker({ env, host: new ModelHost(log, { config }), log, backoffMs: 50, stopPollMs: 50 });
    running = worker.run();
  });
  afterAll(async () => {
    await worker?.stop();
    await running;
    await api?.close();
    await audio?.close();
  });

  it('takes a job, transcribes it, and posts the result with the protocol headers', async () => {
    api.takes.push({ job: { id: 'job-good', input: { audio_url: `${audio.url}/jfk.wav?sig=secret`, transcription: 'srt' } } });
    const result = await api.waitForResult('job-good');
    expect(normalise(result.output.segments.map((s: { text: string }) => s.text).join(''))).toBe(normalise(JFK_TEXT));
    expect(result.output.transcription).toMatch(/^1\n00:00:00,000 --> 00:00:0\d,\d{3}\n/);
    expect(result.output).toMatchObject({ detected_language: 'en', device: 'cpu', translation: null, duration: 11 });
    expect(result.output.timings.transcribe).toBeGreaterThan(0);
    const post = api.results('job-good')[0]!;
    expect(post.method).toBe('POST');
    expect(post.path).toBe('/v2/endpoint-1/job-done/worker-1/job-good');
    expect(post.query.get('isStream')).toBe('false');
    expect(post.query.get('gpu')).toBe('test');
    expect(post.headers).toMatchObject({ 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': 'job-good', authorization: 'rp-test-key' });
    const take = api.requests.find((r) => r.path.endsWith('/job-take/worker-1'))!;
    expect(take.query.get('job_in_progress')).toBe('0');
    expect(take.headers.authorization).toBe('rp-test-key');
    // Logs carry the job id; the signed URL's query string never reaches them.
    const jobLines = logs.map((l) => JSON.parse(l)).filter((l) => l.job === 'job-good');
    expect(jobLines.map((l) => l.msg)).toEqual(expect.arrayContaining(['Job started', 'Transcription started', 'Job finished']));
    // One real-time factor: the log's is the output's.
    expect(jobLines.find((l) => l.msg === 'Job finished').realtimeFactor).toBe(result.output.realtime_factor);
    expect(jobLines.some((l) => /real time/.test(l.msg))).toBe(false);
    expect(logs.join('\n')).not.toContain('secret');
  });

  it('posts partial output to the stream URL (isStream=true) when the input asks for stream, then the result', async () => {
    api.takes.push({ job: { id: 'job-stream', input: { audio_url: `${audio.url}/jfk-x6.wav`, stream: true, batch_size: 1 } } });
    const result = await api.waitForResult('job-stream');
    const partials = api.partials('job-stream');
    expect(partials.length).toBeGreaterThan(3);
    for (const p of partials) {
      expect(p.query.get('isStream')).toBe('true');
      expect(p.headers).toMatchObject({ 'x-request-id': 'job-stream', authorization: 'rp-test-key' });
    }
    const segments = partials.map((p) => JSON.parse(p.body).output);
    expect(segments.map((s) => s.id)).toEqual(segments.map((_, i) => i));
    expect(normalise(segments.map((s) => s.text).join(''))).toBe(normalise(result.output.transcription));
    // Every partial was posted before the result.
    expect(Math.max(...partials.map((p) => p.at))).toBeLessThanOrEqual(api.results('job-stream')[0]!.at);
    // Without stream, nothing goes to the stream URL.
    expect(api.partials('job-good')).toEqual([]);
  });

  it('posts a typed error for a 404 URL and for a bad schema, and keeps taking jobs', async () => {
    api.takes.push(
      { job: { id: 'job-404', input: { audio_url: `${audio.url}/missing.mp3` } } },
      { job: { id: 'job-schema', input: { audio_url: `${audio.url}/jfk.wav`, temprature: 0.2, beam_size: 'five' } } },
      { job: { id: 'job-noinput' } },
      { job: { id: 'job-after', input: { audio: `${audio.url}/jfk.wav` } } },
    );
    const notFound = JSON.parse((await api.waitForResult('job-404')).error!);
    expect(notFound).toMatchObject({ error_type: 'DOWNLOAD_FAILED', worker_id: 'worker-1', hostname: expect.any(String) });
    expect(notFound.error_message).toMatch(/HTTP 404/);
    const schema = JSON.parse((await api.waitForResult('job-schema')).error!);
    expect(schema.error_type).toBe('INVALID_INPUT');
    expect(schema.error_message).toMatch(/input\.temprature: unknown field/);
    expect(schema.error_message).toMatch(/input\.beam_size: .*number/);
    expect(JSON.parse((await api.waitForResult('job-noinput')).error!).error_type).toBe('INVALID_INPUT');
    expect(normalise((await api.waitForResult('job-after')).output.transcription)).toBe(normalise(JFK_TEXT));
  });

  it('backs off on 429 and 500 from the job take, then takes the job', async () => {
    const before = api.requests.length;
    api.takes.push({ status: 429 }, { status: 500 }, { job: { id: 'job-429', input: { audio_url: `${audio.url}/jfk.wav` } } });
    expect((await api.waitForResult('job-429')).output.detected_language).toBe('en');
    const takes = api.requests.slice(before).filter((r) => r.path.includes('/job-take/'));
    // 50 ms base back-off, doubled: the third take comes ≥ 150 ms after the first.
    expect(takes[2]!.at - takes[0]!.at).toBeGreaterThanOrEqual(140);
  });

  it('retries the result post twice and succeeds on the third try', async () => {
    api.failPosts = 2;
    api.takes.push({ job: { id: 'job-retry', input: { audio_url: `${audio.url}/jfk.wav` } } });
    expect((await api.waitForResult('job-retry')).output).toBeDefined();
    const posts = api.results('job-retry');
    expect(posts).toHaveLength(3);
    expect(new Set(posts.map((p) => p.body)).size).toBe(1);
  });

  it('aborts the named job when the stop channel says so, and serves the next', async () => {
    api.takes.push(
      { job: { id: 'job-stopped', input: { audio_url: `${audio.url}/jfk-x12.wav` } } },
      { job: { id: 'job-next', input: { audio_url: `${audio.url}/jfk.wav` } } },
    );
    // The stop goes out once the heartbeat says the job runs.
    await api.waitFor((r) => r.path.includes('/ping/') && r.query.get('job_id') === 'job-stopped');
    api.stop.push('job-stopped');
    const stopped = await api.waitForResult('job-stopped');
    expect(JSON.parse(stopped.error!).error_type).toBe('ABORTED');
    expect((await api.waitForResult('job-next')).output.detected_language).toBe('en');
  });

  it('sends heartbeats on its own timer, with the running job id', () => {
    const pings = api.requests.filter((r) => r.path === '/v2/endpoint-1/ping/worker-1');
    expect(pings.length).toBeGreaterThan(5);
    expect(pings.every((p) => p.query.get('runpod_version')?.startsWith('whisper-serve/'))).toBe(true);
    const gaps = pings.slice(1).map((p, i) => p.at - pings[i]!.at).sort((a, b) => a - b);
    const median = gaps[Math.floor(gaps.length / 2)]!;
    expect(median).toBeGreaterThan(150);
    expect(median).toBeLessThan(400);
    expect(pings.some((p) => p.query.get('job_id') === 'job-good' || p.query.get('job_id') === 'job-stopped')).toBe(true);
  });
});

describe.skipIf(!ready)('RunPod worker process: SIGTERM and refresh_worker', () => {
  let api: RunpodStandIn;
  let audio: Loopback;
  beforeAll(async () => {
    api = await runpodStandIn();
    audio = await audioServer(JFK_WAV);
  });
  afterAll(async () => {
    await api?.close();
    await audio?.close();
  });

  const start = (extra: Record<string, string>) => {
    const child = spawn(process.execPath, [bin, 'runpod'], {
      env: { ...process.env, ...api.env, RUNPOD_PING_INTERVAL: '100', ALLOW_PRIVATE_URLS: '1', WHISPER_MODEL: TINY_EN, LOG_FORMAT: 'json', ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    return { child, exited, stderr: () => stderr };
  };

  it('on SIGTERM finishes the running job within the grace period, posts it, takes no more, exits 0', async () => {
    const w = start({ RUNPOD_POD_ID: 'worker-term', RUNPOD_GRACE_SECONDS: '120' });
    api.takes.push({ job: { id: 'job-term', input: { audio_url: `${audio.url}/jfk-x3.wav` } } });
    await api.waitFor((r) => r.path.includes('/ping/worker-term') && r.query.get('job_id') === 'job-term');
    w.child.kill('SIGTERM');
    const signalled = Date.now();
    expect(await w.exited).toBe(0);
    const result = await api.waitForResult('job-term', 1000);
    expect(normalise(result.output.transcription)).toContain(normalise('ask not what your country can do for you'));
    const takesAfter = api.requests.filter((r) => r.path.includes('/job-take/worker-term') && r.at > signalled + 50);
    expect(takesAfter).toHaveLength(0);
    expect(w.stderr()).toMatch(/SIGTERM received/);
  });

  it('on SIGTERM past the grace period aborts the job and still posts its result', async () => {
    const w = start({ RUNPOD_POD_ID: 'worker-grace', RUNPOD_GRACE_SECONDS: '1' });
    api.takes.push({ job: { id: 'job-grace', input: { audio_url: `${audio.url}/jfk-x20.wav` } } });
    await api.waitFor((r) => r.path.includes('/ping/worker-grace') && r.query.get('job_id') === 'job-grace');
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(JSON.parse((await api.waitForResult('job-grace', 1000)).error!).error_type).toBe('ABORTED');
  });

  it('with RUNPOD_REFRESH_WORKER=1 asks to be recycled (stopPod) and exits after one job', async () => {
    const w = start({ RUNPOD_POD_ID: 'worker-refresh', RUNPOD_REFRESH_WORKER: '1' });
    api.takes.push({ job: { id: 'job-refresh', input: { audio_url: `${audio.url}/jfk.wav` } } });
    expect(await w.exited).toBe(0);
    expect(await api.waitForResult('job-refresh', 1000)).toMatchObject({ stopPod: true, output: { detected_language: 'en' } });
  });
});

describe.skipIf(!ready)('RunPod local test mode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ws-rp-local-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[], cwd = packageRoot) =>
    spawnSync(process.execPath, [bin, 'runpod', ...args], { cwd, encoding: 'utf8', env: { ...process.env, RUNPOD_WEBHOOK_GET_JOB: '', WHISPER_MODEL: TINY_EN } });

  it('runs the shipped test_input.json (the bundled sample) and exits 0', () => {
    const r = run([]);
    expect(r.status).toBe(0);
    const printed = JSON.parse(r.stdout);
    expect(printed).toMatchObject({ id: 'local_test', status: 'COMPLETED' });
    expect(normalise(printed.output.transcription)).toBe(normalise(JFK_TEXT));
  });

  it('takes --test_input, and exits 1 with the error on a bad job', () => {
    const ok = run(['--test_input', JSON.stringify({ id: 'mine', input: { audio: JFK_WAV, transcription: 'vtt' } })]);
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ id: 'mine', output: { transcription: expect.stringMatching(/^WEBVTT\n/) } });
    const bad = run(['--test_input', '{"input": {"audio": "x.wav", "colour": "blue"}}']);
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ status: 'FAILED', error: { code: 'INVALID_INPUT', message: expect.stringMatching(/input\.colour: unknown field/) } });
    const cuda = spawnSync(process.execPath, [bin, 'runpod', '--test_input', JSON.stringify({ input: { audio: JFK_WAV } })], {
      encoding: 'utf8',
      env: { ...process.env, RUNPOD_WEBHOOK_GET_JOB: '', WHISPER_MODEL: TINY_EN, WHISPER_GPU: 'required' },
    });
    expect(cuda.status).toBe(1);
    expect(JSON.parse(cuda.stdout).error).toMatchObject({ code: 'CUDA_NOT_AVAILABLE', message: expect.stringMatching(/CUDA not available: .*(has no CUDA|nvidia-smi)/) });
    const noInputKey = run(['--test_input', '{"audio": "x.wav"}']);
    expect(noInputKey.status).toBe(1);
    writeFileSync(join(dir, 'test_input.json'), '{ not json');
    expect(run([], dir).status).toBe(1);
    rmSync(join(dir, 'test_input.json'));
    const none = run([], dir);
    expect(none.status).toBe(1);
    expect(none.stdout).toMatch(/test_input\.json/);
  });
});
