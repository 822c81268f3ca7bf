// Audio input: real ffmpeg (the installed pair) on formats made from jfk.wav; URLs are in fetch.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFfmpeg, releaseOf } from '../lib/audio/ffmpeg.js';
import { pathToFileURL } from 'node:url';
import { loadAudio } from '../lib/audio/source.js';
import { ErrorCode, ErrorCodes } from '../lib/index.js';
import { audioServer } from './helpers/loopback.js';
import { Whisper } from '../lib/whisper.js';
import { FIXTURE_FFMPEG, JFK_TEXT, JFK_WAV, TINY_EN, have, normalise } from './helpers/fixtures.js';

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
  // AMR, the phone-call codecs: the fixture ffmpeg encodes them (the decoding pair only decodes).
  amr: ['-c:a', 'libopencore_amrnb', '-ar', '8000', '-ac', '1', '-f', 'amr'],
  'amr.3gp': ['-c:a', 'libopencore_amrnb', '-ar', '8000', '-ac', '1', '-f', '3gp'],
  awb: ['-c:a', 'libvo_amrwbenc', '-ar', '16000', '-ac', '1', '-f', 'amr'],
};


describe.skipIf(!have(JFK_WAV))('decoding with ffmpeg', () => {
  beforeAll(() => {
    for (const [ext, args] of Object.entries(FORMATS)) {
      execFileSync(FIXTURE_FFMPEG, ['-y', '-loglevel', 'error', '-i', JFK_WAV, ...args, join(dir, `jfk.${ext}`)]);
    }
  });

  it('says which ffmpeg and ffprobe it uses: the installed pair (whisper-serve ffmpeg install) unless FFMPEG_PATH says otherwise, both of one current version', () => {
    const ff = findFfmpeg();
    expect(ff.source).toMatch(process.env.FFMPEG_PATH ? /^FFMPEG_PATH$/ : /^FFMPEG_DIR/);
    expect(releaseOf(ff.version)?.major).toBeGreaterThanOrEqual(8);
    expect(releaseOf(ff.ffprobeVersion)).toEqual(releaseOf(ff.version));
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
      execFileSync(FIXTURE_FFMPEG, ['-y', '-loglevel', 'error', '-i', JFK_WAV, '-t', '0.1', join(dir, 'short.wav')]);
      const short = await loadAudio(join(dir, 'short.wav'), { tempRoot });
      expect(short.duration).toBeCloseTo(0.1, 2);
      expect((await whisper.transcribe(short.pcm)).text).toBe('');
    });
  });

  it('takes the audio track of a video file', async () => {
    const video = join(dir, 'jfk-video.mp4');
    execFileSync(FIXTURE_FFMPEG, ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-i', JFK_WAV,
      '-shortest', '-c:v', 'mpeg4', '-c:a', 'aac', video]);
    const a = await loadAudio(video, { tempRoot });
    expect(a.codec).toBe('aac');
    expect(Math.abs(a.duration - JFK_SECONDS) / JFK_SECONDS).toBeLessThan(0.01);
    const silentVideo = join(dir, 'silent.mp4');
    execFileSync(FIXTURE_FFMPEG, ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10:duration=2', '-c:v', 'mpeg4', silentVideo]);
    await expect(loadAudio(silentVideo, { tempRoot })).rejects.toMatchObject({ code: 'UNSUPPORTED_FORMAT', message: /no audio stream/ });
  });

  it('probes bytes, not names: an mp3 called .wav still decodes', async () => {
    const p = join(dir, 'lying.wav');
    writeFileSync(p, readFileSync(join(dir, 'jfk.mp3')));
    const a = await loadAudio(p, { tempRoot });
    expect(a.codec).toBe('mp3');
  });

  it('takes URL objects: file: as its path, http(s): fetched; other schemes are INVALID_ARGUMENT', async () => {
    const a = await loadAudio(pathToFileURL(JFK_WAV));
    expect(a.source).toBe('file');
    expect(a.duration).toBeCloseTo(11, 0);
    const origin = await audioServer(JFK_WAV);
    try {
      const b = await loadAudio(new URL(`${origin.url}/jfk.wav`), { privateUrls: 'all' });
      expect([b.source, b.pcm.length]).toEqual(['url', a.pcm.length]);
    } finally {
      await origin.close();
    }
    await expect(loadAudio(new URL('ftp://example.com/a.wav'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /ftp:/ });
    expect(ErrorCode.INVALID_ARGUMENT).toBe('INVALID_ARGUMENT'); // codes as values, for `err.code === ErrorCode.…`
    expect(Object.keys(ErrorCode)).toEqual(Object.keys(ErrorCodes));
  });

  it('reads base64 (with a data: prefix in any case) and Buffers', async () => {
    const b64 = readFileSync(join(dir, 'jfk.ogg')).toString('base64');
    expect((await loadAudio({ base64: `data:audio/ogg;base64,${b64}` }, { tempRoot })).codec).toBe('vorbis');
    expect((await loadAudio({ base64: `DATA:audio/ogg;base64,${b64}` }, { tempRoot })).codec).toBe('vorbis');
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

afterAll(() => rmSync(dir, { recursive: true, force: true }));
