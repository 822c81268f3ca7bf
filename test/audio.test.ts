// Audio input: real ffmpeg on formats made from jfk.wav, and real HTTP on 127.0.0.1.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFfmpeg } from '../lib/audio/ffmpeg.js';
import { isBlockedAddress } from '../lib/audio/ssrf.js';
import { loadAudio } from '../lib/audio/source.js';
import { JFK_WAV, have } from './helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'ws-audio-'));
const tempRoot = join(dir, 'jobs');
const JFK_SECONDS = 11;

// extension → ffmpeg output arguments
const FORMATS: Record<string, string[]> = {
  'f32.wav': ['-c:a', 'pcm_f32le'],
  '8k.wav': ['-ar', '8000'],
  'stereo44.wav': ['-ar', '44100', '-ac', '2'],
  mp3: ['-c:a', 'libmp3lame'],
  flac: ['-c:a', 'flac'],
  m4a: ['-c:a', 'aac'],
  mp4: ['-c:a', 'aac', '-f', 'mp4'],
  mpga: ['-c:a', 'mp2', '-f', 'mp2'],
  ogg: ['-c:a', 'libvorbis'],
  opus: ['-c:a', 'libopus'],
  webm: ['-c:a', 'libopus', '-f', 'webm'],
  wma: ['-c:a', 'wmav2', '-f', 'asf'],
  aac: ['-c:a', 'aac', '-f', 'adts'],
};

describe.skipIf(!have(JFK_WAV))('decoding with ffmpeg', () => {
  beforeAll(() => {
    const ff = findFfmpeg().path;
    for (const [ext, args] of Object.entries(FORMATS)) {
      execFileSync(ff, ['-y', '-loglevel', 'error', '-i', JFK_WAV, ...args, join(dir, `jfk.${ext}`)]);
    }
  });

  it('says which ffmpeg it uses', () => {
    const ff = findFfmpeg();
    expect(['FFMPEG_PATH', 'ffmpeg-static', '@ffmpeg-installer/ffmpeg', 'PATH']).toContain(ff.source);
    expect(ff.version).toMatch(/\S/);
  });

  for (const ext of Object.keys(FORMATS)) {
    it(`decodes .${ext} to jfk's duration ±1 %`, async () => {
      const a = await loadAudio(join(dir, `jfk.${ext}`), { tempRoot });
      expect(Math.abs(a.duration - JFK_SECONDS) / JFK_SECONDS).toBeLessThan(0.01);
    });
  }

  it('takes the audio track of a video file', async () => {
    const video = join(dir, 'jfk-video.mp4');
    execFileSync(findFfmpeg().path, ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-i', JFK_WAV,
      '-shortest', '-c:v', 'mpeg4', '-c:a', 'aac', video]);
    const a = await loadAudio(video, { tempRoot });
    expect(a.codec).toBe('aac');
    expect(Math.abs(a.duration - JFK_SECONDS) / JFK_SECONDS).toBeLessThan(0.01);
    const silentVideo = join(dir, 'silent.mp4');
    execFileSync(findFfmpeg().path, ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10:duration=2', '-c:v', 'mpeg4', silentVideo]);
    await expect(loadAudio(silentVideo, { tempRoot })).rejects.toMatchObject({ code: 'UNSUPPORTED_FORMAT', message: /no audio stream/ });
  });

  it('probes bytes, not names: an mp3 called .wav still decodes', async () => {
    const p = join(dir, 'lying.wav');
    writeFileSync(p, readFileSync(join(dir, 'jfk.mp3')));
    const a = await loadAudio(p, { tempRoot });
    expect(a.codec).toBe('mp3');
  });

  it('reads base64 (with a data: prefix) and Buffers', async () => {
    const b64 = readFileSync(join(dir, 'jfk.ogg')).toString('base64');
    expect((await loadAudio({ base64: `data:audio/ogg;base64,${b64}` }, { tempRoot })).codec).toBe('vorbis');
    expect((await loadAudio(readFileSync(join(dir, 'jfk.flac')), { tempRoot })).source).toBe('buffer');
  });

  it('gives typed errors for empty, non-audio and truncated input', async () => {
    writeFileSync(join(dir, 'empty.mp3'), '');
    await expect(loadAudio(join(dir, 'empty.mp3'), { tempRoot })).rejects.toMatchObject({ code: 'EMPTY_AUDIO' });
    writeFileSync(join(dir, 'page.mp3'), '<html><body>not audio</body></html>\n'.repeat(50));
    await expect(loadAudio(join(dir, 'page.mp3'), { tempRoot })).rejects.toMatchObject({ code: 'UNSUPPORTED_FORMAT' });
    await expect(loadAudio(Buffer.from('plain text, no media'), { tempRoot })).rejects.toMatchObject({ code: 'UNSUPPORTED_FORMAT' });
  });
});

