// The checkout's build compiles ggml for the variant of the prebuild's that this CPU loads
// (scripts/cpu-variant.mjs), not -march=native: the two builds run the same code (issue 25).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script of the build, without types
import { cpuVariant } from '../scripts/cpu-variant.mjs';
import { packageRoot } from '../lib/native/binding.js';

const cpuinfo = (flags: string) => `processor\t: 0\nflags\t\t: ${flags}\n`;
const base = 'fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 bmi2';
const avx512 = 'avx512f avx512cd avx512vl avx512dq avx512bw';
type Variant = { name: string; options: string[] } | null;
const variant = (flags: string) => cpuVariant(cpuinfo(flags)) as Variant;

describe.skipIf(process.arch !== 'x64' || process.platform !== 'linux')("ggml's CPU variant for a machine", () => {
  it('picks the variant ggml would load, from /proc/cpuinfo, every option ON or OFF', () => {
    expect(variant(base)!.name).toBe('haswell');
    expect(variant(`${base} avx_vnni`)!.name).toBe('alderlake');
    expect(variant(`${base} ${avx512}`)!.name).toBe('skylakex');
    expect(variant(`${base} ${avx512} avx512_vnni`)!.name).toBe('cascadelake');
    // Zen 4, and Sapphire Rapids: zen4's list and AMX (AVX-VNNI besides, which ggml's variant
    // leaves out); zen4's list where the AMX kernels are left out (WHISPER_SERVE_AMX=0).
    expect(variant(`${base} ${avx512} avx512vbmi avx512_vnni avx512_bf16`)!.name).toBe('zen4');
    const sprFlags = `${base} ${avx512} avx512vbmi avx512_vnni avx512_bf16 avx_vnni amx_tile amx_int8 amx_bf16`;
    const spr = cpuVariant(cpuinfo(sprFlags), true) as Variant;
    expect(spr!.name).toBe('sapphirerapids');
    expect(spr!.options).toEqual(expect.arrayContaining(['-DGGML_AVX512_BF16=ON', '-DGGML_AMX_TILE=ON', '-DGGML_AMX_INT8=ON', '-DGGML_AVX_VNNI=OFF']));
    expect(spr!.options).toHaveLength(13);
    const sprNoAmx = cpuVariant(cpuinfo(sprFlags), false) as Variant;
    expect(sprNoAmx!.name).toBe('zen4');
    expect(sprNoAmx!.options).toContain('-DGGML_AMX_INT8=OFF');
    // AVX-512 without all five of F, CD, VL, DQ, BW is not ggml's AVX512.
    expect(variant(`${base} avx512f avx512cd`)!.name).toBe('haswell');
    expect(variant('fpu sse sse2')!.name).toBe('x64');
    expect(cpuVariant('')).toBeNull();
  });

  it("the checkout's build compiled ggml with this CPU's variant flags, not -march=native", () => {
    const commands = join(packageRoot, 'build', 'compile_commands.json');
    expect(existsSync(commands), 'npm run build:native').toBe(true);
    const cpuUnit = (JSON.parse(readFileSync(commands, 'utf8')) as Array<{ file: string; command: string }>).find((c) => c.file.endsWith('ggml-cpu/ggml-cpu.c'))!;
    expect(cpuUnit.command).not.toMatch(/-march=native/);
    const mine = cpuVariant() as Variant;
    if (mine?.options.includes('-DGGML_AVX2=ON')) expect(cpuUnit.command).toMatch(/-mavx2/);
    if (mine?.options.includes('-DGGML_AVX512_BF16=ON')) expect(cpuUnit.command).toMatch(/-mavx512bf16/);
    if (mine?.options.includes('-DGGML_AMX_INT8=ON')) expect(cpuUnit.command).toMatch(/-mamx-int8/);
  });
});
