// The official Python SDKs, unchanged, against a running server, as their users would point them
// here: OpenAI's (every response format, streaming, a wrong key, the models list) and RunPod's
// `runpod.Endpoint` with a real-looking endpoint id (run → status → output, run_sync, stream,
// a failure, cancel, purge_queue, health). scripts/sdk-python.sh installs them (npm test does).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, have, normalise, readWav16k, repeatWithSilence } from './helpers/fixtures.js';
import { audioServer, listen, wavBytes, type Loopback } from './helpers/loopback.js';
import { startServer, type RunningServer } from './helpers/server-process.js';

const SDKS = join(packageRoot, 'models', '.cache', 'sdk-python');
const KEY = 'sk-python-sdk-test';
const installed = existsSync(join(SDKS, '.installed'));
if (!installed && process.env.CI === 'true') throw new Error(`cannot run under CI=true: the Python SDKs are missing (${SDKS}): bash scripts/sdk-python.sh`);
if (!installed) console.warn(`SKIP: the Python SDKs are missing (${SDKS}): bash scripts/sdk-python.sh`);
const dir = mkdtempSync(join(tmpdir(), 'ws-python-sdks-'));

/** Runs a client script (not spawnSync: the audio server on loopback lives in this process). */
async function python(script: string, args: string[], env: Record<string, string> = {}): Promise<any> {
  const { stdout } = await promisify(execFile)('python3', [join(packageRoot, 'test', 'sdk', script), ...args], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: SDKS, ...env },
    timeout: 240_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout);
}

describe.skipIf(!installed || !have(TINY_EN, JFK_WAV))('the official Python SDKs against the server', () => {
  let server: RunningServer;
  let audio: Loopback;
  beforeAll(async () => {
    // One slot, batch 1: a queued job stays queued behind a running one, and a stream has several chunks.
    server = await startServer({ API_KEY: KEY, JOBS_DB: join(dir, 'jobs.sqlite'), SERVER_CONCURRENCY: '1', MODEL_BATCH_SIZE: '1' });
    audio = await audioServer(JFK_WAV);
  });
  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    await audio?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("OpenAI's: json, text, srt, verbose_json, stream=True events, AuthenticationError for a wrong key, the models list", async () => {
    const long = join(dir, 'long.wav');
    writeFileSync(long, wavBytes(repeatWithSilence(readWav16k(JFK_WAV), 6, 1.2)));
    const got = await python('openai_client.py', [server.url, KEY, JFK_WAV, long]);
    expect(normalise(got.json)).toBe(normalise(JFK_TEXT));
    expect(normalise(got.text)).toBe(normalise(JFK_TEXT));
    expect(got.srt).toMatch(/^1\n00:00:00,000 --> /);
    expect(got.verbose).toMatchObject({ language: 'english', segments: expect.any(Number) });
    expect(got.verbose.words).toBeGreaterThan(15);
    expect(got.stream.deltas.length).toBeGreaterThan(3);
    expect(got.stream.done).toBe(got.stream.deltas.join('').trim());
    expect(normalise(got.stream.done).split('ask not what your country').length - 1).toBe(6);
    expect(got.wrong_key).toBe('AuthenticationError 401');
    expect(got.models).toContain('whisper-1');
  });

  it("RunPod's Endpoint: run, a webhook, run_sync, stream, a failed job's error string, purge_queue, cancel, health", async () => {
    const hooks: Array<{ path: string; body: any }> = [];
    const receiver = await listen((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hooks.push({ path: req.url ?? '', body: JSON.parse(body) });
        res.end('ok');
      });
    });
    let got: any;
    try {
      got = await python('runpod_client.py', [KEY, audio.url, `${receiver.url}/hook`], { RUNPOD_ENDPOINT_BASE_URL: `${server.url}/v2` });
    } finally {
      await receiver.close();
    }
    expect(normalise(got.hooked_output)).toBe(normalise(JFK_TEXT));
    expect(hooks).toHaveLength(1); // once, with what /status answers
    expect(hooks[0]).toMatchObject({ path: '/hook', body: { id: got.hooked_id, status: 'COMPLETED', output: { transcription: got.hooked_output } } });
    expect(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']).toContain(got.run_status);
    expect(normalise(got.run_output)).toBe(normalise(JFK_TEXT));
    expect(got.run_sync).toMatch(/^1\n00:00:00,000 --> /);
    expect(got.stream.length).toBeGreaterThan(3);
    expect(normalise(got.stream.map((s: { text: string }) => s.text).join(''))).toBe(normalise(got.stream_final));
    expect(got.failed.status).toBe('FAILED');
    expect(typeof got.failed.error).toBe('string');
    expect(JSON.parse(got.failed.error)).toMatchObject({ error_type: 'DOWNLOAD_FAILED' });
    expect(got.purge).toEqual({ removed: 1, status: 'completed' });
    expect(got.queued_after_purge).toBe('CANCELLED');
    expect(got.cancel.status).toBe('CANCELLED');
    expect(got.health.workers).toMatchObject({ idle: expect.any(Number), running: expect.any(Number), ready: expect.any(Number) });
    expect(got.health.jobs.completed).toBeGreaterThanOrEqual(3);
  });
});
