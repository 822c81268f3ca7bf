/**
 * Hugging Face transformers Whisper checkpoint (config.json, model.safetensors or shards,
 * vocab.json/tokenizer.json) → whisper.cpp ggml. transformers keeps Q/K/V apart already;
 * only the names differ (and the key projection has no bias, as in ggml).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WhisperServeError } from '../errors.js';
import type { ImportOptions } from './import-ct2.js';
import { writeGgmlModel } from './ggml-writer.js';
import { melFilterBank } from './mel.js';
import { SafetensorsCheckpoint } from './safetensors.js';
import { ggmlVocab, readTokenStrings } from './vocab.js';

interface WhisperConfig {
  model_type?: string;
  vocab_size: number;
  num_mel_bins: number;
  d_model: number;
  encoder_layers: number;
  encoder_attention_heads: number;
  decoder_layers: number;
  decoder_attention_heads: number;
  max_source_positions: number;
  max_target_positions: number;
}

const BLOCK_PARTS: Record<string, string> = {
  attn_ln: 'self_attn_layer_norm',
  'attn.query': 'self_attn.q_proj',
  'attn.key': 'self_attn.k_proj',
  'attn.value': 'self_attn.v_proj',
  'attn.out': 'self_attn.out_proj',
  cross_attn_ln: 'encoder_attn_layer_norm',
  'cross_attn.query': 'encoder_attn.q_proj',
  'cross_attn.key': 'encoder_attn.k_proj',
  'cross_attn.value': 'encoder_attn.v_proj',
  'cross_attn.out': 'encoder_attn.out_proj',
  mlp_ln: 'final_layer_norm',
  'mlp.0': 'fc1',
  'mlp.2': 'fc2',
};

const FIXED: Record<string, string> = {
  'encoder.positional_embedding': 'encoder.embed_positions.weight',
  'encoder.ln_post.weight': 'encoder.layer_norm.weight',
  'encoder.ln_post.bias': 'encoder.layer_norm.bias',
  'decoder.positional_embedding': 'decoder.embed_positions.weight',
  'decoder.token_embedding.weight': 'decoder.embed_tokens.weight',
  'decoder.ln.weight': 'decoder.layer_norm.weight',
  'decoder.ln.bias': 'decoder.layer_norm.bias',
};

/** ggml tensor name → transformers name (without the `model.` prefix). */
export function hfName(ggml: string): string {
  if (FIXED[ggml]) return FIXED[ggml];
  if (/^encoder\.conv\d\./.test(ggml)) return ggml;
  const m = /^(encoder|decoder)\.blocks\.(\d+)\.(.+)\.(weight|bias)$/.exec(ggml);
  const part = m && BLOCK_PARTS[m[3]!];
  if (!m || !part) throw new WhisperServeError('MODEL_IMPORT_FAILED', `no transformers source for ${ggml}`);
  return `${m[1]}.layers.${m[2]}.${part}.${m[4]}`;
}

function readHfConfig(dir: string): WhisperConfig {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${dir} has no config.json`);
  const cfg = JSON.parse(readFileSync(path, 'utf8')) as WhisperConfig;
  if (cfg.model_type !== 'whisper') throw new WhisperServeError('MODEL_IMPORT_FAILED', `${path}: model_type is "${cfg.model_type}", not "whisper"`);
  for (const key of ['vocab_size', 'num_mel_bins', 'd_model', 'encoder_layers', 'encoder_attention_heads', 'decoder_layers', 'decoder_attention_heads', 'max_source_positions', 'max_target_positions'] as const) {
    if (!Number.isInteger(cfg[key])) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${path}: ${key} is missing`);
  }
  return cfg;
}

export function importHf(dir: string, outPath: string, options: ImportOptions = {}): void {
  const cfg = readHfConfig(dir);
  const ckpt = new SafetensorsCheckpoint(dir);
  try {
    // WhisperForConditionalGeneration prefixes `model.`; a bare WhisperModel does not.
    const prefix = ckpt.has('model.encoder.conv1.weight') ? 'model.' : '';
    const hparams = {
      nVocab: cfg.vocab_size,
      nAudioCtx: cfg.max_source_positions,
      nAudioState: cfg.d_model,
      nAudioHead: cfg.encoder_attention_heads,
      nAudioLayer: cfg.encoder_layers,
      nTextCtx: cfg.max_target_positions,
      nTextState: cfg.d_model,
      nTextHead: cfg.decoder_attention_heads,
      nTextLayer: cfg.decoder_layers,
      nMels: cfg.num_mel_bins,
    };
    writeGgmlModel(
      {
        hparams,
        mel: options.mel ?? melFilterBank(hparams.nMels),
        vocab: ggmlVocab(readTokenStrings(dir)),
        tensor: (t) => ckpt.tensor(prefix + hfName(t.name)),
      },
      outPath,
      options.type,
      options.quantize,
    );
  } finally {
    ckpt.close();
  }
}
