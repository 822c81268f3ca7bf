/**
 * Writes a whisper.cpp ggml model from any importer's tensors. Output goes to a temp file
 * beside the target and is renamed at the end: a failed import leaves nothing half-written.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { WhisperServeError } from '../errors.js';
import { encodeGgmlHeader, encodeTensorHeader, type GgmlTypeName, type MelFilters, type WhisperHparams } from './ggml-format.js';
import { numel, toFloat16, toFloat32, type TensorData } from './tensor-data.js';
import { ggmlShape, whisperLayout, type LayoutTensor } from './whisper-layout.js';

export type OutputType = 'f32' | 'f16' | 'q8_0' | 'q5_0' | 'q5_1' | 'q4_0' | 'q4_1';

/** whisper.cpp's file ftype per output type (GGML_FTYPE_*; quantised ones carry qnt version 2). */
const FTYPE: Record<OutputType, number> = { f32: 0, f16: 1, q4_0: 2002, q4_1: 2003, q8_0: 2007, q5_0: 2008, q5_1: 2009 };

export type QuantType = Exclude<OutputType, 'f32' | 'f16'>;

/** Quantises rows of f32 into a ggml block type; provided by the native addon. */
export type Quantizer = (type: QuantType, data: Float32Array, nPerRow: number) => Buffer;

export interface GgmlModelSource {
  hparams: Omit<WhisperHparams, 'ftype'>;
  mel: MelFilters;
  vocab: Buffer[];
  /** Returns the tensor in PyTorch shape (`layout.shape`). */
  tensor(layout: LayoutTensor): TensorData;
}

function encodeTensor(t: LayoutTensor, data: TensorData, type: OutputType, quantize?: Quantizer): { type: GgmlTypeName; bytes: Buffer } {
  const asBuffer = (a: Float32Array | Uint16Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (t.role === 'f32' || type === 'f32') return { type: 'f32', bytes: asBuffer(toFloat32(data)) };
  // whisper.cpp quantises 2-D matrices only; conv kernels stay f16 (as its quantize tool does)
  if (type === 'f16' || t.role === 'conv') return { type: 'f16', bytes: asBuffer(toFloat16(data)) };
  if (!quantize) throw new WhisperServeError('MODEL_IMPORT_FAILED', `quantising to ${type} needs the native addon`);
  return { type, bytes: quantize(type, toFloat32(data), t.shape[t.shape.length - 1]!) };
}

export function writeGgmlModel(source: GgmlModelSource, outPath: string, type: OutputType = 'f16', quantize?: Quantizer): void {
  const hparams: WhisperHparams = { ...source.hparams, ftype: FTYPE[type] };
  const tmp = `${outPath}.partial-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, encodeGgmlHeader(hparams, source.mel, source.vocab));
    for (const t of whisperLayout(hparams)) {
      const data = source.tensor(t);
      if (numel(data.shape) !== numel(t.shape) || data.shape.join() !== t.shape.join()) {
        throw new WhisperServeError(
          'MODEL_IMPORT_FAILED',
          `tensor ${t.name} has shape [${data.shape.join(', ')}], expected [${t.shape.join(', ')}]`,
        );
      }
      const enc = encodeTensor(t, data, type, quantize);
      writeSync(fd, encodeTensorHeader(t.name, enc.type, ggmlShape(t)));
      writeSync(fd, enc.bytes);
    }
    closeSync(fd);
    renameSync(tmp, outPath);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { force: true });
    throw err;
  }
}
