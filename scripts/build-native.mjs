#!/usr/bin/env node
// Builds (or finds) the native addon.
//   node scripts/build-native.mjs              incremental build in build/ (whisper.cpp is compiled once)
//   node scripts/build-native.mjs --if-missing  the npm install hook: nothing to do when a prebuilt or
//                                               built addon loads (with CUDA if asked); else build from source
//   node scripts/build-native.mjs --prebuild    portable N-API build by prebuildify (binding.gyp, in
//                                               build-prebuild/) → prebuilds/<platform>-<arch>/: the addon,
//                                               ggml's shared libraries and CPU backend per instruction
//                                               set; with WHISPER_SERVE_CUDA=1 also cuda/libggml-cuda.so
//   node scripts/build-native.mjs --whisper-cli also build whisper.cpp's whisper-cli (benchmark baseline)
// Env: WHISPER_SERVE_CUDA=1 (CUDA backend), CUDA_ARCHITECTURES, WHISPER_CPP_DIR, WHISPER_SERVE_NATIVE=0|1,
// WHISPER_SERVE_AMX=0 (leave ggml's AMX kernels out, see CMakeLists.txt), WHISPER_SERVE_MARCH_NATIVE=1
// (-march=native instead of the instruction sets of the prebuild's module for this CPU).
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateWhisperCpp } from '../third_party/whisper-cpp.mjs';
import { cpuVariant } from './cpu-variant.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = new Set(process.argv.slice(2));
const log = (msg) => process.stderr.write(`[whisper-serve build] ${msg}\n`);

// A prebuilt or built addon that loads here, and has CUDA (linked in, or the prebuild's CUDA
// variant beside it) when WHISPER_SERVE_CUDA=1 asks for it (else the CPU prebuild would silently
// stand in for the CUDA build the user asked for).
function usableAddon() {
  try {
    const path = require('node-gyp-build').path(root);
    const addon = require(path);
    const cudaVariant = existsSync(join(dirname(path), 'cuda', 'libggml-cuda.so'));
    return process.env.WHISPER_SERVE_CUDA !== '1' || addon.systemInfo().cudaBuild === true || cudaVariant;
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

// whisper.cpp's and ggml's shared libraries under the names the addon asks for (their sonames:
// libwhisper.so.1, …) and the CPU backend modules, stripped, beside the prebuilt addon.
function copySharedLibraries(from, to) {
  for (const e of readdirSync(from, { withFileTypes: true })) {
    const soname = e.isSymbolicLink() && /\.so\.\d+$/.test(e.name);
    const module = e.isFile() && /^libggml-.+\.so$/.test(e.name);
    if (!soname && !module) continue;
    copyFileSync(realpathSync(join(from, e.name)), join(to, e.name));
    spawnSync('strip', ['--strip-unneeded', join(to, e.name)], { stdio: 'ignore' }); // where there is a strip
  }
}

function has(cmd) {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

if (args.has('--if-missing') && !process.env.WHISPER_SERVE_FORCE_BUILD && usableAddon()) {
  log('addon found (prebuilt or built) and it loads; nothing to build');
  process.exit(0);
}

const PORTABLE_CUDA_ARCHITECTURES = '75-real;80-real;86-real;89-real;90-real';
const prebuild = args.has('--prebuild');
const cuda = process.env.WHISPER_SERVE_CUDA === '1';
const native = prebuild ? false : process.env.WHISPER_SERVE_NATIVE !== '0';
const whisper = locateWhisperCpp();
log(`whisper.cpp ${whisper.version} from ${whisper.source} (${whisper.dir})`);

// A local build compiles the instruction sets of the prebuild's module for this CPU (the faster
// of the two; scripts/cpu-variant.mjs), not -march=native (WHISPER_SERVE_MARCH_NATIVE=1 for that).
const variant = native && process.env.WHISPER_SERVE_MARCH_NATIVE !== '1' ? cpuVariant() : null;
if (variant) log(`ggml CPU code: the ${variant.name} variant's instruction sets (as the prebuild's cpu-${variant.name} module)`);
const defines = [
  `--CDWHISPER_CPP_DIR=${whisper.dir}`,
  `--CDGGML_NATIVE=${native && !variant ? 'ON' : 'OFF'}`,
  ...(variant ? variant.options.map((o) => `--CD${o.slice('-D'.length)}`) : []),
  `--CDGGML_CUDA=${cuda ? 'ON' : 'OFF'}`,
  `--CDWHISPER_SERVE_AMX=${process.env.WHISPER_SERVE_AMX === '0' ? 'OFF' : 'ON'}`,
];
if (cuda) {
  // Local builds target this machine's GPU; machines without one (a Docker build stage, CI) get
  // the portable list: machine code for Turing → Hopper, so no card JIT-compiles PTX at cold
  // start. (Without a GPU, CMake refuses "native" at configure.)
  let archs = process.env.CUDA_ARCHITECTURES;
  if (!archs) {
    const gpuHere = spawnSync('nvidia-smi', ['-L'], { stdio: 'ignore' }).status === 0;
    archs = gpuHere ? 'native' : PORTABLE_CUDA_ARCHITECTURES;
    log(`CUDA architectures ${archs} (${gpuHere ? "this machine's GPU" : 'portable'}; CUDA_ARCHITECTURES overrides)`);
    process.env.CUDA_ARCHITECTURES = archs; // for the prebuild's CUDA module (whisper-libs.mjs)
  }
  defines.push(`--CDCMAKE_CUDA_ARCHITECTURES=${archs}`);
  // ggml's VMM pool links libcuda.so.1 (the driver) into the addon, which then cannot even load
  // on a machine or container without the driver: without it, the CUDA build loads anywhere its
  // cudart/cuBLAS are, finds no device and runs on the CPU (lib/device.ts says so).
  defines.push('--CDGGML_CUDA_NO_VMM=ON');
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
  const target = join(stage, 'prebuilds', `${process.platform}-${process.arch}`);
  copySharedLibraries(join(stage, 'build-whisper-libs-portable', 'bin'), target);
  if (cuda) {
    // The CUDA variant: ggml's CUDA backend alone, loaded by lib/native/variants.ts where a GPU is.
    run(process.execPath, [join(stage, 'scripts', 'whisper-libs.mjs'), '--cuda-module', join(target, 'cuda')], stage);
  }
  rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
  cpSync(join(stage, 'prebuilds'), join(root, 'prebuilds'), { recursive: true });
  log(`prebuilt: ${join(root, 'prebuilds')}`);
} else {
  // cmake-js `build` configures only when there is no CMakeCache.txt: a build dir configured for
  // the CPU would stay CPU after WHISPER_SERVE_CUDA=1. Reconfigure in place (objects are kept)
  // whenever the options differ from the ones recorded at the last configure.
  const stamp = join(root, out, 'whisper-serve-options.json');
  const options = JSON.stringify(defines);
  if (existsSync(join(root, out, 'CMakeCache.txt')) && (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== options)) {
    run(process.execPath, [cmakeJs, 'configure', '--out', out, ...generator, ...defines]);
  }
  run(process.execPath, [cmakeJs, 'build', '--out', out, ...generator, '--parallel', parallel, ...defines]);
  writeFileSync(stamp, options);
  if (!existsSync(join(root, out, 'Release', 'whisper_serve.node'))) {
    log('build finished but build/Release/whisper_serve.node is missing');
    process.exit(1);
  }
}

if (args.has('--whisper-cli')) {
  // whisper.cpp's own CLI, linked against the very libraries the addon uses (CMakeLists.txt).
  run('cmake', ['--build', join(root, out), '--target', 'whisper-cli', '--parallel', parallel]);
}
