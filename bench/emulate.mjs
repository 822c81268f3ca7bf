// `npm run bench -- --emulate <module>`: an older x86-64 CPU's instruction sets on this one, for
// the CPUs this project's machines are not (Ice Lake and Cascade Lake Xeons: AVX-512 and VNNI
// without BF16; Haswell to Zen 3: AVX2). Ours runs the prebuild with only ggml's module for that
// CPU beside it: the addon takes its kernels from what the loaded module was built for
// (native/backends.cc), so it makes the choices it would make there. faster-whisper's products
// (oneDNN here: CTranslate2 picks it, with its own AVX2 kernels, on AMD) are capped to the same
// instruction sets. Not that CPU's clocks, caches or memory: ratios only, and named as emulated.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

// ggml's module → oneDNN's cap for the same instruction sets (ONEDNN_MAX_CPU_ISA).
const ONEDNN_ISA = {
  haswell: 'AVX2',
  skylakex: 'AVX512_CORE',
  cascadelake: 'AVX512_CORE_VNNI',
  icelake: 'AVX512_CORE_VNNI',
  cooperlake: 'AVX512_CORE_BF16',
  zen4: 'AVX512_CORE_BF16',
};

/** { module, env, what }: the environment every engine of the bench runs in. */
export function emulatedCpu(module, root) {
  const isa = ONEDNN_ISA[module];
  if (!isa) throw new Error(`--emulate takes one of ${Object.keys(ONEDNN_ISA).join(', ')}, got "${module}"`);
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
    env: { WHISPER_SERVE_ADDON: join(dir, 'whisper-serve.node'), ONEDNN_MAX_CPU_ISA: isa },
    what: `${module}'s instruction sets: ours with ggml's cpu-${module} module alone, faster-whisper with ONEDNN_MAX_CPU_ISA=${isa} (this CPU's clocks and caches)`,
  };
}
