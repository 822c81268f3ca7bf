#!/usr/bin/env node
// Builds (or finds) the native addon.
//   node scripts/build-native.mjs              incremental build in build/ (whisper.cpp is compiled once)
//   node scripts/build-native.mjs --if-missing  the npm install hook: nothing to do when a prebuilt or
//                                               built addon loads; else build from source
//   node scripts/build-native.mjs --prebuild    portable (no -march=native) N-API build by prebuildify
//                                               (binding.gyp, in build-prebuild/) → prebuilds/<platform>-<arch>/
//   node scripts/build-native.mjs --whisper-cli also build whisper.cpp's whisper-cli (benchmark baseline)
// Env: WHISPER_SERVE_CUDA=1 (CUDA backend), CUDA_ARCHITECTURES, WHISPER_CPP_DIR, WHISPER_SERVE_NATIVE=0|1.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateWhisperCpp } from '../third_party/whisper-cpp.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = new Set(process.argv.slice(2));
const log = (msg) => process.stderr.write(`[whisper-serve build] ${msg}\n`);

function addonLoads() {
  try {
    require('node-gyp-build').path(root);
    return true;
  } catch {
    return false;
  }
}

function run(cmd, cmdArgs, cwd = root) {
  log(`${cmd} ${cmdArgs.join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, { cwd, stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function has(cmd) {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

if (args.has('--if-missing') && !process.env.WHISPER_SERVE_FORCE_BUILD && addonLoads()) {
  log('addon found (prebuilt or built); nothing to build');
  process.exit(0);
}

const prebuild = args.has('--prebuild');
const cuda = process.env.WHISPER_SERVE_CUDA === '1';
const native = prebuild ? false : process.env.WHISPER_SERVE_NATIVE !== '0';
const whisper = locateWhisperCpp();
log(`whisper.cpp ${whisper.version} from ${whisper.source} (${whisper.dir})`);

const defines = [
  `--CDWHISPER_CPP_DIR=${whisper.dir}`,
  `--CDGGML_NATIVE=${native ? 'ON' : 'OFF'}`,
  `--CDGGML_CUDA=${cuda ? 'ON' : 'OFF'}`,
];
if (cuda) {
  // Local builds target this machine's GPU; releases a portable list (Turing → Hopper).
  const archs = process.env.CUDA_ARCHITECTURES ?? (prebuild ? '75-virtual;80-virtual;86-real;89-real;90-virtual' : 'native');
  defines.push(`--CDCMAKE_CUDA_ARCHITECTURES=${archs}`);
}

if (!has('cmake')) {
  // node-gyp fallback: binding.gyp builds the same native/*.cc; it needs cmake for whisper.cpp too,
  // so without cmake there is nothing we can do but say so.
  log('cmake not found: install cmake (>= 3.18) and a C++17 compiler, or use a prebuilt binary');
  process.exit(1);
}

const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const generator = has('ninja') ? ['-G', 'Ninja'] : [];
const parallel = String(process.env.CMAKE_BUILD_PARALLEL_LEVEL ?? availableParallelism());
const out = 'build';

if (prebuild) {
  // prebuildify (node-gyp only) builds binding.gyp: the same native/*.cc, whisper.cpp's libraries
  // built portable by scripts/whisper-libs.mjs. node-gyp owns (and wipes) <cwd>/build, where the
  // incremental cmake-js build lives, so it runs in a staged copy of the build inputs instead.
  const stage = join(root, 'build-prebuild');
  mkdirSync(stage, { recursive: true });
  for (const f of ['package.json', 'binding.gyp']) cpSync(join(root, f), join(stage, f));
  for (const d of ['native', 'scripts', 'third_party']) cpSync(join(root, d), join(stage, d), { recursive: true });
  const prebuildify = join(dirname(require.resolve('prebuildify/package.json')), 'bin.js');
  process.env.WHISPER_SERVE_NATIVE = '0';
  run(process.execPath, [prebuildify, '--napi', '--strip'], stage);
  cpSync(join(stage, 'prebuilds'), join(root, 'prebuilds'), { recursive: true });
  log(`prebuilt: ${join(root, 'prebuilds')}`);
} else {
  run(process.execPath, [cmakeJs, 'build', '--out', out, ...generator, '--parallel', parallel, ...defines]);
  if (!existsSync(join(root, out, 'Release', 'whisper_serve.node'))) {
    log('build finished but build/Release/whisper_serve.node is missing');
    process.exit(1);
  }
}

if (args.has('--whisper-cli')) {
  // whisper.cpp's own CLI, linked against the very libraries the addon uses (CMakeLists.txt).
  run('cmake', ['--build', join(root, out), '--target', 'whisper-cli', '--parallel', parallel]);
}
