// Native errors never abort the process: every entry point of the addon, given wrong arguments or
// inputs its threads refuse, answers with a typed JS error (test/native/every-entry-point.mjs, in
// a child whose death by a signal would show here).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { SILERO, TEST_MODEL, have } from './helpers/fixtures.js';

describe.skipIf(!have(TEST_MODEL('tiny'), SILERO))('every native entry point', () => {
  it('throws or rejects with a code on bad input, and the process lives on', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(packageRoot, 'test', 'native', 'every-entry-point.mjs'), TEST_MODEL('tiny'), SILERO], {
      timeout: 120_000,
      maxBuffer: 8 << 20,
    });
    const results = JSON.parse(stdout.trim().split('\n').pop()!) as Array<{ name: string; threw: boolean; code: string | null; message: string }>;
    expect(results.length).toBeGreaterThan(30);
    for (const r of results) {
      expect(r.threw, r.name).toBe(true);
      expect(r.code, `${r.name}: ${r.message}`).toMatch(/^[A-Z_]+$/);
    }
    const codeOf = (name: string) => results.find((r) => r.name === name)?.code;
    expect(codeOf('loadModel(missing)')).toBe('MODEL_LOAD_FAILED');
    expect(codeOf('loadBackend(missing)')).toBe('NATIVE_ADDON_LOAD_FAILED');
    expect(codeOf('decodeBatch(language yue, 99 languages)')).toBe('INVALID_ARGUMENT');
    expect(codeOf('info(disposed)')).toBe('MODEL_DISPOSED');
  });
});
