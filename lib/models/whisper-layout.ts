/**
 * The tensors of a whisper.cpp model: names, ggml shapes and whether they are stored as
 * weights (f16 or quantised) or always f32. One canonical order, so that every importer
 * writes the same bytes for the same weights.
 */
import type { WhisperHparams } from './ggml-format.js';

export type TensorRole = 'matrix' | 'conv' | 'f32';

export interface LayoutTensor {
  name: string;
  /** PyTorch order (outermost first): the importers' shapes. */
  shape: number[];
  role: TensorRole;
}

/** ggml stores dims innermost first, with conv biases as [1, n]. */
export function ggmlShape(t: LayoutTensor): number[] {
  if (/conv\d\.bias$/.test(t.name)) return [1, t.shape[0]!];
  return [...t.shape].reverse();
}

function attention(prefix: string, n: number): LayoutTensor[] {
  return [
    { name: `${prefix}.query.weight`, shape: [n, n], role: 'matrix' },
    { name: `${prefix}.query.bias`, shape: [n], role: 'f32' },
    { name: `${prefix}.key.weight`, shape: [n, n], role: 'matrix' },
    { name: `${prefix}.value.weight`, shape: [n, n], role: 'matrix' },
    { name: `${prefix}.value.bias`, shape: [n], role: 'f32' },
    { name: `${prefix}.out.weight`, shape: [n, n], role: 'matrix' },
    { name: `${prefix}.out.bias`, shape: [n], role: 'f32' },
  ];
}

function norm(prefix: string, n: number): LayoutTensor[] {
  return [
    { name: `${prefix}.weight`, shape: [n], role: 'f32' },
    { name: `${prefix}.bias`, shape: [n], role: 'f32' },
  ];
}

function mlp(prefix: string, n: number): LayoutTensor[] {
  return [
    ...norm(`${prefix}.mlp_ln`, n),
    { name: `${prefix}.mlp.0.weight`, shape: [4 * n, n], role: 'matrix' },
    { name: `${prefix}.mlp.0.bias`, shape: [4 * n], role: 'f32' },
    { name: `${prefix}.mlp.2.weight`, shape: [n, 4 * n], role: 'matrix' },
    { name: `${prefix}.mlp.2.bias`, shape: [n], role: 'f32' },
  ];
}

export function whisperLayout(hp: WhisperHparams): LayoutTensor[] {
  const a = hp.nAudioState;
  const t = hp.nTextState;
  const out: LayoutTensor[] = [
    { name: 'encoder.positional_embedding', shape: [hp.nAudioCtx, a], role: 'f32' },
    { name: 'encoder.conv1.weight', shape: [a, hp.nMels, 3], role: 'conv' },
    { name: 'encoder.conv1.bias', shape: [a], role: 'f32' },
    { name: 'encoder.conv2.weight', shape: [a, a, 3], role: 'conv' },
    { name: 'encoder.conv2.bias', shape: [a], role: 'f32' },
  ];
  for (let i = 0; i < hp.nAudioLayer; i++) {
    const p = `encoder.blocks.${i}`;
    out.push(...norm(`${p}.attn_ln`, a), ...attention(`${p}.attn`, a), ...mlp(p, a));
  }
  out.push(...norm('encoder.ln_post', a));
  out.push(
    { name: 'decoder.positional_embedding', shape: [hp.nTextCtx, t], role: 'f32' },
    { name: 'decoder.token_embedding.weight', shape: [hp.nVocab, t], role: 'matrix' },
  );
  for (let i = 0; i < hp.nTextLayer; i++) {
    const p = `decoder.blocks.${i}`;
    out.push(
      ...norm(`${p}.attn_ln`, t),
      ...attention(`${p}.attn`, t),
      ...norm(`${p}.cross_attn_ln`, t),
      ...attention(`${p}.cross_attn`, t),
      ...mlp(p, t),
    );
  }
  out.push(...norm('decoder.ln', t));
  return out;
}
