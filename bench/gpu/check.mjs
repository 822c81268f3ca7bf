// Real weights on the card: the batched engine's transcripts on the GPU (fused attention, and the
// softmax(QKᵀ)V fallback graphs) against the CPU's, same model file, same audio; jfk exact; the
// same text at batch 1 and 16 (slots do not leak). Prints a table, then one JSON line.
//   CHECK_CONFIG=cpu|gpu-fused|gpu-softmax CHECK_REFERENCE=<file> node bench/gpu/check.mjs <model.bin> <jfk.wav> [more.wav ...]
// One configuration per process (a native abort on the GPU ends only its own run); the CPU run
// writes its texts to CHECK_REFERENCE, the GPU runs compare with them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readPlainWav } from '../../dist/audio/decode.js';
import { Whisper } from '../../dist/whisper.js';
import { createLogger } from '../../dist/log.js';
import { readConfig } from '../../dist/config.js';
import { binding } from '../../dist/native/binding.js';
import { variantName } from '../../dist/native/variants.js';

const [model, jfkPath, ...more] = process.argv.slice(2);
const jfk = readPlainWav(jfkPath);
const join = (...parts) => {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};
// ~2 min of real speech with pauses of different lengths: several windows, cut at pauses.
const mixed = join(...[1.5, 0.6, 2.5, 0.8, 1.2, 3, 0.7, 2, 1].flatMap((gap) => [jfk, new Float32Array(Math.round(gap * 16000))]));
const audio = [['jfk', jfk], ['jfk-mixed-2min', mixed], ...more.map((p) => [p.split('/').pop(), readPlainWav(p)])];
const words = (t) => t.toLowerCase().replace(/[^a-z0-9' ]+/g, ' ').split(/\s+/).filter(Boolean);
function wer(ref, hyp) {
  const r = words(ref), h = words(hyp);
  let prev = Array.from({ length: h.length + 1 }, (_, j) => j);
  for (let i = 1; i <= r.length; i++) {
    const cur = [i];
    for (let j = 1; j <= h.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r[i - 1] === h[j - 1] ? 0 : 1));
    prev = cur;
  }
  return r.length ? prev[h.length] / r.length : h.length;
}

const configs = {
  cpu: { name: 'CPU', gpu: false },
  'gpu-fused': { name: 'GPU fused attention', gpu: true },
  'gpu-softmax': { name: 'GPU softmax attention', gpu: true, flashAttn: false },
};
const rows = [];
const reference = process.env.CHECK_REFERENCE;
const cpuText = reference && existsSync(reference) ? JSON.parse(readFileSync(reference, 'utf8')) : {};
for (const c of (process.env.CHECK_CONFIG ?? 'cpu,gpu-fused,gpu-softmax').split(',').map((k) => configs[k])) {
  const lines = [];
  const logger = createLogger({ level: 'info', format: 'json', write: (l) => lines.push(l) });
  const t0 = performance.now();
  let whisper;
  try {
    whisper = await Whisper.load(model, { config: readConfig(), gpu: c.gpu, flashAttn: c.flashAttn, logger });
  } catch (err) {
    rows.push({ config: c.name, error: String(err) });
    continue;
  }
  const load = (performance.now() - t0) / 1000;
  // The engine's backend, and which ggml modules ran it (the prebuild: cpu-… + cuda).
  const engine = `${lines.map((l) => JSON.parse(l)).find((l) => l.engine)?.engine} [${variantName(binding().systemInfo())}]`;
  for (const [name, pcm] of audio) {
    for (const batchSize of name === 'jfk-mixed-2min' ? [1, 16] : [undefined]) {
      const t1 = performance.now();
      try {
        const t = await whisper.transcribe(pcm, { batchSize });
        const seconds = (performance.now() - t1) / 1000;
        if (c.name === 'CPU' && !batchSize) cpuText[name] = t.text;
        if (c.name === 'CPU' && batchSize === 1) cpuText[name] = t.text;
        rows.push({ config: c.name, engine, load_seconds: load, audio: name, audio_seconds: pcm.length / 16000, batch: batchSize ?? whisper.batch.batchSize, seconds, wer_vs_cpu: cpuText[name] === undefined ? null : wer(cpuText[name], t.text), text: t.text.slice(0, 160) });
      } catch (err) {
        rows.push({ config: c.name, engine, audio: name, batch: batchSize, error: String(err) });
      }
    }
  }
  whisper.dispose();
}
if (reference) writeFileSync(reference, JSON.stringify(cpuText));
for (const r of rows) console.log(`| ${r.config} | ${r.engine ?? ''} | ${r.audio ?? ''} | ${r.batch ?? ''} | ${r.seconds?.toFixed(2) ?? r.error} | ${r.wer_vs_cpu == null ? '' : (100 * r.wer_vs_cpu).toFixed(1) + ' %'} | ${r.text ?? ''} |`);
console.log(JSON.stringify(rows));