describe.skipIf(!have(JFK_WAV))('fetching URLs on loopback', () => {
  let server: Server;
  let base: string;
  let flaky = 0;
  const jfk = () => readFileSync(JFK_WAV);
  beforeAll(async () => {
    server = createServer((req, res) => {
      switch (new URL(req.url ?? '/', 'http://x').pathname) {
        case '/jfk.wav': return res.end(jfk());
        case '/flaky.wav': return flaky++ === 0 ? (res.writeHead(500), res.end('try again')) : res.end(jfk());
        case '/loop': return res.writeHead(302, { location: '/loop' }), res.end();
        case '/big': return res.writeHead(200, { 'content-length': String(50_000_000) }), res.end();
        case '/big-chunked': { res.write(Buffer.alloc(600_000)); return res.end(Buffer.alloc(600_000)); }
        case '/page': return res.writeHead(200, { 'content-type': 'text/html' }), res.end('<html>hello</html>');
        default: return res.writeHead(404), res.end('not found');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.ALLOW_PRIVATE_URLS = '1';
  });
  afterAll(() => {
    delete process.env.ALLOW_PRIVATE_URLS;
    server?.close();
  });

  it('downloads, decodes and reports the size', async () => {
    const a = await loadAudio(`${base}/jfk.wav?token=secret`, { tempRoot });
    await expect(loadAudio(`${base}/missing.wav?token=secret`, { tempRoot })).rejects.toThrow(/missing\.wav\?…$/);
    expect(a.source).toBe('url');
    expect(a.downloadedBytes).toBe(jfk().length);
  });

  it('retries a 500 and then succeeds', async () => {
    expect((await loadAudio(`${base}/flaky.wav`, { tempRoot })).duration).toBeCloseTo(JFK_SECONDS, 1);
  });

  it('maps HTTP failures to typed errors', async () => {
    await expect(loadAudio(`${base}/missing.wav`, { tempRoot })).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED', details: { status: 404 } });
    await expect(loadAudio(`${base}/loop`, { tempRoot })).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED', message: /too many redirects/ });
    await expect(loadAudio(`${base}/big`, { tempRoot, maxBytes: 1_000_000 })).rejects.toMatchObject({ code: 'DOWNLOAD_TOO_LARGE' });
    await expect(loadAudio(`${base}/big-chunked`, { tempRoot, maxBytes: 1_000_000 })).rejects.toMatchObject({ code: 'DOWNLOAD_TOO_LARGE' });
    await expect(loadAudio(`${base}/page`, { tempRoot })).rejects.toMatchObject({ code: 'UNSUPPORTED_FORMAT' });
  });

  it('blocks private addresses (names, literals, mapped IPv6) when ALLOW_PRIVATE_URLS is off', async () => {
    delete process.env.ALLOW_PRIVATE_URLS;
    try {
      await expect(loadAudio(`${base}/jfk.wav`, { tempRoot })).rejects.toMatchObject({ code: 'URL_BLOCKED' });
      await expect(loadAudio('http://localhost:9/x.wav', { tempRoot })).rejects.toMatchObject({ code: 'URL_BLOCKED' });
      await expect(loadAudio('http://[::ffff:127.0.0.1]:9/x.wav', { tempRoot })).rejects.toMatchObject({ code: 'URL_BLOCKED' });
    } finally {
      process.env.ALLOW_PRIVATE_URLS = '1';
    }
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
