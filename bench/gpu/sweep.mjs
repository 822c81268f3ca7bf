// The addon on ~1.5 h of speech at each MODEL_BATCH_SIZE, one process per size (so each cold
// start is real), with every 30 s window forced to the same number of decoded tokens as the
// HF run (EOT suppressed, max tokens per segment). Peak VRAM is sampled with nvidia-smi.
//   node bench/gpu/sweep.mjs <model.bin> <jfk.wav> <tokens> <sizes comma-separated> <out.json>
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [model, wav, tokens, sizes, out] = process.argv.slice(2);
const once = fileURLToPath(new URL('./addon-once.mjs', import.meta.url));
// NaN without nvidia-smi (a smoke run with BENCH_GPU=off): peak VRAM is then reported as null.
const vramUsedMiB = () => {
  const r = spawnSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.split('\n')[0]) : NaN;
};

const results = [];
for (const size of sizes.split(',').map(Number)) {
  const base = vramUsedMiB();
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, vramUsedMiB())), 200);
  const child = spawn(process.execPath, [once, model, wav, tokens], { env: { ...process.env, MODEL_BATCH_SIZE: String(size) }, stdio: ['ignore', 'pipe', 'inherit'] });
  // BENCH_RUN_TIMEOUT (s): a run that outlasts it is reported as such, and the sweep goes on.
  const limit = Number(process.env.BENCH_RUN_TIMEOUT ?? 0);
  const killer = limit > 0 ? setTimeout(() => child.kill('SIGKILL'), limit * 1000) : undefined;
  let stdout = '';
  child.stdout.on('data', (c) => (stdout += c));
  const code = await new Promise((r) => child.on('exit', r));
  clearInterval(sampler);
  clearTimeout(killer);
  const r = code === 0 ? JSON.parse(stdout) : { error: `exit ${code}` };
  results.push({ batch_size: size, ...r, peak_vram_mib: Number.isNaN(base) ? null : peak - base });
  console.error(`[gpu bench] addon MODEL_BATCH_SIZE=${size}: ${JSON.stringify(results.at(-1))}`);
}
writeFileSync(out, JSON.stringify(results, null, 2));
