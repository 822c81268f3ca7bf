// RunPod's top-level `webhook` on /run, against the server as a process and a receiver on
// loopback: the status of completed, failed and cancelled jobs POSTed once, a failing receiver
// retried, private addresses refused (at submit for literals, at connect for names), and
// top-level keys the server does not know refused instead of ignored.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, have, normalise } from './helpers/fixtures.js';
import { audioServer, listen, type Loopback } from './helpers/loopback.js';
import { receiver, until } from './helpers/webhook-receiver.js';
import { startServer, untilDone, untilRunning, type RunningServer } from './helpers/server-process.js';

const ready = have(TINY_EN, JFK_WAV, join(packageRoot, 'dist', 'cli', 'main.js'));
const dir = mkdtempSync(join(tmpdir(), 'ws-webhooks-'));

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe.skipIf(!ready)('webhooks', () => {
  let audio: Loopback;
  let server: RunningServer;
  beforeAll(async () => {
    audio = await audioServer(JFK_WAV);
    server = await startServer({ JOBS_DB: join(dir, 'hooks.sqlite'), SERVER_CONCURRENCY: '1' });
  });
  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    await audio?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('POSTs what /status answers when a job completes, fails or is cancelled, retrying a receiver that fails', async () => {
    const hook = await receiver({ '/done': 1 });
    try {
      const done = ((await (await post(`${server.url}/run`, { input: { audio_url: `${audio.url}/jfk.wav` }, webhook: `${hook.url}/done` })).json()) as any).id;
      const failed = ((await (await post(`${server.url}/run`, { input: { audio_url: `${audio.url}/missing.wav` }, webhook: `${hook.url}/failed` })).json()) as any).id;
      // A long job holds the only slot while a queued one is cancelled.
      const slow = ((await (await post(`${server.url}/run`, { input: { audio_url: `${audio.url}/jfk-x6.wav` } })).json()) as any).id;
      await untilRunning(server.url, slow);
      const cancelled = ((await (await post(`${server.url}/run`, { input: { audio_url: `${audio.url}/jfk.wav` }, webhook: `${hook.url}/cancelled` })).json()) as any).id;
      await post(`${server.url}/cancel/${cancelled}`, {});
      await untilDone(server.url, slow);
      await until(() => hook.deliveries.length === 3);

      const by = (path: string) => hook.deliveries.find((d) => d.path === path)!.body;
      expect(by('/done')).toMatchObject({ id: done, status: 'COMPLETED' });
      expect(normalise(by('/done').output.transcription)).toBe(normalise(JFK_TEXT));
      expect(by('/done')).toEqual((await (await fetch(`${server.url}/status/${done}`)).json()) as any);
      expect(hook.calls.get('/done')).toBe(2); // a 503, then delivered
      expect(by('/failed')).toMatchObject({ id: failed, status: 'FAILED' });
      expect(JSON.parse(by('/failed').error)).toMatchObject({ error_type: 'DOWNLOAD_FAILED' });
      expect(by('/cancelled')).toMatchObject({ id: cancelled, status: 'CANCELLED' });
      expect(server.stderr()).toMatch(new RegExp(`${done} \\| webhook delivered.*"attempt":2`));
      await new Promise((r) => setTimeout(r, 500));
      expect(hook.deliveries).toHaveLength(3); // once each
    } finally {
      await hook.close();
    }
  });

  it('refuses unknown top-level keys and webhooks that are not http(s) URLs, naming them', async () => {
    const bad = async (body: unknown) => {
      const r = await post(`${server.url}/run`, body);
      return { status: r.status, body: (await r.json()) as any };
    };
    const unknown = await bad({ input: { audio_url: `${audio.url}/jfk.wav` }, policy: { ttl: 1 }, s3Config: {} });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/unknown top-level keys "policy", "s3Config"/);
    for (const webhook of ['ftp://example.com/hook', 'not a url', 42]) {
      const r = await bad({ input: { audio_url: `${audio.url}/jfk.wav` }, webhook });
      expect(r.status, String(webhook)).toBe(400);
    }
  });
});

describe.skipIf(!ready)('webhooks and private addresses', () => {
  it('refuses a private literal at submit, and a name that resolves only to private addresses at delivery: no connection is made', async () => {
    const dir2 = mkdtempSync(join(tmpdir(), 'ws-webhooks-ssrf-'));
    // The one address the server may reach is the audio server's, 127.0.0.2; the receiver is on
    // 127.0.0.1, which "localhost" resolves to (with ::1): both refused.
    const audio = await audioServer(JFK_WAV, '127.0.0.2');
    const hook = await listen((_req, res) => res.writeHead(200).end());
    let connections = 0;
    hook.server.on('connection', () => connections++);
    const s = await startServer({ JOBS_DB: join(dir2, 'ssrf.sqlite'), ALLOW_PRIVATE_URLS: '127.0.0.2' });
    try {
      const literal = await post(`${s.url}/run`, { input: { audio_url: `${audio.url}/jfk.wav` }, webhook: `${hook.url}/x` });
      expect(literal.status).toBe(400);
      expect(((await literal.json()) as any).error.code).toBe('URL_BLOCKED');
      const id = ((await (await post(`${s.url}/run`, { input: { audio_url: `${audio.url}/jfk.wav` }, webhook: `http://localhost:${hook.port}/x` })).json()) as any).id;
      expect((await untilDone(s.url, id)).status).toBe('COMPLETED');
      await until(() => /webhook not delivered: localhost resolves only to private/.test(s.stderr()));
      expect(connections).toBe(0);
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
      await hook.close();
      await audio.close();
      rmSync(dir2, { recursive: true, force: true });
    }
  });
});
