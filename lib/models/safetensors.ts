/**
 * Reads safetensors checkpoints (one file, or shards listed by model.safetensors.index.json):
 * an 8-byte header length, a JSON header of { name: { dtype, shape, data_offsets } }, then
 * the data. Tensors are read on demand, never the whole file.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { WhisperServeError } from '../errors.js';
import type { TensorData } from './tensor-data.js';

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

interface Shard {
  fd: number;
  path: string;
  dataStart: number;
  entries: Map<string, Entry>;
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

function openShard(path: string): Shard {
  const fail = (why: string): never => {
    throw new WhisperServeError('MODEL_IMPORT_FAILED', `${path}: ${why}`);
  };
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const lenBuf = Buffer.alloc(8);
    if (size < 8 || readSync(fd, lenBuf, 0, 8, 0) !== 8) fail('too short for a safetensors header');
    const len = Number(lenBuf.readBigUInt64LE(0));
    if (len > 100 * 1024 * 1024 || 8 + len > size) fail('header length is past the end of the file (not safetensors, or truncated)');
    const head = Buffer.alloc(len);
    readSync(fd, head, 0, len, 8);
    let json: Record<string, Entry | Record<string, string>>;
    try {
      json = JSON.parse(head.toString('utf8')) as typeof json;
    } catch {
      return fail('the header is not JSON (not a safetensors file)');
    }
    const entries = new Map<string, Entry>();
    for (const [name, e] of Object.entries(json)) {
      if (name === '__metadata__') continue;
      const entry = e as Entry;
      if (8 + len + entry.data_offsets[1] > size) fail(`tensor ${name} ends past the end of the file (truncated)`);
      entries.set(name, entry);
    }
    return { fd, path, dataStart: 8 + len, entries };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

export class SafetensorsCheckpoint {
  private readonly shards: Shard[] = [];
  private readonly where = new Map<string, Shard>();

  constructor(readonly dir: string) {
    const index = join(dir, 'model.safetensors.index.json');
    const files = existsSync(index)
      ? [...new Set(Object.values((JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map))]
      : existsSync(join(dir, 'model.safetensors'))
        ? ['model.safetensors']
        : [];
    if (!files.length) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${dir} has no model.safetensors (nor a sharded index)`);
    try {
      for (const f of files) {
        const path = join(dir, f);
        if (!existsSync(path)) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${path} (a shard named by the index) is missing`);
        const shard = openShard(path);
        this.shards.push(shard);
        for (const name of shard.entries.keys()) this.where.set(name, shard);
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  shape(name: string): number[] {
    return this.entry(name)[1].shape;
  }

  private entry(name: string): [Shard, Entry] {
    const shard = this.where.get(name);
    if (!shard) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${this.dir}: the checkpoint has no tensor ${name}`);
    return [shard, shard.entries.get(name)!];
  }

  tensor(name: string): TensorData {
    const [shard, e] = this.entry(name);
    const width = BYTES[e.dtype];
    if (!width) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${shard.path}: tensor ${name} has dtype ${e.dtype}; F32, F16 and BF16 are supported`);
    const [from, to] = e.data_offsets;
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (to - from !== count * width) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${shard.path}: tensor ${name} has ${to - from} bytes for shape [${e.shape}]`);
    const bytes = Buffer.alloc(to - from);
    readSync(shard.fd, bytes, 0, bytes.length, shard.dataStart + from);
    if (e.dtype === 'F32') return { dtype: 'f32', shape: e.shape, data: new Float32Array(bytes.buffer, bytes.byteOffset, count) };
    const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
    if (e.dtype === 'F16') return { dtype: 'f16', shape: e.shape, data: halves };
    // bf16 is the top half of an f32
    const f32 = new Float32Array(count);
    const u32 = new Uint32Array(f32.buffer);
    for (let i = 0; i < count; i++) u32[i] = halves[i]! << 16;
    return { dtype: 'f32', shape: e.shape, data: f32 };
  }

  close(): void {
    for (const s of this.shards.splice(0)) closeSync(s.fd);
  }
}
