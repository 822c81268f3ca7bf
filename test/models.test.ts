// The CTranslate2 importer on the real tiny.en weights, checked against whisper.cpp's own
// tiny.en test model (same hyper-parameters, mel filters and vocabulary).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readGgmlModel } from '../lib/models/ggml-format.js';
import { importCt2 } from '../lib/models/import-ct2.js';
import { melFilterBank } from '../lib/models/mel.js';
import { floatToHalf, halfToFloat } from '../lib/models/tensor-data.js';
import { TEST_MODEL, TINY_EN, TINY_EN_CT2, have } from './helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'ws-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('f16 conversion', () => {
  it('round-trips halves and rounds to nearest even', () => {
    for (const h of [0x0000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x3555]) expect(floatToHalf(halfToFloat(h))).toBe(h);
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(floatToHalf(1e6)).toBe(0x7c00);
  });
});

describe.skipIf(!have(TEST_MODEL('tiny.en')))('mel filters', () => {
  it('match the filter bank stored in whisper.cpp models', () => {
    const ref = readGgmlModel(TEST_MODEL('tiny.en'), { headerOnly: true }).mel;
    const ours = melFilterBank(80);
    expect([ours.nMel, ours.nFft]).toEqual([ref.nMel, ref.nFft]);
    let max = 0;
    for (let i = 0; i < ref.data.length; i++) max = Math.max(max, Math.abs(ref.data[i]! - ours.data[i]!));
    expect(max).toBeLessThan(1e-7);
  });
});

describe.skipIf(!have(TINY_EN_CT2, TEST_MODEL('tiny.en')))('CTranslate2 import of tiny.en', () => {
  const out = join(dir, 'tiny.en.bin');

  it('writes a complete model whose header matches whisper.cpp tiny.en', () => {
    importCt2(TINY_EN_CT2, out);
    const ours = readGgmlModel(out);
    const ref = readGgmlModel(TEST_MODEL('tiny.en'), { headerOnly: true });
    expect(ours.hparams).toEqual(ref.hparams);
    expect(ours.tensors).toHaveLength(5 + 4 * 15 + 2 + 2 + 4 * 24 + 2); // every tensor whisper.cpp creates for tiny
    expect(ours.vocab).toHaveLength(ref.vocab.length);
    // The reference stored tokens that are not valid UTF-8 on their own with U+FFFD in place
    // of the partial characters; we keep the raw bytes (so split characters rejoin). Equal
    // once ours are decoded the same lossy way:
    let raw = 0;
    for (let i = 0; i < ref.vocab.length; i++) {
      if (ours.vocab[i]!.equals(ref.vocab[i]!)) continue;
      raw++;
      expect(Buffer.from(ours.vocab[i]!.toString('utf8')).equals(ref.vocab[i]!)).toBe(true);
    }
    expect(raw).toBeLessThan(1000);
    const byName = new Map(ours.tensors.map((t) => [t.name, t]));
    expect(byName.get('encoder.conv1.weight')).toMatchObject({ type: 'f16', ne: [3, 80, 384] });
    expect(byName.get('encoder.conv1.bias')).toMatchObject({ type: 'f32', ne: [1, 384] });
    expect(byName.get('decoder.blocks.0.cross_attn.key.weight')).toMatchObject({ type: 'f16', ne: [384, 384] });
    expect(byName.get('encoder.positional_embedding')).toMatchObject({ type: 'f32', ne: [384, 1500] });
  });

  it.skipIf(!have(TINY_EN))('is byte-identical to the models:test-weights output (deterministic)', () => {
    expect(readFileSync(out).equals(readFileSync(TINY_EN))).toBe(true);
  });

  it('refuses a directory without model.bin, and a truncated model.bin, leaving no output', () => {
    const target = join(dir, 'bad.bin');
    expect(() => importCt2(dir, target)).toThrow(/no model\.bin/);
    const broken = join(dir, 'broken');
    rmSync(broken, { recursive: true, force: true });
    mkdirSync(broken);
    for (const f of readdirSync(TINY_EN_CT2)) copyFileSync(join(TINY_EN_CT2, f), join(broken, f));
    truncateSync(join(broken, 'model.bin'), 40_000_000);
    expect(() => importCt2(broken, target)).toThrow(/truncated|cut off/);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([]);
    writeFileSync(join(broken, 'model.bin'), Buffer.alloc(100));
    expect(() => importCt2(broken, target)).toThrow(/MODEL_IMPORT_FAILED|binary version|truncated/);
  });
});
