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
import { Whisper } from '../lib/whisper.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, have, normalise } from './helpers/fixtures.js';

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
  '3gp': ['-c:a', 'aac', '-ar', '16000', '-f', '3gp'],
  '3gpp': ['-c:a', 'aac', '-ar', '16000', '-f', '3gp'],
  // AMR, the phone-call codecs: the packaged ffmpeg (@ffmpeg-installer) encodes them (Debian's only decodes).
  amr: ['-c:a', 'libopencore_amrnb', '-ar', '8000', '-ac', '1', '-f', 'amr'],
  'amr.3gp': ['-c:a', 'libopencore_amrnb', '-ar', '8000', '-ac', '1', '-f', '3gp'],
  awb: ['-c:a', 'libvo_amrwbenc', '-ar', '16000', '-ac', '1', '-f', 'amr'],
};


describe.skipIf(!have(JFK_WAV))('decoding with ffmpeg', () => {
  beforeAll(() => {
    const ff = findFfmpeg().path;
    for (const [ext, args] of Object.entries(FORMATS)) {
      execFileSync(ff, ['-y', '-loglevel', 'error', '-i', JFK_WAV, ...args, join(dir, `jfk.${ext}`)]);
    }
  });

  it('says which ffmpeg and ffprobe it uses: the packaged ones unless FFMPEG_PATH says otherwise', () => {
    const ff = findFfmpeg();
    expect(ff.source).toBe(process.env.FFMPEG_PATH ? 'FFMPEG_PATH' : '@ffmpeg-installer/ffmpeg');
    expect(ff.version).toMatch(/\S/);
    expect(ff.ffprobe).toBeDefined();
  });

  for (const ext of Object.keys(FORMATS)) {
    it(`decodes .${ext} to jfk's duration ±1 %`, async () => {
      const a = await loadAudio(join(dir, `jfk.${ext}`), { tempRoot });
      expect(Math.abs(a.duration - JFK_SECONDS) / JFK_SECONDS).toBeLessThan(0.01);
    });
  }

  it('finds the AMR codecs by probing, whatever the extension', async () => {
    expect((await loadAudio(join(dir, 'jfk.amr'), { tempRoot })).codec).toBe('amr_nb');
    expect((await loadAudio(join(dir, 'jfk.amr.3gp'), { tempRoot })).codec).toBe('amr_nb');
    expect((await loadAudio(join(dir, 'jfk.awb'), { tempRoot })).codec).toBe('amr_wb');
  });

  describe.skipIf(!have(TINY_EN))('transcribed with the real tiny.en', () => {
    let whisper: Whisper;
    beforeAll(async () => {
      whisper = await Whisper.load(TINY_EN, { batchSize: 1 });
    });
    afterAll(() => whisper?.dispose());
    const words = (t: string) => normalise(t).split(' ');

    // Narrowband sources (8 kHz) lose the sibilants above 4 kHz: tiny.en may miss an "s" there.
    const narrowband = ['8k.wav', 'amr', 'amr.3gp'];
    for (const ext of Object.keys(FORMATS).filter((e) => !narrowband.includes(e))) {
      it(`.${ext} gives the reference transcript`, async () => {
        const a = await loadAudio(join(dir, `jfk.${ext}`), { tempRoot });
        expect(normalise((await whisper.transcribe(a.pcm)).text)).toBe(normalise(JFK_TEXT));
      });
    }

    it('8 kHz sources (wav, AMR-NB) give the reference transcript but for at most one word', async () => {
      for (const file of ['jfk.8k.wav', 'jfk.amr', 'jfk.amr.3gp']) {
        const got = words((await whisper.transcribe((await loadAudio(join(dir, file), { tempRoot })).pcm)).text);
        const want = words(JFK_TEXT);
        expect(got).toHaveLength(want.length);
        expect(got.filter((w, i) => w !== want[i]).length).toBeLessThanOrEqual(1); // today: "Americans" → "America(n)"
      }
    });

    it('transcribes what a truncated mp3 still holds, and a 0.1 s file to nothing, without errors', async () => {
      const mp3 = readFileSync(join(dir, 'jfk.mp3'));
      writeFileSync(join(dir, 'cut.mp3'), mp3.subarray(0, Math.floor(mp3.length / 2)));
      const cut = await loadAudio(join(dir, 'cut.mp3'), { tempRoot });
      expect(cut.duration).toBeGreaterThan(4);
      expect(cut.duration).toBeLessThan(7);
      expect(normalise((await whisper.transcribe(cut.pcm)).text)).toMatch(/^and so my fellow americans/);
      execFileSync(findFfmpeg().path, ['-y', '-loglevel', 'error', '-i', JFK_WAV, '-t', '0.1', join(dir, 'short.wav')]);
      const short = await loadAudio(join(dir, 'short.wav'), { tempRoot });
      expect(short.duration).toBeCloseTo(0.1, 2);
      expect((await whisper.transcribe(short.pcm)).text).toBe('');
    });
  });

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
        case '/drip': {
          res.writeHead(200, { 'content-length': '100000' });
          const t = setInterval(() => res.write(Buffer.alloc(10)), 100);
          return res.on('close', () => clearInterval(t));
        }
        case '/to-metadata': return res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/iam/' }), res.end();
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

  it('gives up on a slow drip past the total timeout', async () => {
    const t0 = Date.now();
    await expect(loadAudio(`${base}/drip`, { tempRoot, totalTimeoutMs: 600 })).rejects.toMatchObject({ code: 'DOWNLOAD_TIMEOUT', message: /did not finish within 600 ms/ });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('refuses a redirect to a cloud metadata address, even with ALLOW_PRIVATE_URLS=1', async () => {
    await expect(loadAudio(`${base}/to-metadata`, { tempRoot })).rejects.toMatchObject({ code: 'URL_BLOCKED', message: /169\.254\.169\.254 is a link-local or cloud metadata address/ });
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
