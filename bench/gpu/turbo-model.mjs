// A ggml model with large-v3-turbo's exact shapes (128 mels, 32 encoder layers, 4 decoder layers,
// 1280 wide, 51866 tokens) and synthetic weights: the GPU benchmark compares compute, not words,
// since no real large weights can reach the benchmark machine.
//   node bench/gpu/turbo-model.mjs <out.bin>
import { melFilterBank } from '../../dist/models/mel.js';
import { writeGgmlModel } from '../../dist/models/ggml-writer.js';
import { floatToHalf } from '../../dist/models/tensor-data.js';

const out = process.argv[2] ?? 'ggml-turbo-shaped.bin';
const hparams = { nVocab: 51866, nAudioCtx: 1500, nAudioState: 1280, nAudioHead: 20, nAudioLayer: 32, nTextCtx: 448, nTextState: 1280, nTextHead: 20, nTextLayer: 4, nMels: 128 };

// A fixed pool of small f16 values, drawn by a seeded generator: fast to fill 800 M weights.
let seed = 42;
const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
const pool = Uint16Array.from({ length: 65536 }, () => floatToHalf((rand() - 0.5) * 0.04));
const ONE = floatToHalf(1);

function tensor(t) {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const data = new Uint16Array(n);
  if (/ln.*\.weight$|_ln\.weight$/.test(t.name)) data.fill(ONE);
  else if (!/\.bias$/.test(t.name)) for (let i = 0; i < n; i++) data[i] = pool[(i * 2654435761) & 0xffff];
  return { dtype: 'f16', shape: t.shape, data };
}

// Token strings only name tokens in the output text; whisper.cpp adds the special tokens itself.
const vocab = Array.from({ length: 50257 }, (_, i) => Buffer.from(` w${i}`));
const t0 = performance.now();
writeGgmlModel({ hparams, mel: melFilterBank(128), vocab, tensor }, out, 'f16');
console.error(`wrote ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
