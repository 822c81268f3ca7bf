#!/usr/bin/env node
// For binding.gyp (node-gyp's fallback build, CPU only; CUDA builds go through cmake-js): builds whisper.cpp's static libraries with cmake,
// once, into build-whisper-libs/, then prints what gyp asks for:
//   --sources   the addon's native/*.cc (the same glob CMakeLists.txt uses: one list, not two)
//   --include   whisper.cpp's include dirs
//   --libs      the static libraries to link, in link order
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateWhisperCpp } from '../third_party/whisper-cpp.mjs';

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
if (what !== '--libs') fail('usage: whisper-libs.mjs --sources | --include | --libs');

const portable = process.env.WHISPER_SERVE_NATIVE === '0';
const out = join(root, portable ? 'build-whisper-libs-portable' : 'build-whisper-libs');
const run = (args) => {
  const r = spawnSync('cmake', args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.error) fail(`cmake is needed to build whisper.cpp: ${r.error.message}`);
  if (r.status !== 0) fail(`cmake ${args.join(' ')} failed`);
};
if (!existsSync(join(out, 'CMakeCache.txt'))) {
  run(['-S', whisper.dir, '-B', out, '-DCMAKE_BUILD_TYPE=Release', '-DBUILD_SHARED_LIBS=OFF', '-DCMAKE_POSITION_INDEPENDENT_CODE=ON',
    '-DWHISPER_BUILD_EXAMPLES=OFF', '-DWHISPER_BUILD_TESTS=OFF', '-DWHISPER_BUILD_SERVER=OFF', '-DGGML_OPENMP=OFF',
    `-DGGML_NATIVE=${portable ? 'OFF' : 'ON'}`]);
}
run(['--build', out, '--target', 'whisper', '--parallel']);
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
