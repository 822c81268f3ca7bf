// Writes a safetensors file the way the `safetensors` library does: u64 header length, JSON header
// (padded with spaces to 8 bytes), then the tensors' bytes in header order.
import { writeFileSync } from 'node:fs';
import type { TensorData } from '../../lib/models/tensor-data.js';

export function writeSafetensors(path: string, tensors: Map<string, TensorData>): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype === 'f32' ? 'F32' : 'F16', shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(path, Buffer.concat([len, Buffer.from(json), ...chunks]));
}
