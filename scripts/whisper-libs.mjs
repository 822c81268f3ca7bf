#!/usr/bin/env node
// For binding.gyp (node-gyp's build; CUDA builds of the whole addon go through cmake-js): builds
// whisper.cpp's libraries with cmake, once, then prints what gyp asks for:
//   --sources   the addon's native/*.cc (the same glob CMakeLists.txt uses: one list, not two)
//   --include   whisper.cpp's include dirs
//   --libs      the libraries to link
//   --cuda-module <dir>   builds ggml's CUDA backend as a module into <dir> (the prebuild's CUDA variant)
// Native builds (this machine's CPU) link whisper.cpp statically. Portable ones
// (WHISPER_SERVE_NATIVE=0: the prebuild) are ggml's dynamic-backend build: libwhisper, libggml and
// libggml-base beside the addon (found through its $ORIGIN rpath), and the CPU backend once per
// instruction set (libggml-cpu-haswell.so, -skylakex, -zen4, …), of which ggml loads the best this
// CPU runs (native/backends.cc). A CUDA module built with the same flags loads beside them.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateWhisperCpp } from '../third_party/whisper-cpp.mjs';
import { cpuVariant } from './cpu-variant.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const what = process.argv[2];
const fail = (msg) => {
  process.stderr.write(`[whisper-serve gyp] ${msg}\n`);
  process.exit(1);
};

if (what === '--sources') {
  const files = readdirSync(join(root, 'native')).filter((f) => f.endsWith('.cc')).sort();
  process.stdout.write(files.map((f) => `native/${f}`).join(' '));
  process.exit(0);
}

const whisper = locateWhisperCpp();
if (what === '--include') {
  process.stdout.write([join(whisper.dir, 'include'), join(whisper.dir, 'ggml', 'include')].join(' '));
  process.exit(0);
}
const cudaModuleDir = what === '--cuda-module' ? process.argv[3] : undefined;
if (what !== '--libs' && !cudaModuleDir) fail('usage: whisper-libs.mjs --sources | --include | --libs | --cuda-module <dir>');

const portable = process.env.WHISPER_SERVE_NATIVE === '0' || cudaModuleDir !== undefined;
const out = join(root, cudaModuleDir ? 'build-whisper-cuda-module' : portable ? 'build-whisper-libs-portable' : 'build-whisper-libs');
const run = (args) => {
  const r = spawnSync('cmake', args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.error) fail(`cmake is needed to build whisper.cpp: ${r.error.message}`);
  if (r.status !== 0) fail(`cmake ${args.join(' ')} failed`);
};
// ggml's AMX kernels (the prebuild's sapphirerapids module; a native build on such a CPU) with
// GCC 12's tile configuration repaired, as in CMakeLists.txt; WHISPER_SERVE_AMX=0 leaves them out.
const amx =
  process.env.WHISPER_SERVE_AMX === '0'
    ? ['C', 'CXX'].map((l) => `-DCMAKE_${l}_FLAGS=-U__AMX_TILE__ -U__AMX_INT8__ -U__AMX_BF16__`)
    : [`-DCMAKE_CXX_FLAGS=-include "${join(root, 'third_party', 'amx-tile-config.h')}"`];
const common = [...amx, '-DCMAKE_BUILD_TYPE=Release', '-DCMAKE_POSITION_INDEPENDENT_CODE=ON', '-DWHISPER_BUILD_EXAMPLES=OFF',
  '-DWHISPER_BUILD_TESTS=OFF', '-DWHISPER_BUILD_SERVER=OFF', '-DGGML_OPENMP=OFF', '-DGGML_LLAMAFILE=ON' /* as CMakeLists.txt */];
// $ORIGIN, not the build folder, in the libraries' own search path: they are shipped side by side.
const dynamicBackends = ['-DBUILD_SHARED_LIBS=ON', '-DGGML_BACKEND_DL=ON', '-DGGML_NATIVE=OFF', '-DCMAKE_BUILD_RPATH_USE_ORIGIN=ON'];
// A native build: the instruction sets of the prebuild's module for this CPU, as build-native.mjs.
const nativeVariant = portable || process.env.WHISPER_SERVE_MARCH_NATIVE === '1' ? null : cpuVariant();
const configure = cudaModuleDir
  ? // The same ggml as the CPU prebuild (its libggml-base is the one loaded at run time), plus
    // CUDA: machine code for the architectures build-native.mjs chose, no driver linked.
    [...common, ...dynamicBackends, '-DGGML_CPU=OFF', '-DGGML_CUDA=ON', '-DGGML_CUDA_NO_VMM=ON', `-DCMAKE_CUDA_ARCHITECTURES=${process.env.CUDA_ARCHITECTURES}`]
  : portable
    ? [...common, ...dynamicBackends, '-DGGML_CPU_ALL_VARIANTS=ON']
    : [...common, '-DBUILD_SHARED_LIBS=OFF', ...(nativeVariant ? ['-DGGML_NATIVE=OFF', ...nativeVariant.options] : ['-DGGML_NATIVE=ON'])];
// Configured afresh when the options differ from the last configure's (a cache keeps old ones).
const stamp = join(out, 'whisper-serve-configure.json');
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== JSON.stringify(configure)) {
  rmSync(out, { recursive: true, force: true });
  run(['-S', whisper.dir, '-B', out, ...configure]);
  writeFileSync(stamp, JSON.stringify(configure));
}
// A job count always: `--parallel` alone lets make run every nvcc at once (100+ of them, GBs each).
const jobs = process.env.CMAKE_BUILD_PARALLEL_LEVEL ?? String(availableParallelism());
run(['--build', out, '--target', cudaModuleDir ? 'ggml-cuda' : 'whisper', '--parallel', jobs]);
if (cudaModuleDir) {
  mkdirSync(cudaModuleDir, { recursive: true });
  copyFileSync(join(out, 'bin', 'libggml-cuda.so'), join(cudaModuleDir, 'libggml-cuda.so'));
  spawnSync('strip', ['--strip-unneeded', join(cudaModuleDir, 'libggml-cuda.so')], { stdio: 'ignore' }); // 45 → 39 MB for one architecture
  process.exit(0);
}
if (portable) {
  // Linked by name; the files themselves are copied beside the addon (build-native.mjs --prebuild).
  process.stdout.write([`-L${join(out, 'bin')}`, '-lwhisper', '-lggml', '-lggml-base', '-lpthread'].join(' '));
  process.exit(0);
}
const libs = [];
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) walk(join(dir, e.name));
    else if (e.name.endsWith('.a')) libs.push(join(dir, e.name));
  }
};
walk(out);
const rank = (p) => ['libwhisper', 'libggml.a', 'libggml-cpu', 'libggml-cuda', 'libggml-base'].findIndex((n) => p.includes(n));
libs.sort((a, b) => rank(a) - rank(b));
// Static libraries that refer to each other: one group, so their order cannot matter.
process.stdout.write(['-Wl,--start-group', ...libs, '-Wl,--end-group', '-lpthread'].join(' '));
