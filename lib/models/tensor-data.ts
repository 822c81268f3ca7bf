/**
 * Tensor payloads as importers produce them (f32, f16 bits, or int8 with per-row scales)
 * and the conversions the ggml writer needs. Pure arithmetic; no I/O.
 */
export type TensorData =
  | { dtype: 'f32'; shape: number[]; data: Float32Array }
  | { dtype: 'f16'; shape: number[]; data: Uint16Array };

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half → float. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float → IEEE half, round to nearest even (what numpy's astype(float16) does). */
export function floatToHalf(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1))) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

export function toFloat32(t: TensorData): Float32Array {
  if (t.dtype === 'f32') return t.data;
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = halfToFloat(t.data[i]!);
  return out;
}

export function toFloat16(t: TensorData): Uint16Array {
  if (t.dtype === 'f16') return t.data;
  const out = new Uint16Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = floatToHalf(t.data[i]!);
  return out;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Rows [from, to) of the first dimension: how fused Q/K/V projections are split apart. */
export function sliceRows(t: TensorData, from: number, to: number): TensorData {
  const rowSize = numel(t.shape.slice(1));
  const shape = [to - from, ...t.shape.slice(1)];
  return t.dtype === 'f32'
    ? { dtype: 'f32', shape, data: t.data.subarray(from * rowSize, to * rowSize) }
    : { dtype: 'f16', shape, data: t.data.subarray(from * rowSize, to * rowSize) };
}

/** int8 weights with one float scale per row (CTranslate2's int8 quantisation) → f32. */
export function dequantizeInt8Rows(data: Int8Array, scales: Float32Array, shape: number[]): TensorData {
  const rows = shape[0]!;
  const rowSize = numel(shape.slice(1));
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    const s = scales[r]!;
    for (let c = 0; c < rowSize; c++) out[r * rowSize + c] = data[r * rowSize + c]! / s;
  }
  return { dtype: 'f32', shape, data: out };
}
