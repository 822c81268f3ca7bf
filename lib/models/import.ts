/**
 * A model directory of either kind → ggml: CTranslate2 (model.bin) or transformers (safetensors);
 * or a Silero VAD .onnx file → whisper.cpp's VAD ggml.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { WhisperServeError } from '../errors.js';
import { binding } from '../native/binding.js';
import type { Quantizer } from './ggml-writer.js';
import { importCt2, type ImportOptions } from './import-ct2.js';
import { importHf } from './import-hf.js';
import { importSileroVad } from './import-silero.js';

export type ModelFormat = 'ctranslate2' | 'transformers' | 'silero-vad';

export function detectModelFormat(dir: string): ModelFormat {
  if (!existsSync(dir)) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${dir}: no such file or directory`);
  if (dir.endsWith('.onnx')) return 'silero-vad';
  if (existsSync(join(dir, 'model.bin'))) return 'ctranslate2';
  if (existsSync(join(dir, 'model.safetensors')) || existsSync(join(dir, 'model.safetensors.index.json'))) return 'transformers';
  if (existsSync(join(dir, 'pytorch_model.bin'))) {
    throw new WhisperServeError('MODEL_IMPORT_FAILED', `${dir} holds a pickled pytorch_model.bin; save it as safetensors (model.save_pretrained(dir, safe_serialization=True))`);
  }
  throw new WhisperServeError('MODEL_IMPORT_FAILED', `${dir} has neither model.bin (CTranslate2) nor model.safetensors (transformers)`);
}

/** whisper.cpp's own quantiser, through the addon. */
export const nativeQuantizer: Quantizer = (type, data, nPerRow) => binding().quantize(type, data, nPerRow);

export function importModel(dir: string, outPath: string, options: Omit<ImportOptions, 'quantize'> = {}): ModelFormat {
  const format = detectModelFormat(dir);
  try {
    mkdirSync(dirname(resolve(outPath)), { recursive: true }); // `-o models/ggml-small.bin` in a project without models/
    if (format === 'silero-vad') {
      importSileroVad(dir, outPath);
      return format;
    }
    const withQuantizer = { ...options, ...(options.type && /^q/.test(options.type) && { quantize: nativeQuantizer }) };
    (format === 'ctranslate2' ? importCt2 : importHf)(dir, outPath, withQuantizer);
    return format;
  } catch (err) {
    // A file system error (no room, no rights) is the import's failure, not a transcription's.
    if (err instanceof WhisperServeError) throw err;
    throw new WhisperServeError('MODEL_IMPORT_FAILED', `cannot write ${outPath}: ${(err as Error).message}`, { cause: err });
  }
}
