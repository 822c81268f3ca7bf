/**
 * Reads a CTranslate2 model.bin (the faster-whisper format): a header, then named variables
 * (rank, dims, dtype, bytes, data), then aliases. Variables are indexed, not loaded: data is
 * read on demand so multi-GB models do not sit in memory twice.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { WhisperServeError } from '../errors.js';
import { dequantizeInt8Rows, type TensorData } from './tensor-data.js';

// CTranslate2 DataType enum
const CT2_DTYPES: Record<number, { name: string; bytes: number }> = {
  0: { name: 'float32', bytes: 4 },
  1: { name: 'int8', bytes: 1 },
  2: { name: 'int16', bytes: 2 },
  3: { name: 'int32', bytes: 4 },
  4: { name: 'float16', bytes: 2 },
  5: { name: 'bfloat16', bytes: 2 },
};

export interface Ct2Variable {
  name: string;
  shape: number[];
  dtype: string;
  offset: number;
  bytes: number;
}

export class Ct2Model {
  readonly specName: string;
  readonly binaryVersion: number;
  private readonly vars = new Map<string, Ct2Variable>();
  private readonly fd: number;

  constructor(readonly path: string) {
    const fail = (why: string): never => {
      throw new WhisperServeError('MODEL_IMPORT_FAILED', `${path}: ${why}`);
    };
    this.fd = openSync(path, 'r');
    const size = fstatSync(this.fd).size;
    let pos = 0;
    const read = (n: number, what: string): Buffer => {
      if (pos + n > size) fail(`file ends inside ${what} (truncated?)`);
      const b = Buffer.allocUnsafe(n);
      readSync(this.fd, b, 0, n, pos);
      pos += n;
      return b;
    };
    const u32 = (what: string) => read(4, what).readUInt32LE(0);
    const str = (what: string) => {
      const s = read(read(2, what).readUInt16LE(0), what).toString('utf8');
      return s.endsWith('\0') ? s.slice(0, -1) : s;
    };
    this.binaryVersion = u32('the header');
    if (this.binaryVersion < 3 || this.binaryVersion > 6) fail(`unsupported CTranslate2 binary version ${this.binaryVersion}`);
    this.specName = str('the spec name');
    u32('the spec revision');
    const count = u32('the variable count');
    for (let i = 0; i < count; i++) {
      const name = str('a variable name');
      const rank = read(1, 'a variable header')[0]!;
      const shape: number[] = [];
      for (let d = 0; d < rank; d++) shape.push(u32('a variable shape'));
      const dtypeId = read(1, 'a variable header')[0]!;
      const dtype = CT2_DTYPES[dtypeId];
      if (!dtype) fail(`variable ${name} has unknown dtype ${dtypeId}`);
      const bytes = u32('a variable size');
      const expected = shape.reduce((a, b) => a * b, 1) * dtype!.bytes;
      if (bytes !== expected) fail(`variable ${name} holds ${bytes} bytes, its shape needs ${expected}`);
      this.vars.set(name, { name, shape, dtype: dtype!.name, offset: pos, bytes });
      if (pos + bytes > size) fail(`variable ${name} is cut off (truncated file)`);
      pos += bytes;
    }
    if (pos + 4 <= size) {
      const aliases = u32('the alias count');
      for (let i = 0; i < aliases; i++) {
        const alias = str('an alias');
        const target = str('an alias');
        const v = this.vars.get(target);
        if (v) this.vars.set(alias, { ...v, name: alias });
      }
    }
  }

  has(name: string): boolean {
    return this.vars.has(name);
  }

  variable(name: string): Ct2Variable {
    const v = this.vars.get(name);
    if (!v) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${this.path}: variable ${name} is missing`);
    return v;
  }

  names(): string[] {
    return [...this.vars.keys()];
  }

  private raw(v: Ct2Variable): Buffer {
    const b = Buffer.allocUnsafe(v.bytes);
    readSync(this.fd, b, 0, v.bytes, v.offset);
    return b;
  }

  scalar(name: string): number {
    const v = this.variable(name);
    const b = this.raw(v);
    switch (v.dtype) {
      case 'int8': return b.readInt8(0);
      case 'int16': return b.readInt16LE(0);
      case 'int32': return b.readInt32LE(0);
      case 'float32': return b.readFloatLE(0);
      default: throw new WhisperServeError('MODEL_IMPORT_FAILED', `${name}: cannot read a ${v.dtype} scalar`);
    }
  }

  /** A float tensor; int8 weights are dequantised with their `<name>_scale` companion. */
  tensor(name: string): TensorData {
    const v = this.variable(name);
    const b = this.raw(v);
    const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
    switch (v.dtype) {
      case 'float32': return { dtype: 'f32', shape: v.shape, data: new Float32Array(ab) };
      case 'float16': return { dtype: 'f16', shape: v.shape, data: new Uint16Array(ab) };
      case 'bfloat16': {
        const bits = new Uint16Array(ab);
        const out = new Uint32Array(bits.length);
        for (let i = 0; i < bits.length; i++) out[i] = bits[i]! << 16;
        return { dtype: 'f32', shape: v.shape, data: new Float32Array(out.buffer) };
      }
      case 'int8': {
        const scale = this.tensor(`${name.replace(/\/weight$/, '')}/weight_scale`);
        if (scale.dtype !== 'f32') throw new WhisperServeError('MODEL_IMPORT_FAILED', `${name}: unexpected scale dtype`);
        return dequantizeInt8Rows(new Int8Array(ab), scale.data, v.shape);
      }
      default:
        throw new WhisperServeError('MODEL_IMPORT_FAILED', `${name}: ${v.dtype} tensors are not supported`);
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
