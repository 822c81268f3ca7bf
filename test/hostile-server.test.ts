// The hostile corpus: what an attacker or a careless user sends the HTTP server. For each case:
// the typed error code, the process still up, a good job (jfk) served right after, and no temp
// file left. URLs reach loopback only: the hostile origin listens on 127.0.0.2, the only address
// ALLOW_PRIVATE_URLS lets through; the SSRF forms themselves are in ssrf.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_FFMPEG, JFK_MP3, JFK_TEXT, JFK_WAV, TINY_EN, have, normalise } from './helpers/fixtures.js';
import { listen, type Loopback } from './helpers/loopback.js';
import { startServer, untilDone, type RunningServer } from './helpers/server-process.js';

const ready = have(TINY_EN, JFK_WAV, JFK_MP3);
const dir = mkdtempSync(join(tmpdir(), 'ws-hostile-'));
const serverTmp = join(dir, 'server-tmp');
const KEY = 'hostile-key';
const auth = { authorization: `Bearer ${KEY}` };
const MAX_UPLOAD = 8 * 1024 * 1024;

const jfk = () => readFileSync(JFK_WAV);
const file = (name: string) => join(dir, name);
const ffmpeg = (...args: string[]) => execFileSync(FIXTURE_FFMPEG, ['-y', '-v', 'error', ...args]);

/** A WAV header (16 kHz mono s16 unless told) in front of `data`, with any field made to lie. */
function wav(data: Buffer, o: { channels?: number; rate?: number; bits?: number; dataSize?: number } = {}): Buffer {
  const h = Buffer.alloc(44);
  const channels = o.channels ?? 1;
  const rate = o.rate ?? 16000;
  const bits = o.bits ?? 16;
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE((rate * channels * bits) / 8, 28);
  h.writeUInt16LE((channels * bits) / 8, 32);
  h.writeUInt16LE(bits, 34);
  h.write('data', 36);
  h.writeUInt32LE(o.dataSize ?? data.length, 40);
  return Buffer.concat([h, data]);
}

