// A Hugging Face transformers checkpoint of the tiny.en test weights: the CTranslate2 tensors
// under transformers' names, with its config.json and tokenizer.json (as `save_pretrained` writes).
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCt2Source } from '../../lib/models/import-ct2.js';
import { hfName } from '../../lib/models/import-hf.js';
import type { TensorData } from '../../lib/models/tensor-data.js';
import { whisperLayout } from '../../lib/models/whisper-layout.js';
import { writeSafetensors } from './safetensors.js';

/** Writes config.json and tokenizer.json into each of `dirs`; returns the tensors by transformers' name. */
export function hfCheckpoint(ct2: string, dirs: string[]): Map<string, TensorData> {
  const src = openCt2Source(ct2);
  const tensors = new Map<string, TensorData>();
  try {
    for (const t of whisperLayout({ ...src.hparams, ftype: 1 })) tensors.set(`model.${hfName(t.name)}`, src.tensor(t));
  } finally {
    src.close();
  }
  const h = src.hparams;
  const config = {
    model_type: 'whisper',
    architectures: ['WhisperForConditionalGeneration'],
    vocab_size: h.nVocab,
    num_mel_bins: h.nMels,
    d_model: h.nAudioState,
    encoder_layers: h.nAudioLayer,
    encoder_attention_heads: h.nAudioHead,
    decoder_layers: h.nTextLayer,
    decoder_attention_heads: h.nTextHead,
    max_source_positions: h.nAudioCtx,
    max_target_positions: h.nTextCtx,
  };
  for (const d of dirs) {
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'config.json'), JSON.stringify(config));
    copyFileSync(join(ct2, 'tokenizer.json'), join(d, 'tokenizer.json'));
  }
  return tensors;
}

/** One-file checkpoint in `dir`. */
export function writeHfCheckpoint(ct2: string, dir: string): void {
  writeSafetensors(join(dir, 'model.safetensors'), hfCheckpoint(ct2, [dir]));
}
