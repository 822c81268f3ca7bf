// `npm run bench -- --emulate <module>`: an older x86-64 CPU's instruction sets on this one, for
// the CPUs this project's machines are not (Ice Lake and Cascade Lake Xeons: AVX-512 and VNNI
// without BF16; Haswell to Zen 3: AVX2; Sandy Bridge: AVX alone, where int8 is refused). Ours runs the prebuild with only ggml's module for that
// CPU beside it: the addon takes its kernels from what the loaded module was built for
// (native/backends.cc), so it makes the choices it would make there. faster-whisper's products
// (oneDNN on AMD, MKL on Intel: CTranslate2 picks them, `CT2_VERBOSE=1`) are capped to the same
// instruction sets. Not that CPU's clocks, caches or memory: ratios only, and named as emulated.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

// ggml's module → the caps for the same instruction sets: oneDNN's (ONEDNN_MAX_CPU_ISA, what
// CTranslate2 multiplies with on AMD) and MKL's (MKL_ENABLE_INSTRUCTIONS, on Intel: left uncapped,
// its int8 GEMM ran AVX-512 VNNI under an emulated AVX2 CPU, 13-20 % faster than capped).
const CAPS = {
  sandybridge: ['AVX', 'AVX'],
  haswell: ['AVX2', 'AVX2'],
  skylakex: ['AVX512_CORE', 'AVX512'],
  cascadelake: ['AVX512_CORE_VNNI', 'AVX512_E1'],
  icelake: ['AVX512_CORE_VNNI', 'AVX512_E1'],
  cooperlake: ['AVX512_CORE_BF16', 'AVX512_E1'],
  zen4: ['AVX512_CORE_BF16', 'AVX512_E1'],
};

/** { module, env, what }: the environment every engine of the bench runs in. */
export function emulatedCpu(module, root) {
  if (!CAPS[module]) throw new Error(`--emulate takes one of ${Object.keys(CAPS).join(', ')}, got "${module}"`);
  const [isa, mkl] = CAPS[module];
  const prebuilds = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const file = `libggml-cpu-${module}.so`;
  if (!existsSync(join(prebuilds, file))) throw new Error(`no ${file} in ${prebuilds}: npm run build:prebuild`);
  const dir = join(root, 'bench', '.cache', `emulate-${module}`);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(prebuilds)) {
    if (!f.startsWith('libggml-cpu-') || f === file) copyFileSync(join(prebuilds, f), join(dir, f));
  }
  return {
    module: `cpu-${module}`,
    env: { WHISPER_SERVE_ADDON: join(dir, 'whisper-serve.node'), ONEDNN_MAX_CPU_ISA: isa, MKL_ENABLE_INSTRUCTIONS: mkl },
    what: `${module}'s instruction sets: ours with ggml's cpu-${module} module alone, faster-whisper with ONEDNN_MAX_CPU_ISA=${isa} MKL_ENABLE_INSTRUCTIONS=${mkl} (this CPU's clocks and caches)`,
  };
}
