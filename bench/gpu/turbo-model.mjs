// A ggml model with large-v3-turbo's exact shapes (128 mels, 32 encoder layers, 4 decoder layers,
// 1280 wide, 51866 tokens) and synthetic weights: the GPU benchmark compares compute, not words,
// since no real large weights can reach the benchmark machine.
//   node bench/gpu/turbo-model.mjs <out.bin> <vocabulary from: a multilingual ggml file, e.g. for-tests-ggml-large.bin>
import { readGgmlModel } from '../../dist/models/ggml-format.js';
import { melFilterBank } from '../../dist/models/mel.js';
import { writeGgmlModel } from '../../dist/models/ggml-writer.js';
import { floatToHalf } from '../../dist/models/tensor-data.js';

const [out = 'ggml-turbo-shaped.bin', vocabFrom] = process.argv.slice(2);
if (!vocabFrom) throw new Error('give a multilingual ggml file to take the vocabulary from (whisper.cpp looks up " ", " -", … by text)');
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

// A real vocabulary: whisper.cpp looks some tokens up by their text (blank and non-speech
// suppression); it adds the special tokens past the file's list itself.
const vocab = readGgmlModel(vocabFrom, { headerOnly: true }).vocab;
const t0 = performance.now();
writeGgmlModel({ hparams, mel: melFilterBank(128), vocab, tensor }, out, 'f16');
console.error(`wrote ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
