// The instruction sets of ggml's CPU variant that this x86-64 machine runs best: the same table as
// ggml's GGML_CPU_ALL_VARIANTS build (ggml/src/CMakeLists.txt), so that the checkout's build
// compiles exactly the code the prebuild's module for this CPU carries. -march=native (what
// GGML_NATIVE does) ran up to 1.2-1.3× slower than that module on the same CPU with gcc 12 (Zen 4 and
// Sapphire Rapids; bench/README.md). The instruction sets were the same; what differed was
// -march=native (host tuning, every extension the CPU has), which this takes out of the build.
import { existsSync, readFileSync } from 'node:fs';

// In ggml's order. sapphirerapids (zen4's list and AMX) unless ggml's AMX kernels are left out
// (WHISPER_SERVE_AMX=0: CMakeLists.txt); then zen4's list is the best such a CPU gets.
const VARIANTS = [
  ['x64', []],
  ['sse42', ['SSE42']],
  ['sandybridge', ['SSE42', 'AVX']],
  ['ivybridge', ['SSE42', 'AVX', 'F16C']],
  ['piledriver', ['SSE42', 'AVX', 'F16C', 'FMA']],
  ['haswell', ['SSE42', 'AVX', 'F16C', 'FMA', 'AVX2', 'BMI2']],
  ['skylakex', ['SSE42', 'AVX', 'F16C', 'FMA', 'AVX2', 'BMI2', 'AVX512']],
  ['cannonlake', ['SSE42', 'AVX', 'F16C', 'FMA', 'AVX2', 'BMI2', 'AVX512', 'AVX512_VBMI']],
  ['cascadelake', ['SSE42', 'AVX', 'F16C', 'FMA', 'AVX2', 'BMI2', 'AVX512', 'AVX512_VNNI']],
  ['icelake', ['SSE42', 'AVX', 'F16C', 'FMA', 'AVX2', 'BMI2', 'AVX512', 'AVX512_VBMI', 'AVX512_VNNI']],
  ['cooperlake', ['SSE42', 'AVX', 'F16C', 'FMA', 'AVX2', 'BMI2', 'AVX512', 'AVX512_VNNI', 'AVX512_BF16']],
  ['zen4', ['SSE42', 'AVX', 'F16C', 'FMA', 'AVX2', 'BMI2', 'AVX512', 'AVX512_VBMI', 'AVX512_VNNI', 'AVX512_BF16']],
  ['alderlake', ['SSE42', 'AVX', 'F16C', 'FMA', 'AVX2', 'BMI2', 'AVX_VNNI']],
];
const AMX_VARIANT = ['sapphirerapids', [...VARIANTS.find(([name]) => name === 'zen4')[1], 'AMX_TILE', 'AMX_INT8']];
const ALL = ['SSE42', 'AVX', 'F16C', 'FMA', 'AVX2', 'BMI2', 'AVX512', 'AVX512_VBMI', 'AVX512_VNNI', 'AVX512_BF16', 'AVX_VNNI', 'AMX_TILE', 'AMX_INT8'];
// /proc/cpuinfo's names; ggml's AVX512 means F, CD, VL, DQ and BW together.
const CPUINFO = {
  SSE42: ['sse4_2'],
  AVX: ['avx'],
  F16C: ['f16c'],
  FMA: ['fma'],
  AVX2: ['avx2'],
  BMI2: ['bmi2'],
  AVX512: ['avx512f', 'avx512cd', 'avx512vl', 'avx512dq', 'avx512bw'],
  AVX512_VBMI: ['avx512vbmi'],
  AVX512_VNNI: ['avx512_vnni'],
  AVX512_BF16: ['avx512_bf16'],
  AVX_VNNI: ['avx_vnni'],
  AMX_TILE: ['amx_tile'],
  AMX_INT8: ['amx_int8'],
};

/** { name, options: ['-DGGML_AVX=ON', …every one ON or OFF] } for this machine, or null off x86-64 Linux. */
export function cpuVariant(cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '', amx = process.env.WHISPER_SERVE_AMX !== '0') {
  if (process.arch !== 'x64' || process.platform !== 'linux') return null;
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/));
  if (flags.size <= 1) return null;
  const has = (feature) => CPUINFO[feature].every((f) => flags.has(f));
  const runnable = [...VARIANTS, ...(amx ? [AMX_VARIANT] : [])].filter(([, features]) => features.every(has));
  const [name, features] = runnable.reduce((best, v) => (v[1].length >= best[1].length ? v : best));
  return { name, options: ALL.map((f) => `-DGGML_${f}=${features.includes(f) ? 'ON' : 'OFF'}`) };
}
