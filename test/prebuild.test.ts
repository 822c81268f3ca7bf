// A user's install of the packed package with a prebuilt binary, on a PATH with node and npm
// only (no cmake, g++, make, ffmpeg): the addon loads from prebuilds/, the install hook never
// builds (a fake cmake on that PATH records any call), ffmpeg is the pair `whisper-serve ffmpeg install` placed, and
// `serve`, whose job store (better-sqlite3) has no binary without install scripts, says so.
// Needs `npm run build:prebuild` first (`npm test` runs it).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { installPacked } from './helpers/consumer.js';
import { JFK_MP3, JFK_TEXT, JFK_WAV, TINY_EN, have, normalise } from './helpers/fixtures.js';

const prebuilt = join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, 'whisper-serve.node');
const dir = mkdtempSync(join(tmpdir(), 'ws-consumer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!have(prebuilt, TINY_EN, JFK_WAV))('installing the packed package with its prebuild', () => {
  it('loads the prebuilt addon and never builds, with no compiler or ffmpeg on PATH (but does build when CUDA is asked for)', () => {
    installPacked(dir); // no install scripts at all
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
    expect(info.ffmpeg).toMatchObject({ source: expect.stringMatching(/^FFMPEG_DIR/), version: 'n8.1.2', ffprobeVersion: 'n8.1.2' });
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

/** The x86 CPU modules of the best tier this machine's /proc/cpuinfo flags allow. */
function bestCpuModules(): string[] {
  const flags = new Set((/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').trim().split(/\s+/));
  const tiers: Array<[string[], string[]]> = [
    [['avx512_bf16', 'avx512_vnni', 'avx512vbmi'], ['zen4', 'sapphirerapids']],
    [['avx512_bf16', 'avx512_vnni'], ['cooperlake', 'zen4', 'sapphirerapids']],
    [['avx512f'], ['skylakex', 'cannonlake', 'cascadelake', 'icelake', 'cooperlake', 'zen4', 'sapphirerapids']],
    [['avx2', 'fma'], ['haswell', 'alderlake', 'skylakex', 'cannonlake', 'cascadelake', 'icelake', 'cooperlake', 'zen4', 'sapphirerapids']],
  ];
  return tiers.find(([need]) => need.every((f) => flags.has(f)))?.[1] ?? ['x64', 'sse42', 'sandybridge', 'ivybridge', 'piledriver'];
}

describe.skipIf(process.arch !== 'x64' || !have(prebuilt, TINY_EN, JFK_WAV))('the prebuild\'s variants', () => {
  const copy = join(dir, 'variants');
  const addon = join(copy, 'whisper-serve.node');
  const bin = join(packageRoot, 'bin', 'whisper-serve.js');
  const run = (env: Record<string, string>, ...args: string[]) =>
    spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, WHISPER_SERVE_ADDON: addon, LOG_FORMAT: 'json', ...env } });

  it('runs the CPU module ggml picks for this CPU: one per instruction set ships, the best one it runs loads', () => {
    cpSync(dirname(prebuilt), copy, { recursive: true });
    const info = JSON.parse(run({}, 'info', '--json').stdout);
    const module = /^cpu-(\w+)$/.exec(info.addon.variant)?.[1];
    expect(module, JSON.stringify(info.addon)).toBeDefined();
    expect(existsSync(join(copy, `libggml-cpu-${module}.so`))).toBe(true);
    expect(bestCpuModules()).toContain(module);
    expect(info.backends).toEqual([{ name: 'CPU', file: join(copy, `libggml-cpu-${module}.so`) }]);
  });

  it("carries ggml's AMX kernels in the sapphirerapids module only, and builds them with GCC 12's tile configuration repaired (issue 24)", () => {
    // ggml's AMX buffer type is the entry point of all of it: without AMX compiled in, it is not there.
    const amxIn = (file: string) => spawnSync('nm', ['-D', '--defined-only', file], { encoding: 'utf8' }).stdout.includes('ggml_backend_amx_buffer_type');
    const sapphire = join(dirname(prebuilt), 'libggml-cpu-sapphirerapids.so');
    expect(spawnSync('nm', ['-D', '--defined-only', sapphire], { encoding: 'utf8' }).stdout).toMatch(/ggml_backend_cpu_reg/); // nm reads it
    expect(amxIn(sapphire)).toBe(true);
    expect(amxIn(join(dirname(prebuilt), 'libggml-cpu-zen4.so'))).toBe(false);
    // Without the repair GCC 12 drops the tiles' shapes and the first tile load raises SIGILL
    // (third_party/amx-tile-config.h); the jfk runs on q8_0 in import-hf.test.ts prove it on an AMX CPU.
    const commands = join(packageRoot, 'build', 'compile_commands.json');
    expect(existsSync(commands), 'npm run build:native').toBe(true);
    const mmq = (JSON.parse(readFileSync(commands, 'utf8')) as Array<{ file: string; command: string }>).find((c) => c.file.endsWith('amx/mmq.cpp'))!;
    expect(mmq.command).toContain(`-include ${join(packageRoot, 'third_party', 'amx-tile-config.h')}`);
  });

  it('falls back to the CPU with one warning where the CUDA variant does not load, and says why where a GPU is required', () => {
    // A CUDA variant that cannot load (as where its libcudart is missing): here, a damaged file.
    mkdirSync(join(copy, 'cuda'), { recursive: true });
    writeFileSync(join(copy, 'cuda', 'libggml-cuda.so'), 'not an ELF file');
    const r = run({ WHISPER_GPU: 'auto' }, 'transcribe', JFK_WAV, '-m', TINY_EN);
    expect(r.status, r.stderr).toBe(0);
    expect(normalise(r.stdout)).toBe(normalise(JFK_TEXT));
    const warnings = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string }).filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/^CUDA variant not loaded: running on the CPU, cpu-\w+ \(the CUDA variant .*libggml-cuda\.so did not load: .*(invalid ELF header|file too short)/);

    const required = run({ WHISPER_GPU: 'required' }, 'transcribe', JFK_WAV, '-m', TINY_EN);
    expect(required.status).not.toBe(0);
    expect(required.stderr).toMatch(/CUDA_NOT_AVAILABLE.*CUDA variant .*did not load/);
    const off = run({ WHISPER_GPU: 'off' }, 'transcribe', JFK_WAV, '-m', TINY_EN);
    expect(off.stderr).not.toMatch(/"level":"warn"/);
  }, 120_000);
});
