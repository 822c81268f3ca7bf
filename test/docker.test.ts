// No Docker engine runs here: the Dockerfile is checked with what can run. Every RUN step must
// parse as shell, the build stage's script (docker/build-app.sh) is plain sh, and what it
// assembles runs on its own.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { JFK_WAV, TINY_EN, have } from './helpers/fixtures.js';
import { serving } from './helpers/server-process.js';

const dockerfile = readFileSync(join(packageRoot, 'Dockerfile'), 'utf8');
// Instructions with their continuation lines joined, comments dropped.
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

describe('Dockerfile', () => {
  it('has RUN steps that all parse as sh', () => {
    const runs = instructions.filter((l) => l.startsWith('RUN ')).map((l) => l.slice(4));
    expect(runs.length).toBeGreaterThan(3);
    for (const step of runs) {
      const r = spawnSync('sh', ['-n', '-c', step], { encoding: 'utf8' });
      expect(r.status, `${step}\n${r.stderr}`).toBe(0);
    }
    const script = spawnSync('sh', ['-n', join(packageRoot, 'docker', 'build-app.sh')], { encoding: 'utf8' });
    expect(script.status, script.stderr).toBe(0);
  });

  it('runs the RunPod worker as a non-root user with the seed\'s model cache and a health check', () => {
    const last = instructions.slice(instructions.lastIndexOf(instructions.filter((l) => l.startsWith('FROM ')).at(-1)!));
    expect(last.some((l) => /^USER (?!root)\w+/.test(l))).toBe(true);
    expect(last.join('\n')).toMatch(/WHISPER_MODEL_CACHE=\/whisper_model_cache/);
    expect(last.some((l) => l.startsWith('HEALTHCHECK '))).toBe(true);
    expect(last.filter((l) => /^(ENTRYPOINT|CMD) /.test(l))).toEqual(['ENTRYPOINT ["/app/entrypoint.sh"]', 'CMD ["runpod"]']);
    // The runtime stage is built FROM a CUDA base image and gets no compiler.
    expect(last[0]).toMatch(/^FROM nvidia\/cuda:\$\{CUDA_VERSION\}-base-/);
    expect(last.join('\n')).not.toMatch(/\b(g\+\+|cmake|build-essential)\b/);
  });
});

// The image as a RunPod user meets it, without a Docker engine: docker/build-app.sh (the build
// stage) assembles the runtime folder from a copy of the sources, and everything below runs from
// that folder alone, with node, sh and dirname the only programs on PATH (no compiler, no npm,
// no ffmpeg, no checkout).
describe.skipIf(!have(TINY_EN, JFK_WAV))("the image's contents, assembled by docker/build-app.sh", () => {
  const work = mkdtempSync(join(tmpdir(), 'ws-docker-'));
  const src = join(work, 'src');
  const app = join(work, 'app');
  const bin = join(work, 'bin');
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const env = () => ({ PATH: bin, HOME: work, WHISPER_MODEL: TINY_EN, WHISPER_SERVE_TMP: process.env.WHISPER_SERVE_TMP ?? join(work, 'tmp'), LOG_FORMAT: 'text' });

  beforeAll(async () => {
    // The build context: the checkout's files as git sees them (what `docker build .` sends, less .dockerignore).
    mkdirSync(src);
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: packageRoot });
    execFileSync('sh', ['-c', `xargs -0 tar -cf - | tar -xf - -C '${src}'`], { cwd: packageRoot, input: files });
    const nodedir = existsSync('/usr/include/node/node_api.h') ? { npm_config_nodedir: '/usr' } : {};
    // Minutes of npm and compilers: run without blocking this worker (vitest's own calls time out otherwise).
    const build = spawn('sh', ['docker/build-app.sh', app], { cwd: src, env: { ...process.env, ...nodedir, WHISPER_SERVE_CUDA: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    build.stderr.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-3000)));
    expect(await new Promise<number | null>((r) => build.on('exit', r)), log).toBe(0);
    mkdirSync(bin);
    for (const tool of ['node', 'sh', 'dirname']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
  }, 900_000);

  it('holds the runtime only: no sources, no devDependencies, no build tools', () => {
    for (const gone of ['lib', 'native', 'test', 'node_modules/vitest', 'node_modules/typescript', 'node_modules/cmake-js', 'node_modules/nodejs-whisper/cpp']) {
      expect(existsSync(join(app, gone)), gone).toBe(false);
    }
    for (const tool of ['npm', 'g++', 'cmake', 'make', 'ffmpeg']) expect(spawnSync('sh', ['-c', `command -v ${tool}`], { env: env() }).status, tool).not.toBe(0);
  });

  it('runs the bundled test_input.json in RunPod local test mode, and a mounted one instead when present', () => {
    const run = (extra: Record<string, string> = {}) =>
      spawnSync('sh', [join(app, 'entrypoint.sh'), 'runpod'], { cwd: app, env: { ...env(), ...extra }, encoding: 'utf8', timeout: 120_000 });
    const bundled = run();
    expect(bundled.status, bundled.stderr).toBe(0);
    expect(JSON.parse(bundled.stdout)).toMatchObject({ status: 'COMPLETED', output: { transcription: expect.stringMatching(/ask not what your country can do for you/) } });
    const mounted = join(work, 'custom_test.json');
    writeFileSync(mounted, JSON.stringify({ input: { audio: JFK_WAV, transcription: 'srt', enable_vad: false } }));
    const custom = run({ TEST_INPUT_MOUNT: mounted });
    expect(custom.status, custom.stderr).toBe(0);
    expect(JSON.parse(custom.stdout).output.transcription).toMatch(/^1\n00:00:00,000 --> /);
  });

  it('ships the Silero VAD model, so enable_vad works with nothing mounted', () => {
    expect(existsSync(join(app, 'models', 'ggml-silero-v6.bin'))).toBe(true);
    const job = join(work, 'vad_test.json');
    writeFileSync(job, JSON.stringify({ input: { audio: JFK_WAV, enable_vad: true } }));
    const r = spawnSync('sh', [join(app, 'entrypoint.sh'), 'runpod'], { cwd: app, env: { ...env(), TEST_INPUT_MOUNT: job, LOG_LEVEL: 'debug' }, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'COMPLETED', output: { transcription: expect.stringMatching(/ask not what your country can do for you/) } });
  });

  it('opens a shell for anything that is not a whisper-serve command (docker run … bash)', () => {
    const r = spawnSync('sh', [join(app, 'entrypoint.sh'), 'sh', '-c', 'echo inside the image'], { cwd: app, env: env(), encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('inside the image');
  });

  it('serves /health in server mode', async () => {
    const { child, url, exited } = await serving(
      spawn('sh', [join(app, 'entrypoint.sh'), 'serve', '--port', '0'], { cwd: app, env: { ...env(), JOBS_DB: join(work, 'jobs.sqlite') }, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ jobs: { completed: 0 }, workers: { running: 0 } });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
