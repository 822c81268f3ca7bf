// Silero VAD for users without whisper.cpp's download: faster-whisper's ONNX (from PyPI) imported
// to whisper.cpp's ggml layout by `models import`, then run by whisper.cpp's own VAD.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { detectSpeech } from '../lib/vad.js';
import { JFK_TEXT, JFK_WAV, SILERO, SILERO_ONNX, TINY_EN, have, normalise, readWav16k, repeatWithSilence } from './helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'ws-vad-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(packageRoot, 'bin', 'whisper-serve.js');
const cli = (env: Record<string, string>, ...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

/** A whisper.cpp VAD file's layout: its header ints after the model type, and each tensor's name, type and shape. */
function layout(path: string): { header: number[]; tensors: string[] } {
  const f = readFileSync(path);
  const typeLength = f.readInt32LE(4);
  let at = 8 + typeLength;
  const header = Array.from({ length: 22 }, (_, i) => f.readInt32LE(at + 4 * i));
  at += 4 * 22;
  const tensors: string[] = [];
  while (at < f.length) {
    const [nDims, nameLength, type] = [f.readInt32LE(at), f.readInt32LE(at + 4), f.readInt32LE(at + 8)];
    const ne = Array.from({ length: nDims }, (_, i) => f.readInt32LE(at + 12 + 4 * i));
    at += 12 + 4 * nDims;
    const name = f.subarray(at, at + nameLength).toString();
    at += nameLength + ne.reduce((a, b) => a * b, 1) * (type === 1 ? 2 : 4);
    tensors.push(`${name} ${type === 1 ? 'f16' : 'f32'} [${ne.join(', ')}]`);
  }
  return { header, tensors };
}

describe.skipIf(!have(SILERO_ONNX, SILERO, JFK_WAV, TINY_EN))('Silero VAD imported from ONNX', () => {
  const imported = join(dir, 'ggml-silero-v6.bin');

  it('is written in whisper.cpp\'s layout: the tensors, types and shapes of its own v6.2.0 conversion', () => {
    const r = cli({}, 'models', 'import', SILERO_ONNX, '-o', imported);
    expect(r.status, r.stderr).toBe(0);
    const ours = layout(imported);
    const theirs = layout(SILERO);
    expect(ours.tensors).toEqual(theirs.tensors);
    expect(ours.tensors).toHaveLength(15);
    // Version 6.0.0 from the file's name (theirs 6.2.0), the architecture the same.
    expect(ours.header.slice(0, 3)).toEqual([6, 0, 0]);
    expect(ours.header.slice(3)).toEqual(theirs.header.slice(3));
  });

  it('finds the speech whisper.cpp\'s own conversion finds, and windows a transcript by it', async () => {
    const jfk = readWav16k(JFK_WAV);
    const pcm = repeatWithSilence(jfk, 3, 4);
    // v6 and v6.2 are different trainings: v6 splits "ask not" at a 0.2 s breath that v6.2
    // keeps whole. Joined across such breaths, the regions are the same to a quarter second.
    // (On 2 min of espeak-ng speech its regions matched faster-whisper's own ONNX Runtime run to
    // the hundredth of a second but one end: see the issue note.)
    const joined = (regions: Array<{ start: number; end: number }>) =>
      regions.reduce<Array<{ start: number; end: number }>>((out, r) => {
        const last = out.at(-1);
        if (last && r.start - last.end < 0.3) last.end = r.end;
        else out.push({ ...r });
        return out;
      }, []);
    const ours = joined(await detectSpeech(pcm, { model: imported }));
    const theirs = joined(await detectSpeech(pcm, { model: SILERO }));
    expect(ours.length).toBe(12); // jfk.wav has 4 (whisper.cpp's VAD test), 3 times
    expect(ours.length).toBe(theirs.length);
    ours.forEach((r, i) => {
      expect(Math.abs(r.start - theirs[i]!.start)).toBeLessThan(0.25);
      expect(Math.abs(r.end - theirs[i]!.end)).toBeLessThan(0.25);
    });
    // Found by name in the model cache, as --vad looks for it.
    const t = cli({ WHISPER_MODEL_CACHE: dir, WHISPER_VAD_MODEL: '' }, 'transcribe', JFK_WAV, '-m', TINY_EN, '--vad', '-f', 'json');
    expect(t.status, t.stderr).toBe(0);
    expect(normalise(JSON.parse(t.stdout).text)).toBe(normalise(JFK_TEXT));
  });

  it('refuses what is not a Silero ONNX model with a typed error', () => {
    const notOnnx = join(dir, 'notes.onnx');
    writeFileSync(notOnnx, 'plain text, not protobuf\n');
    const r = cli({}, 'models', 'import', notOnnx, '-o', join(dir, 'out.bin'));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/MODEL_IMPORT_FAILED/);
    const truncated = join(dir, 'truncated.onnx');
    writeFileSync(truncated, readFileSync(SILERO_ONNX).subarray(0, 50_000));
    const t = cli({}, 'models', 'import', truncated, '-o', join(dir, 'out.bin'));
    expect(t.stderr).toMatch(/MODEL_IMPORT_FAILED/);
  });
});
