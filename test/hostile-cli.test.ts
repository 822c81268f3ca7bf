// The CLI against careless use: bad option values and environment, inputs that are not files,
// hours of silence, and Ctrl-C in the middle of a download. Real processes, real exit codes.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findFfmpeg } from '../lib/audio/ffmpeg.js';
import { JFK_WAV, TINY_EN, have } from './helpers/fixtures.js';
import { listen } from './helpers/loopback.js';
import { BIN } from './helpers/server-process.js';
import { runChild } from './helpers/spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'ws-hostile-cli-'));
const tempRoot = join(dir, 'tmp');
mkdirSync(tempRoot);
const env = { ...process.env, LOG_FORMAT: 'text', WHISPER_MODEL: TINY_EN, WHISPER_SERVE_TMP: tempRoot };
const cli = (args: string[], extraEnv: Record<string, string> = {}) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...env, ...extraEnv } });
// For the runs that take tens of seconds: spawnSync would hold the worker (helpers/spawn.ts).
const cliAsync = (args: string[]) => runChild(process.execPath, [BIN, ...args], { env });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!have(TINY_EN, JFK_WAV))('CLI: usage errors are one line and exit 2', () => {
  it.each([
    [['transcribe', '--batch-size', '0', JFK_WAV], {}, /--batch-size <n>' argument '0' is invalid\. expected a positive integer/],
    [['transcribe', '--threads', '-3', JFK_WAV], {}, /--threads <n>' argument '-3' is invalid/],
    [['transcribe', '--max-line-width', 'wide', JFK_WAV], {}, /--max-line-width <n>' argument 'wide' is invalid/],
    [['serve', '--port', '99999'], {}, /expected a port number from 0/],
    [['serve', '--concurrency', '1.5'], {}, /--concurrency <n>' argument '1\.5' is invalid/],
    [['serve'], { PORT: 'abc' }, /^error INVALID_ARGUMENT: PORT must be a positive integer, got "abc"$/m],
    [['transcribe', JFK_WAV], { WHISPER_THREADS: '-1' }, /^error INVALID_ARGUMENT: WHISPER_THREADS must be a positive integer, got "-1"$/m],
    [['transcribe', JFK_WAV], { ALLOW_PRIVATE_URLS: 'yes please' }, /ALLOW_PRIVATE_URLS must be 1, 0, or a comma list/],
  ] as Array<[string[], Record<string, string>, RegExp]>)('%j %j', (args, extra, message) => {
    const r = cli(args, extra);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stderr.trim().split('\n').filter((l) => !/^(hint|\(add --help)/.test(l))).toHaveLength(1);
  });
});

describe.skipIf(!have(TINY_EN, JFK_WAV))('CLI: inputs that are not audio files', () => {
  it('names a directory, a symlink loop, a missing file and a dangling link for what they are', () => {
    const loop = join(dir, 'loop-a');
    symlinkSync(join(dir, 'loop-b'), loop);
    symlinkSync(loop, join(dir, 'loop-b'));
    symlinkSync(join(dir, 'nowhere.wav'), join(dir, 'dangling.wav'));
    const cases: Array<[string, RegExp]> = [
      [dir, /error INVALID_ARGUMENT: .* is a directory, not an audio file/],
      [loop, /error INVALID_ARGUMENT: too many levels of symbolic links \(a symlink loop\)/],
      [join(dir, 'missing.wav'), /error INVALID_ARGUMENT: no such file: /],
      [join(dir, 'dangling.wav'), /error INVALID_ARGUMENT: no such file: /],
      ['/dev/null', /error INVALID_ARGUMENT: \/dev\/null is not a regular file/],
    ];
    for (const [input, message] of cases) {
      const r = cli(['transcribe', input]);
      expect(r.status, input).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/EISDIR|ELOOP|\n\s+at /);
    }
  });
});

describe.skipIf(!have(TINY_EN, JFK_WAV))('CLI: silence and noise', () => {
  it('turns 2 h of silence into an empty transcript, in every text format', async () => {
    const silence = join(dir, 'silence-2h.flac');
    execFileSync(findFfmpeg().path, ['-y', '-v', 'error', '-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '7200', '-c:a', 'flac', silence]);
    for (const format of ['txt', 'srt', 'vtt']) {
      const r = await cliAsync(['transcribe', silence, '-f', format]);
      expect(r.status).toBe(0);
      expect(r.stdout.replace(/^WEBVTT\s*/, '').trim()).toBe('');
    }
  });

  it('never writes the markers the model says about noise ([BLANK_AUDIO]) into txt or srt', async () => {
    const noise = join(dir, 'noise.wav');
    // Pink noise at -50 dBFS: not digital silence, so the model runs and answers "[BLANK_AUDIO]" (see silence.test.ts).
    execFileSync(findFfmpeg().path, ['-y', '-v', 'error', '-f', 'lavfi', '-i', 'anoisesrc=r=16000:a=0.003:c=pink', '-t', '60', '-ac', '1', noise]);
    for (const args of [['-f', 'txt'], ['-f', 'srt'], ['-f', 'srt', '--batch-size', '2']]) {
      const r = await cliAsync(['transcribe', noise, ...args]);
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe('');
    }
  });
});

describe.skipIf(!have(TINY_EN, JFK_WAV))('CLI: Ctrl-C', () => {
  it('during a URL download exits 130 and leaves no temp dir behind', async () => {
    const origin = await listen((_req, res) => {
      res.writeHead(200, { 'content-length': '10000000' });
      res.write(Buffer.alloc(64 * 1024)); // some bytes, then nothing: the download is in flight
    });
    try {
      const child = spawn(process.execPath, [BIN, 'transcribe', `${origin.url}/talk.wav`], { env: { ...env, ALLOW_PRIVATE_URLS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      // Wait until the job dir exists (the download has begun), then press Ctrl-C.
      while (readdirSync(tempRoot).length === 0) await new Promise((r) => setTimeout(r, 20));
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(stderr).toMatch(/SIGINT received: stopping/);
      expect(readdirSync(tempRoot)).toEqual([]);
    } finally {
      await origin.close();
    }
  });
});

describe.skipIf(!have(TINY_EN))('CLI: setup faults are setup errors (exit 3), with the code the README names', () => {
  it('a job database that is not one: SETUP_FAILED naming JOBS_DB, exit 3', () => {
    const garbage = join(dir, 'garbage.sqlite');
    writeFileSync(garbage, Buffer.concat([Buffer.from('not a database '.repeat(8)), Buffer.alloc(8192, 7)]));
    const r = spawnSync(process.execPath, [BIN, 'serve', '--port', '0'], { encoding: 'utf8', env: { ...env, JOBS_DB: garbage }, timeout: 30_000 });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/SETUP_FAILED: the job database .* \(JOBS_DB\) cannot be opened/);
  });

  it('models import of a file that does not exist: MODEL_IMPORT_FAILED, not a transcription failure', () => {
    const r = cli(['models', 'import', join(dir, 'missing.onnx'), '-o', join(dir, 'x.bin')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/MODEL_IMPORT_FAILED: .*missing\.onnx: no such file or directory/);
  });
});

