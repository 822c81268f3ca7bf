#!/usr/bin/env node
// `npm run bench:profile`: where the batched engine's time goes, op by op, on the CPU in hand:
// windows of real speech (jfk.wav repeated to fill them) through the engine with every graph node
// timed (WHISPER_SERVE_PROFILE, native/op_profile.h), beside the matrix products' rate and this
// machine's peak for the weights' type. Prints a table and writes bench/results/profile-<time>.json.
// A measuring tool, not a test: timing each node costs a barrier a node, so the totals run a few
// per cent over a plain run's.
//
//   npm run bench:profile [-- --model tiny.en --windows 8 --addon prebuilds/linux-x64/whisper-serve.node --emulate icelake]
//
// --emulate <module>: the prebuild with ggml's module for an older CPU alone beside it (bench/emulate.mjs).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuVariant } from '../scripts/cpu-variant.mjs';
import { emulatedCpu } from './emulate.mjs';
import { cpuFlags as flags, cpuName } from './machine.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const model = arg('model', 'tiny.en');
const windows = Number(arg('windows', '8')); // of 30 s: cut at pauses, a few more windows than that
const addon = arg('addon', undefined);
if (addon) process.env.WHISPER_SERVE_ADDON = join(root, addon);
const emulated = arg('emulate', '') ? emulatedCpu(arg('emulate', ''), root) : null;
if (emulated) process.env.WHISPER_SERVE_ADDON = emulated.env.WHISPER_SERVE_ADDON;
process.env.WHISPER_SERVE_PROFILE = '1';

const { Whisper, createLogger, loadAudio } = await import(join(root, 'dist', 'index.js'));
const info = JSON.parse(execFileSync(process.execPath, [join(root, 'bin', 'whisper-serve.js'), 'info', '--json'], { encoding: 'utf8' }));
const ggml = emulated
  ? `prebuild ${emulated.module} alone (emulating: ${emulated.what})`
  : info.addon.prebuilt
    ? `prebuild ${info.addon.variant}`
    : `checkout build (${cpuVariant()?.name ?? 'native'} flags)`;

// Windows of speech: jfk.wav (11 s) three times with a pause, ~30 s a window.
const { pcm: jfk } = await loadAudio(join(root, '..', 'shared', 'audio', 'jfk.wav'));
const window = new Float32Array(30 * 16000);
for (let at = 0; at + jfk.length <= window.length; at += jfk.length + 8000) window.set(jfk, at);
const pcm = new Float32Array(window.length * windows);
for (let i = 0; i < windows; i++) pcm.set(window, i * window.length);

let profile;
const logger = createLogger({ level: 'info', write: (line) => line.includes('engine profile') || process.stderr.write(`${line}\n`) });
const capture = { ...logger, level: 'info', info: (msg, fields) => (msg === 'engine profile' ? (profile = fields) : logger.info(msg, fields)), child: () => capture };
const whisper = await Whisper.load(model, { logger: capture, ...(process.argv.includes('--softmax') && { flashAttn: false }) });
await whisper.transcribe(pcm.subarray(0, window.length), { withoutTimestamps: true }); // warm-up: buffers allocated
const t0 = performance.now();
await whisper.transcribe(pcm, { withoutTimestamps: true, temperatureIncrement: 0 });
const wall = (performance.now() - t0) / 1000;
await whisper.dispose();

// The cores' peak for the products' input type: 2 FMA pipes of 256 bits a core on Zen 4 (AVX-512
// runs as two halves) and on Sapphire Rapids' port 0+1 fused plus port 5 (we count 2 × 512): per
// cycle f32 16 or 32 FMAs, bf16 twice that with AVX512_BF16 (VDPBF16PS), int8 four times with VNNI.
// At the clock the OS reports, which on these VMs is the nominal one: a Zen 4 VM reporting 2.6 GHz
// ran our bf16 products at 392 GFLOP/s against this 332 estimate (its cores boost; perf cannot count
// cycles there), so read a rate over the estimate as the clock, not the kernel, being off.
const ghz = Math.max(...cpus().map((c) => c.speed)) / 1000 || Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '')?.[1] ?? 0) / 1000;
const zen = /AMD/i.test(cpus()[0]?.model ?? '');
const fmaF32 = (flags.includes('avx512f') && !zen ? 32 : 16) * (flags.includes('fma') ? 1 : 0.5);
const peak = {
  f32: 2 * fmaF32 * ghz * availableParallelism(),
  bf16: 2 * fmaF32 * (flags.includes('avx512_bf16') ? 2 : 1) * ghz * availableParallelism(),
  int8: 2 * fmaF32 * (flags.includes('avx512_vnni') || flags.includes('avx_vnni') ? 4 : 2) * ghz * availableParallelism(),
};
const ops = profile.ops.sort((a, b) => b.seconds - a.seconds);
const total = ops.reduce((s, o) => s + o.seconds, 0);
const byStage = {};
for (const o of ops) byStage[o.op.split(' ')[0]] = (byStage[o.op.split(' ')[0]] ?? 0) + o.seconds;
const report = {
  date: new Date().toISOString(),
  machine: { cpu: cpuName(), cores: availableParallelism(), ghz, flags: flags.filter((f) => /^(avx|amx|fma|f16c)/.test(f)), ggml },
  model,
  windows: profile.windows,
  wallSeconds: wall,
  peakGflops: peak,
  stages: byStage,
  ops: ops.map((o) => ({ ...o, share: o.seconds / total, gflops: o.flop > 0 ? o.flop / o.seconds / 1e9 : undefined })),
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
const out = join(root, 'bench', 'results', `profile-${report.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);

const pad = (s, n) => String(s).padEnd(n);
console.log(`\n${report.machine.cpu}, ${report.machine.cores} cores at ${ghz.toFixed(2)} GHz (${report.machine.flags.join(' ')}); ggml: ${ggml}`);
console.log(`${model}, ${profile.windows} windows in ${wall.toFixed(2)} s; peak GFLOP/s (estimate): f32 ${peak.f32.toFixed(0)}, bf16 ${peak.bf16.toFixed(0)}, int8 ${peak.int8.toFixed(0)}`);
console.log(`stages: ${Object.entries(byStage).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ')}\n`);
console.log(`${pad('op', 34)}${pad('s', 9)}${pad('share', 8)}${pad('nodes', 8)}GFLOP/s`);
for (const o of report.ops.filter((o) => o.share >= 0.005)) {
  console.log(`${pad(o.op, 34)}${pad(o.seconds.toFixed(3), 9)}${pad(`${(100 * o.share).toFixed(1)} %`, 8)}${pad(o.nodes, 8)}${o.gflops ? o.gflops.toFixed(1) : ''}`);
}
console.log(`\nwrote ${out}`);
