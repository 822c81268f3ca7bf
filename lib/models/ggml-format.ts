/**
 * The whisper.cpp ggml model file: magic, 11 int32 hyper-parameters, the mel filter bank,
 * the vocabulary, then named tensors (n_dims, name length, type, ne[n_dims], name, data).
 * The reader checks the whole structure without loading tensor data, so a truncated or
 * foreign file is refused before whisper.cpp (which would read it short, silently) sees it.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ModelLoadError } from '../errors.js';

export const GGML_MAGIC = 0x67676d6c;

export interface WhisperHparams {
  nVocab: number;
  nAudioCtx: number;
  nAudioState: number;
  nAudioHead: number;
  nAudioLayer: number;
  nTextCtx: number;
  nTextState: number;
  nTextHead: number;
  nTextLayer: number;
  nMels: number;
  /** 0 f32, 1 f16, else a quantised type + 1000 * qnt version. */
  ftype: number;
}

export const HPARAM_ORDER: ReadonlyArray<keyof WhisperHparams> = [
  'nVocab', 'nAudioCtx', 'nAudioState', 'nAudioHead', 'nAudioLayer',
  'nTextCtx', 'nTextState', 'nTextHead', 'nTextLayer', 'nMels', 'ftype',
];

/** ggml_type ids and their block layout (elements per block, bytes per block). */
export const GGML_TYPES = {
  f32: { id: 0, blck: 1, bytes: 4 },
  f16: { id: 1, blck: 1, bytes: 2 },
  q4_0: { id: 2, blck: 32, bytes: 18 },
  q4_1: { id: 3, blck: 32, bytes: 20 },
  q5_0: { id: 6, blck: 32, bytes: 22 },
  q5_1: { id: 7, blck: 32, bytes: 24 },
  q8_0: { id: 8, blck: 32, bytes: 34 },
} as const;
export type GgmlTypeName = keyof typeof GGML_TYPES;

export function ggmlTypeName(id: number): GgmlTypeName | undefined {
  return (Object.keys(GGML_TYPES) as GgmlTypeName[]).find((k) => GGML_TYPES[k].id === id);
}

export function tensorBytes(type: GgmlTypeName, ne: readonly number[]): number {
  const t = GGML_TYPES[type];
  const n = ne.reduce((a, b) => a * b, 1);
  return (n / t.blck) * t.bytes;
}

export interface MelFilters {
  nMel: number;
  nFft: number;
  data: Float32Array;
}

export interface TensorInfo {
  name: string;
  type: GgmlTypeName;
  /** ggml order: ne[0] is the innermost (fastest) dimension. */
  ne: number[];
  offset: number;
  bytes: number;
}

export interface GgmlModelFile {
  path: string;
  size: number;
  hparams: WhisperHparams;
  mel: MelFilters;
  vocab: Buffer[];
  tensors: TensorInfo[];
}

class FileCursor {
  private readonly fd: number;
  readonly size: number;
  pos = 0;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }
  bytes(n: number, what: string): Buffer {
    if (n < 0 || this.pos + n > this.size) throw new ModelLoadError(`${this.path}: file ends inside ${what} (truncated?)`);
    const buf = Buffer.allocUnsafe(n);
    readSync(this.fd, buf, 0, n, this.pos);
    this.pos += n;
    return buf;
  }
  i32(what: string): number {
    return this.bytes(4, what).readInt32LE(0);
  }
  close(): void {
    closeSync(this.fd);
  }
}

export interface ReadOptions {
  /** Stop after the vocabulary (models inspect on huge files does not need the tensor list). */
  headerOnly?: boolean;
}