describe.skipIf(!ready)('hostile corpus against the HTTP server', () => {
  let server: RunningServer;
  let origin: Loopback;
  const fixtures = new Map<string, Buffer>();

  beforeAll(async () => {
    // Fixtures made with the fixture ffmpeg (its encoders); the server decodes with its own pair.
    ffmpeg('-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '10800', '-c:a', 'flac', '-frame_size', '65535', '-compression_level', '12', file('bomb.flac'));
    // The same bomb written to a pipe: the container then declares no duration, so only the decode can stop it.
    writeFileSync(file('bomb-piped.flac'), ffmpeg('-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '10800', '-c:a', 'flac', '-frame_size', '65535', '-f', 'flac', 'pipe:1'));
    ffmpeg('-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '3000', '-c:a', 'flac', file('silence-50min.flac'));
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=5', '-t', '2', '-c:v', 'mpeg4', file('silent-video.mp4'));
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=16x16', '-frames:v', '1', file('image.png'));
    for (const name of ['bomb.flac', 'bomb-piped.flac', 'silence-50min.flac', 'silent-video.mp4', 'image.png']) fixtures.set(name, readFileSync(file(name)));

    origin = await listen((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const body = jfk();
      switch (path) {
        case '/jfk.wav': return res.end(body);
        case '/404.wav': return res.writeHead(404).end('gone');
        case '/500.wav': return res.writeHead(500).end('boom');
        case '/loop': return res.writeHead(302, { location: '/loop' }).end();
        case '/to-file': return res.writeHead(302, { location: 'file:///etc/passwd' }).end();
        case '/to-loopback': return res.writeHead(302, { location: 'http://[::ffff:7f00:1]:9/x.wav' }).end();
        case '/huge': return res.writeHead(200, { 'content-length': String(50 * 1024 * 1024) }).end();
        case '/huge-chunked': {
          res.writeHead(200);
          const chunk = Buffer.alloc(256 * 1024);
          let sent = 0;
          const pump = () => {
            while (sent < 40 && res.write(chunk)) sent++;
            if (sent >= 40) return res.end();
            res.once('drain', pump);
          };
          res.on('error', () => undefined);
          return pump();
        }
        case '/short-length': // Content-Length says 100 bytes; the body is the whole file
          res.writeHead(200, { 'content-length': '100' });
          res.socket?.write(body);
          return res.socket?.end();
        case '/long-length': // Content-Length says more than is sent, then the connection closes
          res.writeHead(200, { 'content-length': String(body.length * 2) });
          res.write(body);
          return res.socket?.destroy();
        case '/drip': { // 10 bytes every 400 ms: never idle, never a download
          res.writeHead(200, { 'content-type': 'audio/wav' });
          const t = setInterval(() => res.write(body.subarray(0, 10)), 400);
          return res.on('close', () => clearInterval(t));
        }
        case '/stall': // headers, then nothing
          return res.writeHead(200, { 'content-length': String(body.length) }).flushHeaders();
        case '/html': return res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>not audio</body></html>');
        default: return res.writeHead(404).end();
      }
    }, '127.0.0.2'); // the one address the server's ALLOW_PRIVATE_URLS admits
    mkdirSync(serverTmp);
    server = await startServer({
      JOBS_DB: file('jobs.sqlite'),
      API_KEY: KEY,
      ALLOW_PRIVATE_URLS: '127.0.0.2',
      MAX_AUDIO_SECONDS: '3600',
      MAX_AUDIO_BYTES: String(4 * 1024 * 1024),
      MAX_UPLOAD_BYTES: String(MAX_UPLOAD),
      DOWNLOAD_IDLE_SECONDS: '2',
      BODY_IDLE_SECONDS: '2',
      WHISPER_SERVE_TMP: serverTmp,
    });
  });

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    expect(await server?.exited).toBe(0);
    // Nothing a client sent left a promise rejected with nobody listening.
    expect(server.stderr()).not.toMatch(/unhandled|BUG/i);
    await origin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The process is up, a good job is served, and no temp file is left. */
  async function stillServing(): Promise<void> {
    expect(server.child.exitCode).toBeNull();
    const f = new FormData();
    f.append('file', new Blob([jfk()]), 'jfk.wav');
    const r = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: f, headers: auth });
    expect(r.status).toBe(200);
    expect(normalise(((await r.json()) as { text: string }).text)).toBe(normalise(JFK_TEXT));
    expect(readdirSync(serverTmp)).toEqual([]);
  }

  async function upload(bytes: Buffer, name: string): Promise<{ status: number; body: any }> {
    const f = new FormData();
    f.append('file', new Blob([bytes]), name);
    const r = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: f, headers: auth });
    return { status: r.status, body: await r.json() };
  }

  async function runJob(input: unknown): Promise<any> {
    const r = await fetch(`${server.url}/run`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ input }) });
    expect(r.status).toBe(200);
    return untilDone(server.url, ((await r.json()) as { id: string }).id, 120_000, auth);
  }

  const random = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 24));
  const uploads: Array<[string, () => Buffer, string, number]> = [
    ['empty file', () => Buffer.alloc(0), 'EMPTY_AUDIO', 400],
    ['1 byte', () => Buffer.from([0x52]), 'UNSUPPORTED_FORMAT', 400],
    ...['wav', 'mp3', 'm4a', 'ogg', 'opus', 'webm', 'flac', 'aac', 'amr', '3gp', 'wma', 'mp4'].map(
      (ext) => [`random bytes as .${ext}`, () => random(8192), 'UNSUPPORTED_FORMAT', 400] as [string, () => Buffer, string, number],
    ),
    ['a WAV truncated at 10 %', () => jfk().subarray(0, Math.floor(jfk().length * 0.1)), 'CORRUPT_AUDIO', 400],
    ['a WAV truncated at 50 %', () => jfk().subarray(0, Math.floor(jfk().length * 0.5)), 'CORRUPT_AUDIO', 400],
    ['a WAV header alone, claiming 11 s of samples', () => wav(Buffer.alloc(0), { dataSize: 352_000 }), 'CORRUPT_AUDIO', 400],
    ['a WAV header with 0 channels', () => wav(jfk().subarray(44), { channels: 0 }), 'UNSUPPORTED_FORMAT', 400],
    ['a WAV header with a 0 Hz rate', () => wav(jfk().subarray(44), { rate: 0 }), 'UNSUPPORTED_FORMAT', 400],
    ['a WAV header with 0-bit samples', () => wav(jfk().subarray(44), { bits: 0 }), 'CORRUPT_AUDIO', 400],
    ['a WAV whose data chunk claims 4 GB', () => wav(jfk().subarray(44), { dataSize: 0xfffffff0 }), 'CORRUPT_AUDIO', 400],
    ['a PNG image', () => fixtures.get('image.png')!, 'UNSUPPORTED_FORMAT', 400],
    ['a video without an audio track', () => fixtures.get('silent-video.mp4')!, 'UNSUPPORTED_FORMAT', 400],
    ['an HTML page named .mp3', () => Buffer.from('<!doctype html><html><body>hello</body></html>'), 'UNSUPPORTED_FORMAT', 400],
    ['a JSON document', () => Buffer.from('{"audio": "no"}'), 'UNSUPPORTED_FORMAT', 400],
    ['an ELF binary', () => readFileSync(process.execPath).subarray(0, 65536), 'UNSUPPORTED_FORMAT', 400],
    ['a zip archive header', () => Buffer.concat([Buffer.from('PK\x03\x04'), random(4096)]), 'UNSUPPORTED_FORMAT', 400],
    ['a 270 KB-class FLAC that declares 3 h of silence (MAX_AUDIO_SECONDS=3600)', () => fixtures.get('bomb.flac')!, 'AUDIO_TOO_LONG', 413],
    ['a 45 KB FLAC that decodes to 3 h but declares nothing', () => fixtures.get('bomb-piped.flac')!, 'AUDIO_TOO_LONG', 413],
  ];

  it.each(uploads)('upload: %s → %s', async (_name, bytes, code, status) => {
    const r = await upload(bytes(), 'input.mp3');
    expect(r.status).toBe(status);
    expect(r.body.error).toMatchObject({ code, message: expect.any(String) });
    // Error bodies carry no server paths.
    expect(r.body.error.message).not.toMatch(new RegExp(`${serverTmp}|${dir}|/tmp/|/home/|/root/`));
    await stillServing();
  });

  it('upload: an MP3 truncated at 50 % transcribes what is there', async () => {
    const mp3 = readFileSync(JFK_MP3);
    const r = await upload(mp3.subarray(0, mp3.length >> 1), 'half.mp3');
    expect(r.status).toBe(200);
    expect(normalise(JFK_TEXT)).toContain(normalise(r.body.text).split(' ').slice(0, 3).join(' '));
    await stillServing();
  });

  it('upload: 50 min of silence (192 MB of PCM) is decoded block by block, never held whole, and transcribes to nothing', async () => {
    const rssKb = () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))![1]);
    await stillServing(); // the model loaded (it is loaded lazily), so what is measured is the job
    const before = rssKb();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKb())), 10);
    const r = await upload(fixtures.get('silence-50min.flac')!, 'long.flac');
    clearInterval(sampler);
    expect(r.status).toBe(200);
    expect(r.body.text).toBe('');
    // Held whole, the PCM alone would raise RSS by 192 MB (it did, before blocks): here a 12 min
    // block buffer (46 MB) and the chunks in flight.
    console.info(`50 min of silence: RSS rose ${((peak - before) / 1024).toFixed(0)} MB during the job`);
    expect(peak - before).toBeLessThan(160 * 1024);
    await stillServing();
  });

  it('upload: over MAX_UPLOAD_BYTES → 413, and a body that is not multipart → 400', async () => {
    expect((await upload(Buffer.alloc(MAX_UPLOAD + 1024), 'big.wav')).body.error.code).toBe('PAYLOAD_TOO_LARGE');
    const r = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: 'file=x', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' } });
    expect(r.status).toBe(400);
    expect(((await r.json()) as any).error.code).toBe('INVALID_INPUT');
    await stillServing();
  });

  it('upload: a client that disconnects mid-upload costs its own request only (3 times)', async () => {
    const { port } = new URL(server.url);
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        const boundary = 'xhostile';
        const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/audio/transcriptions', headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(3_000_000) } });
        req.on('error', () => resolve());
        req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="r.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
        req.write(random(200_000));
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 200);
      });
    }
    await new Promise((r) => setTimeout(r, 300));
    await stillServing();
  });

  it('slowloris: 20 /run bodies and 10 uploads dripping a byte every 3 s are closed by the server (BODY_IDLE_SECONDS=2)', async () => {
    const { port } = new URL(server.url);
    const started = performance.now();
    const drip = (path: string, contentType: string, head: string) =>
      new Promise<number>((resolve) => {
        const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers: { ...auth, 'content-type': contentType, 'content-length': '100000' } });
        req.on('error', () => {});
        req.write(head);
        const t = setInterval(() => req.write('x'), 3000);
        req.on('close', () => {
          clearInterval(t);
          resolve(performance.now() - started);
        });
        req.on('response', (res) => res.resume());
      });
    const boundary = 'xdrip';
    const closedAt = await Promise.all([
      ...Array.from({ length: 20 }, () => drip('/run', 'application/json', '{"input": {"audio_url": "')),
      ...Array.from({ length: 10 }, () =>
        drip('/v1/audio/transcriptions', `multipart/form-data; boundary=${boundary}`, `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.wav"\r\n\r\nRIFF`),
      ),
    ]);
    expect(Math.max(...closedAt)).toBeLessThan(8000);
    await new Promise((r) => setTimeout(r, 300));
    await stillServing();
  });

  it('upload: a NUL in the multipart filename is a malformed part header: 400 INVALID_INPUT (was 499, as if the client had left)', async () => {
    const boundary = 'xnul';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a\u0000b\u0001../../c.wav"\r\n\r\n`, 'latin1'),
      jfk(),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const r = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body, headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}` } });
    expect(r.status).toBe(400);
    expect(((await r.json()) as any).error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/multipart body could not be read/) });
    await stillServing();
  });

  const jsonBodies: Array<[string, () => string, number, string]> = [
    ['not JSON', () => '{"input": ', 400, 'INVALID_INPUT'],
    ['JSON null', () => 'null', 400, 'INVALID_INPUT'],
    ['a JSON array', () => '[1, 2, 3]', 400, 'INVALID_INPUT'],
    ['a JSON string', () => '"audio"', 400, 'INVALID_INPUT'],
    ['input null', () => '{"input": null}', 400, 'INVALID_INPUT'],
    ['input a string', () => '{"input": "https://x/a.wav"}', 400, 'INVALID_INPUT'],
    ['no audio field', () => '{"input": {"language": "en"}}', 400, 'INVALID_INPUT'],
    ['beam_size a string', () => '{"input": {"audio": "http://127.0.0.2/a.wav", "beam_size": "5"}}', 400, 'INVALID_INPUT'],
    ['temperature "hot"', () => '{"input": {"audio": "http://127.0.0.2/a.wav", "temperature": "hot"}}', 400, 'INVALID_INPUT'],
    ['language a number', () => '{"input": {"audio": "http://127.0.0.2/a.wav", "language": 5}}', 400, 'INVALID_INPUT'],
    ['word_timestamps "yes"', () => '{"input": {"audio": "http://127.0.0.2/a.wav", "word_timestamps": "yes"}}', 400, 'INVALID_INPUT'],
    ['an unknown key', () => '{"input": {"audio": "http://127.0.0.2/a.wav", "rm_rf": true}}', 400, 'INVALID_INPUT'],
    ['a model name with ../', () => '{"input": {"audio": "http://127.0.0.2/a.wav", "model": "../../../etc/passwd"}}', 400, 'INVALID_INPUT'],
    ['a model path', () => '{"input": {"audio": "http://127.0.0.2/a.wav", "model": "/etc/passwd"}}', 400, 'INVALID_INPUT'],
    ['a model name with a backslash', () => '{"input": {"audio": "http://127.0.0.2/a.wav", "model": "..\\\\..\\\\x"}}', 400, 'INVALID_INPUT'],
    ['a local path as audio', () => '{"input": {"audio": "/etc/passwd"}}', 400, 'INVALID_INPUT'],
    ['JSON nested 100 000 deep', () => `{"input": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`, 400, 'INVALID_INPUT'],
    ['a 10 MB body', () => JSON.stringify({ input: { audio_base64: 'A'.repeat(10 * 1024 * 1024) } }), 413, 'PAYLOAD_TOO_LARGE'],
  ];

  it.each(jsonBodies)('/run: %s → %i %s', async (_name, body, status, code) => {
    const r = await fetch(`${server.url}/run`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: body() });
    expect(r.status).toBe(status);
    expect(((await r.json()) as any).error.code).toBe(code);
    await stillServing();
  });

  const urls: Array<[string, string, string]> = [
    ['a 404', '/404.wav', 'DOWNLOAD_FAILED'],
    ['a 500 (retried, then given up)', '/500.wav', 'DOWNLOAD_FAILED'],
    ['a redirect loop', '/loop', 'DOWNLOAD_FAILED'],
    ['a redirect to file:', '/to-file', 'URL_BLOCKED'],
    ['a redirect to loopback as IPv4-mapped IPv6', '/to-loopback', 'URL_BLOCKED'],
    ['a Content-Length over MAX_AUDIO_BYTES', '/huge', 'DOWNLOAD_TOO_LARGE'],
    ['a chunked body over MAX_AUDIO_BYTES', '/huge-chunked', 'DOWNLOAD_TOO_LARGE'],
    ['a Content-Length shorter than the body', '/short-length', 'DOWNLOAD_FAILED'],
    ['a Content-Length longer than the body', '/long-length', 'DOWNLOAD_FAILED'],
    ['a drip of 10 bytes every 400 ms', '/drip', 'DOWNLOAD_TIMEOUT'],
    ['headers, then nothing', '/stall', 'DOWNLOAD_TIMEOUT'],
    ['an HTML page', '/html', 'UNSUPPORTED_FORMAT'],
  ];

  it.each(urls)('/run audio_url: %s → %s', async (_name, path, code) => {
    const t0 = Date.now();
    const done = await runJob({ audio_url: `${origin.url}${path}` });
    expect(done.status).toBe('FAILED');
    expect(JSON.parse(done.error)).toMatchObject({ error_type: code });
    expect(Date.now() - t0).toBeLessThan(30_000); // a stalled origin does not hold the queue
    await stillServing();
  });

  it('/run audio_url: private addresses other than the allowed one are refused without a connection', async () => {
    for (const url of ['http://127.0.0.1:9/a.wav', 'http://localhost:9/a.wav', 'http://[::1]:9/a.wav', 'http://10.0.0.1/a.wav', 'http://[::ffff:7f00:1]:9/a.wav']) {
      expect(JSON.parse((await runJob({ audio_url: url })).error)).toMatchObject({ error_type: 'URL_BLOCKED' });
    }
    await stillServing();
  });

  it('/run audio_base64: the bomb, and bytes that are not base64', async () => {
    const bomb = await runJob({ audio_base64: fixtures.get('bomb.flac')!.toString('base64') });
    expect(bomb.status).toBe('FAILED');
    expect(JSON.parse(bomb.error)).toMatchObject({ error_type: 'AUDIO_TOO_LONG', error_message: expect.stringMatching(/3\.00 h of audio, over the 1\.00 h limit/) });
    expect((await runJob({ audio_base64: '%%% not base64 %%%' })).status).toBe('FAILED');
    await stillServing();
  });

  it('translations on an English-only model: 400, as the RunPod route refuses', async () => {
    const f = new FormData();
    f.append('file', new Blob([jfk()]), 'jfk.wav');
    const r = await fetch(`${server.url}/v1/audio/translations`, { method: 'POST', body: f, headers: auth });
    expect(r.status).toBe(400);
    expect(((await r.json()) as any).error).toMatchObject({ code: 'MODEL_ENGLISH_ONLY', message: expect.stringMatching(/English-only/) });
    await stillServing();
  });

  it.each([
    ['no Authorization', {}],
    ['the key without "Bearer"', { authorization: KEY }],
    ['a wrong key', { authorization: 'Bearer nope' }],
    ['Basic auth', { authorization: `Basic ${Buffer.from(`x:${KEY}`).toString('base64')}` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ])('auth: %s → 401', async (_name, headers) => {
    const r = await fetch(`${server.url}/metrics`, { headers });
    expect(r.status).toBe(401);
    expect(((await r.json()) as any).error.code).toBe('UNAUTHORIZED');
  });
  it('/metrics stays bounded: 300 requests to random paths, with and without the key, add one `unknown` label, not 300', async () => {
    const labels = async () => (await (await fetch(`${server.url}/metrics`, { headers: auth })).text()).split('\n').filter((l) => l.startsWith('whisper_serve_http_requests_total')).length;
    await labels(); // /metrics counts itself once
    const before = await labels();
    for (let i = 0; i < 300; i++) await fetch(`${server.url}/v1/${Math.random().toString(36).slice(2)}`, { headers: i % 2 ? auth : {} });
    expect((await labels()) - before).toBeLessThanOrEqual(2); // unknown × {401, 404}
    await stillServing();
  });

  it('upload: a Content-Length of 4 GB is refused before the body is read', async () => {
    const t0 = Date.now();
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/v1/audio/transcriptions`, { method: 'POST', headers: { ...auth, 'content-type': 'multipart/form-data; boundary=x', 'content-length': String(4 * 1024 ** 3) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('--x\r\n'); // a few bytes of a 4 GB promise
    });
    expect(status).toBe(413);
    expect(Date.now() - t0).toBeLessThan(5000);
    await stillServing();
  });
});

