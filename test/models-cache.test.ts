// `models pull` against a real HTTP server on 127.0.0.1 (good, wrong checksum, cut off then
// resumed, 404, unreachable), and the cache commands (ls with verification, rm).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { pullModel } from '../lib/models/pull.js';
import { TEST_MODEL, TINY_EN, have } from './helpers/fixtures.js';
import { listen, type Loopback } from './helpers/loopback.js';

const cache = mkdtempSync(join(tmpdir(), 'ws-cache-'));
const bin = join(packageRoot, 'bin', 'whisper-serve.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, WHISPER_MODEL_CACHE: cache } });

describe.skipIf(!have(TEST_MODEL('tiny.en')))('models pull', () => {
  const file = readFileSync(TEST_MODEL('tiny.en'));
  const sha256 = createHash('sha256').update(file).digest('hex');
  const ranges: string[] = [];
  let server: Loopback;
  let cuts = 0; // full (non-Range) responses of /cut.bin still to drop mid-way
  let slowHits = 0;
  beforeAll(async () => {
    server = await listen((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
      if (path === '/good.bin') return res.end(file);
      if (path === '/slow.bin') {
        slowHits++;
        res.writeHead(200, { 'content-length': file.length });
        res.write(file.subarray(0, 100_000));
        return void setTimeout(() => res.end(file.subarray(100_000)), 1000);
      }
      if (path === '/cut.bin') {
        ranges.push(String(req.headers.range ?? 'none'));
        if (range) {
          const from = Number(range[1]);
          res.writeHead(206, { 'content-length': file.length - from, 'content-range': `bytes ${from}-${file.length - 1}/${file.length}` });
          return res.end(file.subarray(from));
        }
        res.writeHead(200, { 'content-length': file.length });
        if (cuts === 0) return res.end(file);
        cuts--;
        res.write(file.subarray(0, 200_000), () => setTimeout(() => res.destroy(), 50)); // the connection drops mid-way
        return;
      }
      res.writeHead(404).end('no such file');
    });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(cache, { recursive: true, force: true });
  });

  it('downloads, checks the sha256 and the ggml structure, and renames into place', async () => {
    const got = await pullModel('tiny.en', { cacheDir: cache, url: `${server.url}/good.bin`, sha256 });
    expect(got).toMatchObject({ path: join(cache, 'ggml-tiny.en.bin'), bytes: file.length, checksum: sha256, resumedFrom: 0 });
    expect(readFileSync(got.path).equals(file)).toBe(true);
    expect(existsSync(`${got.path}.partial`)).toBe(false);
    rmSync(got.path);
  });

  it('deletes a download whose checksum is wrong', async () => {
    await expect(pullModel('tiny.en', { cacheDir: cache, url: `${server.url}/good.bin`, sha256: '0'.repeat(64) })).rejects.toMatchObject({
      code: 'MODEL_CHECKSUM_MISMATCH',
      message: expect.stringMatching(/expected 0{64}; the download was deleted/),
    });
    expect(existsSync(join(cache, 'ggml-tiny.en.bin'))).toBe(false);
    expect(existsSync(join(cache, 'ggml-tiny.en.bin.partial'))).toBe(false);
  });

  it('resumes a download cut off mid-way with a Range request, at once', async () => {
    const url = `${server.url}/cut.bin`;
    cuts = 1;
    ranges.length = 0;
    const got = await pullModel('tiny.en', { cacheDir: cache, url, sha256 });
    expect(got.resumedFrom).toBeGreaterThan(0);
    expect(ranges).toEqual(['none', `bytes=${got.resumedFrom}-`]);
    expect(readFileSync(got.path).equals(file)).toBe(true);
    rmSync(got.path);
  });

  it('keeps the partial when its tries are spent, and the next pull resumes it', async () => {
    const url = `${server.url}/cut.bin`;
    cuts = 1;
    ranges.length = 0;
    await expect(pullModel('tiny.en', { cacheDir: cache, url, sha256, attempts: 1 })).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED', message: /run the same command again to resume/ });
    const partial = statSync(join(cache, 'ggml-tiny.en.bin.partial')).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(file.length);
    const got = await pullModel('tiny.en', { cacheDir: cache, url, sha256 });
    expect(got.resumedFrom).toBe(partial);
    expect(ranges).toEqual(['none', `bytes=${partial}-`]);
    expect(readFileSync(got.path).equals(file)).toBe(true);
  });

  it('fails with the status on a 404 and fast when offline, saying where to put the file', async () => {
    await expect(pullModel('tiny.en', { cacheDir: cache, url: `${server.url}/missing.bin` })).rejects.toMatchObject({
      code: 'DOWNLOAD_FAILED',
      details: { status: 404 },
      message: expect.stringContaining(`place it at ${join(cache, 'ggml-tiny.en.bin')}`),
    });
    const t0 = Date.now();
    await expect(pullModel('base.en', { cacheDir: cache, url: 'http://127.0.0.1:9/ggml-base.en.bin' })).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED', message: /cannot reach/ });
    expect(Date.now() - t0).toBeLessThan(5000);
    await expect(pullModel('large-v9', { cacheDir: cache })).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND', message: /known: tiny\.en, tiny,/ });
  });

  it('downloads once when two pulls of one model meet (servers sharing a cache), and takes over a lock whose process is gone', async () => {
    const shared = mkdtempSync(join(tmpdir(), 'ws-cache-shared-'));
    try {
      const url = `${server.url}/slow.bin`;
      const [a, b] = await Promise.all([pullModel('tiny', { cacheDir: shared, url, sha256 }), pullModel('tiny', { cacheDir: shared, url, sha256 })]);
      expect(slowHits).toBe(1);
      expect(a.path).toBe(b.path);
      expect(readFileSync(a.path).equals(file)).toBe(true);
      expect(existsSync(`${a.path}.lock`)).toBe(false);
      // A lock left by a process killed mid-download: its pid no longer runs.
      const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim();
      writeFileSync(join(shared, 'ggml-base.en.bin.lock'), gone);
      const t0 = Date.now();
      await expect(pullModel('base.en', { cacheDir: shared, url: `${server.url}/good.bin`, sha256 })).resolves.toMatchObject({ bytes: file.length });
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });

  it('lists the cache with verification, and removes a model (CLI)', () => {
    const ls = JSON.parse(cli('models', 'ls', '--json').stdout);
    expect(ls.cache).toBe(cache);
    // The test file is not the registry's tiny.en: the checksum says so.
    expect(ls.models.find((m: { name: string }) => m.name === 'tiny.en')).toMatchObject({ cached: true, bytes: file.length, verified: 'mismatch' });
    // Not in this cache: found (from `npm run models:test-weights`) in the package's models/, and listed there.
    const packaged = join(packageRoot, 'models', 'ggml-base.bin');
    expect(ls.models.find((m: { name: string }) => m.name === 'base')).toMatchObject(existsSync(packaged) ? { cached: true, path: packaged } : { cached: false });
    expect(ls.models.find((m: { name: string }) => m.name === 'small')).toMatchObject({ cached: false, path: null });
    const rm = cli('models', 'rm', 'tiny.en');
    expect(rm.status).toBe(0);
    expect(existsSync(join(cache, 'ggml-tiny.en.bin'))).toBe(false);
    expect(cli('models', 'rm', 'tiny.en').status).toBe(3);
  });

  it('reports a 404 from the CLI with the code and exit 1', async () => {
    // Not spawnSync: the server lives in this process and must answer meanwhile.
    const child = spawn(process.execPath, [bin, 'models', 'pull', 'tiny.en', '--url', `${server.url}/missing.bin`], { env: { ...process.env, WHISPER_MODEL_CACHE: cache } });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    expect(await new Promise((r) => child.on('exit', r))).toBe(1);
    expect(stderr).toMatch(/error DOWNLOAD_FAILED: HTTP 404/);
  });
});

describe.skipIf(!have(TINY_EN))('the imported test weights', () => {
  it('are recognised by models ls as our import of tiny.en', () => {
    const r = spawnSync(process.execPath, [bin, 'models', 'ls', '--json'], { encoding: 'utf8', env: { ...process.env, WHISPER_MODEL_CACHE: join(TINY_EN, '..') } });
    expect(JSON.parse(r.stdout).models.find((m: { name: string }) => m.name === 'tiny.en').verified).toBe('imported');
  });
});