export function readGgmlModel(path: string, options: ReadOptions = {}): GgmlModelFile {
  let cur: FileCursor;
  try {
    cur = new FileCursor(path);
  } catch (err) {
    throw new ModelLoadError(`cannot open model file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    if (cur.size < 4 || cur.i32('the magic') !== GGML_MAGIC) {
      throw new ModelLoadError(`${path} is not a whisper.cpp ggml model (bad magic)`);
    }
    const hp = {} as WhisperHparams;
    for (const key of HPARAM_ORDER) hp[key] = cur.i32('the hyper-parameters');
    if (hp.nMels <= 0 || hp.nMels > 256 || hp.nVocab <= 0 || hp.nAudioLayer <= 0 || hp.nTextLayer <= 0) {
      throw new ModelLoadError(`${path}: implausible hyper-parameters ${JSON.stringify(hp)}`);
    }
    const nMel = cur.i32('the mel filters');
    const nFft = cur.i32('the mel filters');
    if (nMel <= 0 || nFft <= 0 || nMel * nFft > 1 << 20) throw new ModelLoadError(`${path}: bad mel filter size ${nMel}x${nFft}`);
    const melBuf = cur.bytes(4 * nMel * nFft, 'the mel filters');
    const mel = { nMel, nFft, data: new Float32Array(melBuf.buffer, melBuf.byteOffset, nMel * nFft) };
    const nVocab = cur.i32('the vocabulary');
    if (nVocab < 0 || nVocab > hp.nVocab) throw new ModelLoadError(`${path}: vocabulary of ${nVocab} tokens for n_vocab ${hp.nVocab}`);
    const vocab: Buffer[] = [];
    for (let i = 0; i < nVocab; i++) vocab.push(cur.bytes(cur.i32('the vocabulary'), 'the vocabulary'));
    const tensors: TensorInfo[] = [];
    while (!options.headerOnly && cur.pos < cur.size) {
      const nDims = cur.i32('a tensor header');
      const nameLen = cur.i32('a tensor header');
      const typeId = cur.i32('a tensor header');
      const type = ggmlTypeName(typeId);
      if (nDims < 1 || nDims > 4 || nameLen <= 0 || nameLen > 256 || !type) {
        throw new ModelLoadError(`${path}: corrupt tensor header at byte ${cur.pos - 12} (dims ${nDims}, type ${typeId})`);
      }
      const ne: number[] = [];
      for (let d = 0; d < nDims; d++) ne.push(cur.i32('a tensor header'));
      const name = cur.bytes(nameLen, 'a tensor name').toString('utf8');
      const bytes = tensorBytes(type, ne);
      if (!Number.isInteger(bytes) || bytes <= 0) throw new ModelLoadError(`${path}: tensor ${name} has a bad shape [${ne.join(', ')}]`);
      if (cur.pos + bytes > cur.size) {
        throw new ModelLoadError(`${path}: tensor ${name} needs ${bytes} bytes but the file ends after ${cur.size - cur.pos} (truncated)`);
      }
      tensors.push({ name, type, ne, offset: cur.pos, bytes });
      cur.pos += bytes;
    }
    return { path, size: cur.size, hparams: hp, mel, vocab, tensors };
  } finally {
    cur.close();
  }
}

/** Serialises everything before the tensors. */
export function encodeGgmlHeader(hparams: WhisperHparams, mel: MelFilters, vocab: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  const i32 = (...values: number[]) => {
    const b = Buffer.allocUnsafe(4 * values.length);
    values.forEach((v, i) => b.writeInt32LE(v, 4 * i));
    parts.push(b);
  };
  i32(GGML_MAGIC, ...HPARAM_ORDER.map((k) => hparams[k]));
  i32(mel.nMel, mel.nFft);
  parts.push(Buffer.from(mel.data.buffer, mel.data.byteOffset, mel.data.byteLength));
  i32(vocab.length);
  for (const tok of vocab) {
    i32(tok.length);
    parts.push(tok);
  }
  return Buffer.concat(parts);
}

export function encodeTensorHeader(name: string, type: GgmlTypeName, ne: readonly number[]): Buffer {
  const nameBuf = Buffer.from(name, 'utf8');
  const b = Buffer.allocUnsafe(12 + 4 * ne.length);
  b.writeInt32LE(ne.length, 0);
  b.writeInt32LE(nameBuf.length, 4);
  b.writeInt32LE(GGML_TYPES[type].id, 8);
  ne.forEach((v, i) => b.writeInt32LE(v, 12 + 4 * i));
  return Buffer.concat([b, nameBuf]);
}
