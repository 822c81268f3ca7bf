// Fetching audio URLs over real HTTP on 127.0.0.1: redirects, retries, size caps, timeouts, the
// SSRF guard at its simplest (ssrf.test.ts has every address form), and no temp file left.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBlockedAddress } from '../lib/net/ssrf.js';
import { loadAudio } from '../lib/audio/source.js';
import { JFK_WAV, have } from './helpers/fixtures.js';
import { listen, type Loopback } from './helpers/loopback.js';

const dir = mkdtempSync(join(tmpdir(), 'ws-fetch-'));
const tempRoot = join(dir, 'jobs');
// ALLOW_PRIVATE_URLS=1 as a shell passes it down: the origin is on loopback.
const local = { tempRoot, privateUrls: 'all' as const };
const JFK_SECONDS = 11;

describe.skipIf(!have(JFK_WAV))('fetching URLs on loopback', () => {
  let server: Loopback;
  let base: string;
  let flaky = 0;
  const jfk = () => readFileSync(JFK_WAV);
  beforeAll(async () => {
    server = await listen((req, res) => {
      switch (new URL(req.url ?? '/', 'http://x').pathname) {
        case '/jfk.wav': return res.end(jfk());
        case '/flaky.wav': return flaky++ === 0 ? (res.writeHead(500), res.end('try again')) : res.end(jfk());
        case '/loop': return res.writeHead(302, { location: '/loop' }), res.end();
        case '/big': return res.writeHead(200, { 'content-length': String(50_000_000) }), res.end();
        case '/big-chunked': { res.write(Buffer.alloc(600_000)); return res.end(Buffer.alloc(600_000)); }
        case '/page': return res.writeHead(200, { 'content-type': 'text/html' }), res.end('<html>hello</html>');
        case '/drip': {
          res.writeHead(200, { 'content-length': '100000' });
          const t = setInterval(() => res.write(Buffer.alloc(10)), 100);
          return res.on('close', () => clearInterval(t));
        }
        case '/to-metadata': return res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/iam/' }), res.end();
        default: return res.writeHead(404), res.end('not found');
      }
    });
    base = server.url;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('downloads, decodes and reports the size', async () => {
    const a = await loadAudio(`${base}/jfk.wav?token=secret`, local);
    await expect(loadAudio(`${base}/missing.wav?token=secret`, local)).rejects.toThrow(/missing\.wav\?…$/);
    expect(a.source).toBe('url');
    expect(a.downloadedBytes).toBe(jfk().length);
  });

  it('retries a 500 and then succeeds', async () => {
    expect((await loadAudio(`${base}/flaky.wav`, local)).duration).toBeCloseTo(JFK_SECONDS, 1);
  });

  it('maps HTTP failures to typed errors', async () => {
    await expect(loadAudio(`${base}/missing.wav`, local)).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED', details: { status: 404 } });
    await expect(loadAudio(`${base}/loop`, local)).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED', message: /too many redirects/ });
    await expect(loadAudio(`${base}/big`, { ...local, maxBytes: 1_000_000 })).rejects.toMatchObject({ code: 'DOWNLOAD_TOO_LARGE' });
    await expect(loadAudio(`${base}/big-chunked`, { ...local, maxBytes: 1_000_000 })).rejects.toMatchObject({ code: 'DOWNLOAD_TOO_LARGE' });
    await expect(loadAudio(`${base}/page`, local)).rejects.toMatchObject({ code: 'UNSUPPORTED_FORMAT' });
  });

  it('gives up on a slow drip past the total timeout', async () => {
    const t0 = Date.now();
    await expect(loadAudio(`${base}/drip`, { ...local, totalTimeoutMs: 600 })).rejects.toMatchObject({ code: 'DOWNLOAD_TIMEOUT', message: /did not finish within 600 ms/ });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('refuses a redirect to a cloud metadata address, even with ALLOW_PRIVATE_URLS=1', async () => {
    await expect(loadAudio(`${base}/to-metadata`, local)).rejects.toMatchObject({ code: 'URL_BLOCKED', message: /169\.254\.169\.254 is a link-local or cloud metadata address/ });
  });

  it('blocks private addresses (names, literals, mapped IPv6) when ALLOW_PRIVATE_URLS is off', async () => {
    await expect(loadAudio(`${base}/jfk.wav`, { tempRoot })).rejects.toMatchObject({ code: 'URL_BLOCKED' });
    await expect(loadAudio('http://localhost:9/x.wav', { tempRoot })).rejects.toMatchObject({ code: 'URL_BLOCKED' });
    await expect(loadAudio('http://[::ffff:127.0.0.1]:9/x.wav', { tempRoot })).rejects.toMatchObject({ code: 'URL_BLOCKED' });
    for (const ip of ['10.1.2.3', '172.16.0.1', '192.168.1.1', '100.64.0.1', '169.254.169.254', '::1', 'fe80::1', 'fd00::1', '::ffff:10.0.0.1', '224.0.0.1']) {
      expect(isBlockedAddress(ip)).toBe(true);
    }
    expect(isBlockedAddress('8.8.8.8')).toBe(false);
    expect(isBlockedAddress('2606:4700::1111')).toBe(false);
  });

  it('leaves no temp files behind', () => {
    expect(readdirSync(tempRoot)).toEqual([]);
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));
