/**
 * Silero VAD (ONNX, as faster-whisper ships it: silero_vad_v6.onnx, MIT) → the ggml file
 * whisper.cpp's VAD reads, laid out as whisper.cpp's convert-silero-vad-to-ggml.py writes it from
 * the PyTorch model: the same tensor names and order, convolution kernels and the STFT basis in
 * f16, the rest f32, shapes reversed. The one real difference is the LSTM: ONNX stores its gates
 * in the order input, output, forget, cell, PyTorch (and whisper.cpp) input, forget, cell, output.
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { WhisperServeError } from '../errors.js';
import { encodeTensorHeader } from './ggml-format.js';
import { readOnnxGraph } from './onnx.js';
import { toFloat16, toFloat32, type TensorData } from './tensor-data.js';

const GGML_MAGIC = 0x67676d6c;
const WINDOW_SAMPLES = 512; // at 16 kHz: what the 16 kHz Silero model takes per step
const CONTEXT_SAMPLES = 64;

/** ONNX gate blocks [i, o, f, c] → PyTorch's [i, f, c, o], along the first axis of rows of `row` values. */
function reorderGates(data: Float32Array, hidden: number, row: number): Float32Array {
  const out = new Float32Array(data.length);
  [0, 2, 3, 1].forEach((from, to) => out.set(data.subarray(from * hidden * row, (from + 1) * hidden * row), to * hidden * row));
  return out;
}

export interface SileroImport {
  version: [number, number, number];
  tensors: number;
}

export function importSileroVad(onnxPath: string, outPath: string): SileroImport {
  const { weights, nodes } = readOnnxGraph(readFileSync(onnxPath), onnxPath);
  const need = (name: string): TensorData => {
    const t = weights.get(name);
    if (!t) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${onnxPath} is not a 16 kHz Silero VAD model: it has no ${name}`);
    return t;
  };
  const convs = [0, 1, 2, 3].map((i) => ({ weight: need(`encoder.conv_layers.${i}.weight`), bias: need(`encoder.conv_layers.${i}.bias`) }));
  const lstm = nodes.find((n) => n.op === 'LSTM');
  if (!lstm || lstm.inputs.length < 4) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${onnxPath} has no LSTM with weights and biases`);
  const [w, r, b] = [need(lstm.inputs[1]!), need(lstm.inputs[2]!), need(lstm.inputs[3]!)];
  const hidden = r.shape[2]!;
  const input = w.shape[2]!;
  const bias = toFloat32(b);

  // Silero's version is not in the ONNX file; its name carries it (silero_vad_v6.onnx → 6.0.0).
  const v = /v(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(basename(onnxPath));
  const version: [number, number, number] = [Number(v?.[1] ?? 0), Number(v?.[2] ?? 0), Number(v?.[3] ?? 0)];

  const modelType = Buffer.from('silero-16k');
  const header = [
    ...version,
    WINDOW_SAMPLES,
    CONTEXT_SAMPLES,
    convs.length,
    ...convs.flatMap(({ weight }) => [weight.shape[1]!, weight.shape[0]!, weight.shape[2]!]),
    input,
    hidden,
    hidden, // the final 1×1 convolution: hidden → 1
    1,
  ];
  // ggml's shape is ONNX's reversed, unless given (the squeezed 1×1 kernel).
  const f16 = (name: string, t: TensorData, ne = [...t.shape].reverse()) => ({ name, type: 'f16' as const, ne, bytes: toFloat16(t) });
  const f32 = (name: string, data: Float32Array, ne: number[]) => ({ name, type: 'f32' as const, ne, bytes: data });
  const tensors = [
    ...convs.flatMap(({ weight, bias: cb }, i) => [
      f16(`_model.encoder.${i}.reparam_conv.weight`, weight),
      f32(`_model.encoder.${i}.reparam_conv.bias`, toFloat32(cb), [cb.shape[0]!]),
    ]),
    f32('_model.decoder.rnn.weight_ih', reorderGates(toFloat32(w), hidden, input), [input, 4 * hidden]),
    f32('_model.decoder.rnn.weight_hh', reorderGates(toFloat32(r), hidden, hidden), [hidden, 4 * hidden]),
    f32('_model.decoder.rnn.bias_ih', reorderGates(bias.subarray(0, 4 * hidden), hidden, 1), [4 * hidden]),
    f32('_model.decoder.rnn.bias_hh', reorderGates(bias.subarray(4 * hidden), hidden, 1), [4 * hidden]),
    f16('_model.decoder.decoder.2.weight', need('decoder.conv1d.weight'), [hidden]),
    f32('_model.decoder.decoder.2.bias', toFloat32(need('decoder.conv1d.bias')), []),
    f16('_model.stft.forward_basis_buffer', need('encoder.feature_extractor.forward_basis_buffer')),
  ];

  const tmp = `${outPath}.partial-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    const head = Buffer.alloc(8 + modelType.length + 4 * header.length);
    head.writeUInt32LE(GGML_MAGIC, 0);
    head.writeInt32LE(modelType.length, 4);
    modelType.copy(head, 8);
    header.forEach((x, i) => head.writeInt32LE(x, 8 + modelType.length + 4 * i));
    writeSync(fd, head);
    for (const t of tensors) {
      writeSync(fd, encodeTensorHeader(t.name, t.type, t.ne));
      writeSync(fd, Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength));
    }
    closeSync(fd);
    renameSync(tmp, outPath);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  return { version, tensors: tensors.length };
}
