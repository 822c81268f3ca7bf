/**
 * CTranslate2 (faster-whisper) Whisper directory → whisper.cpp ggml.
 * CTranslate2 fuses self-attention Q/K/V and cross-attention K/V into single projections;
 * ggml keeps them apart. Whisper's key projections have no bias (CTranslate2 stores zeros).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { WhisperServeError } from '../errors.js';
import type { MelFilters } from './ggml-format.js';
import { Ct2Model } from './ct2.js';
import { writeGgmlModel, type GgmlModelSource, type OutputType, type Quantizer } from './ggml-writer.js';
import { melFilterBank } from './mel.js';
import { sliceRows, type TensorData } from './tensor-data.js';
import { ggmlVocab, readTokenStrings } from './vocab.js';
import type { LayoutTensor } from './whisper-layout.js';

export interface ImportOptions {
  type?: OutputType;
  /** Mel filters to use instead of computing them (e.g. read from an existing ggml file). */
  mel?: MelFilters;
  quantize?: Quantizer;
}

function countLayers(model: Ct2Model, prefix: string): number {
  let n = 0;
  while (model.has(`${prefix}/layer_${n}/ffn/linear_0/weight`)) n++;
  return n;
}

/** Maps a ggml tensor name to where its data lives in the CTranslate2 spec. */
function ct2Tensor(model: Ct2Model, name: string, state: (side: 'encoder' | 'decoder') => number): TensorData {
  const fused = (path: string, part: number, of: number, side: 'encoder' | 'decoder') => {
    const n = state(side);
    const t = model.tensor(path);
    if (t.shape[0] !== n * of) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${path} has ${t.shape[0]} rows, expected ${n * of}`);
    return sliceRows(t, part * n, (part + 1) * n);
  };
  const fixed: Record<string, string> = {
    'encoder.positional_embedding': 'encoder/position_encodings/encodings',
    'encoder.conv1.weight': 'encoder/conv1/weight',
    'encoder.conv1.bias': 'encoder/conv1/bias',
    'encoder.conv2.weight': 'encoder/conv2/weight',
    'encoder.conv2.bias': 'encoder/conv2/bias',
    'encoder.ln_post.weight': 'encoder/layer_norm/gamma',
    'encoder.ln_post.bias': 'encoder/layer_norm/beta',
    'decoder.positional_embedding': 'decoder/position_encodings/encodings',
    'decoder.token_embedding.weight': 'decoder/embeddings/weight',
    'decoder.ln.weight': 'decoder/layer_norm/gamma',
    'decoder.ln.bias': 'decoder/layer_norm/beta',
  };
  if (fixed[name]) return model.tensor(fixed[name]);
  const m = /^(encoder|decoder)\.blocks\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m) throw new WhisperServeError('MODEL_IMPORT_FAILED', `no CTranslate2 source for ${name}`);
  const side = m[1] as 'encoder' | 'decoder';
  const layer = `${side}/layer_${m[2]}`;
  const part = m[3]!;
  const wb = m[4]!;
  const ln = wb === 'weight' ? 'gamma' : 'beta';
  const self = `${layer}/self_attention`;
  const cross = `${layer}/attention`;
  switch (part) {
    case 'attn_ln': return model.tensor(`${self}/layer_norm/${ln}`);
    case 'attn.query': return fused(`${self}/linear_0/${wb}`, 0, 3, side);
    case 'attn.key': return fused(`${self}/linear_0/${wb}`, 1, 3, side);
    case 'attn.value': return fused(`${self}/linear_0/${wb}`, 2, 3, side);
    case 'attn.out': return model.tensor(`${self}/linear_1/${wb}`);
    case 'cross_attn_ln': return model.tensor(`${cross}/layer_norm/${ln}`);
    case 'cross_attn.query': return model.tensor(`${cross}/linear_0/${wb}`);
    case 'cross_attn.key': return fused(`${cross}/linear_1/${wb}`, 0, 2, side);
    case 'cross_attn.value': return fused(`${cross}/linear_1/${wb}`, 1, 2, side);
    case 'cross_attn.out': return model.tensor(`${cross}/linear_2/${wb}`);
    case 'mlp_ln': return model.tensor(`${layer}/ffn/layer_norm/${ln}`);
    case 'mlp.0': return model.tensor(`${layer}/ffn/linear_0/${wb}`);
    case 'mlp.2': return model.tensor(`${layer}/ffn/linear_1/${wb}`);
    default: throw new WhisperServeError('MODEL_IMPORT_FAILED', `no CTranslate2 source for ${name}`);
  }
}

/** The CTranslate2 model as a ggml source (tensors read on demand); close() when done. */
export function openCt2Source(dir: string, mel?: MelFilters): GgmlModelSource & { close(): void } {
  const bin = join(dir, 'model.bin');
  if (!existsSync(bin)) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${dir} has no model.bin (not a CTranslate2 model)`);
  const model = new Ct2Model(bin);
  try {
    if (model.specName !== 'WhisperSpec') {
      throw new WhisperServeError('MODEL_IMPORT_FAILED', `${bin} is a ${model.specName}, not a Whisper model`);
    }
    const conv1 = model.variable('encoder/conv1/weight').shape;
    const embed = model.variable('decoder/embeddings/weight').shape;
    const hparams = {
      nVocab: embed[0]!,
      nAudioCtx: model.variable('encoder/position_encodings/encodings').shape[0]!,
      nAudioState: conv1[0]!,
      nAudioHead: model.scalar('encoder/num_heads'),
      nAudioLayer: countLayers(model, 'encoder'),
      nTextCtx: model.variable('decoder/position_encodings/encodings').shape[0]!,
      nTextState: embed[1]!,
      nTextHead: model.scalar('decoder/num_heads'),
      nTextLayer: countLayers(model, 'decoder'),
      nMels: conv1[1]!,
    };
    const state = (side: 'encoder' | 'decoder') => (side === 'encoder' ? hparams.nAudioState : hparams.nTextState);
    return {
      hparams,
      mel: mel ?? melFilterBank(hparams.nMels),
      vocab: ggmlVocab(readTokenStrings(dir)),
      tensor: (t: LayoutTensor) => ct2Tensor(model, t.name, state),
      close: () => model.close(),
    };
  } catch (err) {
    model.close();
    throw err;
  }
}

export function importCt2(dir: string, outPath: string, options: ImportOptions = {}): void {
  const source = openCt2Source(dir, options.mel);
  try {
    writeGgmlModel(source, outPath, options.type, options.quantize);
  } finally {
    source.close();
  }
}
