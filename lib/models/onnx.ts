/**
 * The weights of an ONNX model: its graph's initializers, read straight from the protobuf wire
 * format (only the few fields weights need), so importing one needs neither Python nor onnx.
 * Field numbers from onnx.proto: ModelProto.graph = 7, GraphProto.initializer = 5,
 * TensorProto.dims = 1, data_type = 2, float_data = 4, name = 8, raw_data = 9.
 */
import { WhisperServeError } from '../errors.js';
import { numel, type TensorData } from './tensor-data.js';

const FLOAT = 1;
const FLOAT16 = 10;

/** The fields of one protobuf message: field number → its values (bytes for length-delimited, numbers otherwise). */
function fields(buf: Buffer): Map<number, Array<Buffer | number>> {
  const out = new Map<number, Array<Buffer | number>>();
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const byte = buf[pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    let value: Buffer | number;
    switch (key & 7) {
      case 0:
        value = varint();
        break;
      case 1:
        value = buf.subarray(pos, (pos += 8));
        break;
      case 2: {
        const length = varint();
        if (pos + length > buf.length) throw new Error(`field ${field} runs past the end`);
        value = buf.subarray(pos, (pos += length));
        break;
      }
      case 5:
        value = buf.subarray(pos, (pos += 4));
        break;
      default:
        throw new Error(`unsupported wire type ${key & 7}`);
    }
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

/** dims: repeated int64, packed (a byte string of varints) or one varint per entry. */
function dims(values: Array<Buffer | number>): number[] {
  return values.flatMap((v) => (typeof v === 'number' ? [v] : packedVarints(v)));
}

function packedVarints(buf: Buffer): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const byte of buf) {
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) {
      out.push(value);
      value = 0;
      shift = 0;
    }
  }
  return out;
}

export interface OnnxGraph {
  /** Initializers by name, f32 or f16, in ONNX's (PyTorch's) shape. */
  weights: Map<string, TensorData>;
  /** The nodes' operators and input names (NodeProto.input = 1, op_type = 4), in graph order. */
  nodes: Array<{ op: string; inputs: string[] }>;
}

/** The model's main graph: its float weights and its nodes (subgraphs are not read). */
export function readOnnxGraph(file: Buffer, what: string): OnnxGraph {
  const tensors = new Map<string, TensorData>();
  const nodes: OnnxGraph['nodes'] = [];
  try {
    const graph = fields(file).get(7)?.[0];
    if (!(graph instanceof Buffer)) throw new Error('no graph');
    const parts = fields(graph);
    for (const raw of parts.get(1) ?? []) {
      const n = fields(raw as Buffer);
      const text = (v: Buffer | number) => (v instanceof Buffer ? v.toString('utf8') : '');
      nodes.push({ op: text(n.get(4)?.[0] ?? 0), inputs: (n.get(1) ?? []).map(text) });
    }
    for (const raw of parts.get(5) ?? []) {
      const t = fields(raw as Buffer);
      const name = (t.get(8)?.[0] as Buffer | undefined)?.toString('utf8') ?? '';
      const type = (t.get(2)?.[0] as number | undefined) ?? 0;
      const shape = dims(t.get(1) ?? []);
      const bytes = t.get(9)?.[0] as Buffer | undefined;
      if (type === FLOAT) {
        // raw_data, or float_data: packed (one byte string) or one fixed32 per value; bytes either way.
        const floats = bytes ?? Buffer.concat((t.get(4) ?? []).filter((v): v is Buffer => v instanceof Buffer));
        const data = new Float32Array(floats.length / 4);
        Buffer.from(data.buffer).set(floats);
        tensors.set(name, { dtype: 'f32', shape, data });
      } else if (type === FLOAT16 && bytes) {
        const data = new Uint16Array(bytes.length / 2);
        Buffer.from(data.buffer).set(bytes);
        tensors.set(name, { dtype: 'f16', shape, data });
      }
      // A count that disagrees with the shape would become a ggml file whisper.cpp misreads.
      const read = tensors.get(name);
      if (read && read.data.length !== numel(shape)) throw new Error(`${name} holds ${read.data.length} values for shape [${shape.join(', ')}]`);
    }
  } catch (err) {
    throw new WhisperServeError('MODEL_IMPORT_FAILED', `${what} is not an ONNX model this importer reads: ${(err as Error).message}`, { cause: err });
  }
  if (tensors.size === 0) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${what} has no float weights in its graph`);
  return { weights: tensors, nodes };
}
