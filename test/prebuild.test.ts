// A user's install of the packed package with a prebuilt binary: the addon loads from
// prebuilds/ and the install hook never runs cmake (a fake cmake first on PATH records any call).
// Needs `npm run build:prebuild` first (.ci/run does it).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, have, normalise } from './helpers/fixtures.js';

const prebuilds = join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`);
const havePrebuild = existsSync(prebuilds) && readdirSync(prebuilds).some((f) => f.endsWith('.node'));
if (!havePrebuild) console.warn(`SKIP prebuild install test: no ${prebuilds}/*.node (npm run build:prebuild)`);
const dir = mkdtempSync(join(tmpdir(), 'ws-consumer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!havePrebuild || !have(TINY_EN, JFK_WAV))('installing the packed package with its prebuild', () => {
  it('loads the prebuilt addon and never runs cmake (but does build when CUDA is asked for)', () => {
    const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: packageRoot, encoding: 'utf8' }).trim().split('\n').pop()!;
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module' }));
    // No install scripts at all: what npm 11 does for an unapproved dependency.
    execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tgz)], { cwd: dir, stdio: 'ignore' });
    const fakeBin = join(dir, 'fake-bin');
    execFileSync('mkdir', ['-p', fakeBin]);
    const marker = join(dir, 'cmake-was-run');
    writeFileSync(join(fakeBin, 'cmake'), `#!/bin/sh\necho "$@" >> ${marker}\nexit 1\n`);
    chmodSync(join(fakeBin, 'cmake'), 0o755);
    const env = { ...process.env, PATH: `${fakeBin}:${process.env.PATH}`, WHISPER_SERVE_ADDON: '' };

    // The package's own install hook, as an approving user would run it.
    const hook = spawnSync(process.execPath, ['node_modules/whisper-serve/scripts/build-native.mjs', '--if-missing'], { cwd: dir, env, encoding: 'utf8' });
    expect(hook.status).toBe(0);
    expect(hook.stderr).toMatch(/addon found \(prebuilt or built\) and it loads; nothing to build/);

    const info = JSON.parse(execFileSync(process.execPath, ['node_modules/whisper-serve/bin/whisper-serve.js', 'info', '--json'], { cwd: dir, env, encoding: 'utf8' }));
    expect(info.addon).toMatchObject({ prebuilt: true, path: expect.stringContaining(join('node_modules', 'whisper-serve', 'prebuilds')) });
    const text = execFileSync(process.execPath, ['node_modules/whisper-serve/bin/whisper-serve.js', 'transcribe', JFK_WAV, '-m', TINY_EN], { cwd: dir, env, encoding: 'utf8' });
    expect(normalise(text)).toBe(normalise(JFK_TEXT));
    expect(existsSync(marker)).toBe(false);

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
