// A user's install of the packed package with a prebuilt binary, on a PATH with node and npm
// only (no cmake, g++, make, ffmpeg): the addon loads from prebuilds/, the install hook never
// builds (a fake cmake on that PATH records any call), ffmpeg comes from the npm packages, and
// `serve`, whose job store (better-sqlite3) has no binary without install scripts, says so.
// Needs `npm run build:prebuild` first (`npm test` runs it).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { JFK_MP3, JFK_TEXT, JFK_WAV, TINY_EN, have, normalise } from './helpers/fixtures.js';

const prebuilt = join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, 'whisper-serve.node');
const dir = mkdtempSync(join(tmpdir(), 'ws-consumer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!have(prebuilt, TINY_EN, JFK_WAV))('installing the packed package with its prebuild', () => {
  it('loads the prebuilt addon and never builds, with no compiler or ffmpeg on PATH (but does build when CUDA is asked for)', () => {
    const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: packageRoot, encoding: 'utf8' }).trim().split('\n').pop()!;
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module' }));
    // No install scripts at all: what npm 11 does for an unapproved dependency.
    execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tgz)], { cwd: dir, stdio: 'ignore' });
    // PATH: node and npm, and a fake cmake that records being called; nothing else.
    const fakeBin = join(dir, 'fake-bin');
    mkdirSync(fakeBin);
    for (const tool of ['node', 'npm']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(fakeBin, tool));
    const marker = join(dir, 'cmake-was-run');
    writeFileSync(join(fakeBin, 'cmake'), `#!/bin/sh\necho "$@" >> ${marker}\nexit 1\n`);
    chmodSync(join(fakeBin, 'cmake'), 0o755);
    const env = { ...process.env, PATH: fakeBin, WHISPER_SERVE_ADDON: '', FFMPEG_PATH: '' };
    for (const tool of ['g++', 'cc', 'make', 'ffmpeg', 'ffprobe', 'python3']) expect(spawnSync('sh', ['-c', `command -v ${tool}`], { env }).status, tool).not.toBe(0);

    // The package's own install hook, as an approving user would run it.
    const hook = spawnSync(process.execPath, ['node_modules/whisper-serve/scripts/build-native.mjs', '--if-missing'], { cwd: dir, env, encoding: 'utf8' });
    expect(hook.status).toBe(0);
    expect(hook.stderr).toMatch(/addon found \(prebuilt or built\) and it loads; nothing to build/);

    const info = JSON.parse(execFileSync(process.execPath, ['node_modules/whisper-serve/bin/whisper-serve.js', 'info', '--json'], { cwd: dir, env, encoding: 'utf8' }));
    expect(info.addon).toMatchObject({ prebuilt: true, path: expect.stringContaining(join('node_modules', 'whisper-serve', 'prebuilds')) });
    expect(info.ffmpeg).toMatchObject({ source: '@ffmpeg-installer/ffmpeg', ffprobe: expect.stringContaining('@ffprobe-installer') });
    const text = execFileSync(process.execPath, ['node_modules/whisper-serve/bin/whisper-serve.js', 'transcribe', JFK_WAV, '-m', TINY_EN], { cwd: dir, env, encoding: 'utf8' });
    expect(normalise(text)).toBe(normalise(JFK_TEXT));
    const mp3 = execFileSync(process.execPath, ['node_modules/whisper-serve/bin/whisper-serve.js', 'transcribe', JFK_MP3, '-m', TINY_EN], { cwd: dir, env, encoding: 'utf8' });
    expect(normalise(mp3)).toBe(normalise(JFK_TEXT));
    expect(existsSync(marker)).toBe(false);

    // The server's job store is the one part that needs a native module of its own: it says what to do.
    const serve = spawnSync(process.execPath, ['node_modules/whisper-serve/bin/whisper-serve.js', 'serve', '--port', '0'], { cwd: dir, env: { ...env, WHISPER_MODEL: TINY_EN }, encoding: 'utf8', timeout: 60_000 });
    expect(serve.status).toBe(3);
    expect(serve.stderr).toMatch(/error NATIVE_ADDON_MISSING: .*better-sqlite3.*npm install-scripts approve better-sqlite3/);

    // Asking for CUDA: the CPU prebuild does not count, so the hook goes on to build (here it
    // reaches the fake cmake, which fails) instead of silently keeping the CPU binary.
    const cuda = spawnSync(process.execPath, ['node_modules/whisper-serve/scripts/build-native.mjs', '--if-missing'], {
      cwd: dir,
      env: { ...env, WHISPER_SERVE_CUDA: '1', CUDA_ARCHITECTURES: '90-real' },
      encoding: 'utf8',
    });
    expect(cuda.stderr).not.toMatch(/nothing to build/);
    expect(cuda.status).not.toBe(0);
    expect(existsSync(marker)).toBe(true);
  }, 300_000);
});
