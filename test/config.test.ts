// The environment is read where a process starts (a CLI command, the library's Whisper.load) and
// passed down: these show it arrives, for the library, both ways a caller can give it.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Whisper } from '../lib/api.js';
import { DEFAULTS, readConfig } from '../lib/config.js';
import { packageRoot } from '../lib/native/binding.js';
import { JFK_WAV, TINY_EN, have } from './helpers/fixtures.js';

describe('configuration', () => {
  it('lays the environment over DEFAULTS, and refuses a bad value by name', () => {
    expect(readConfig({})).toEqual(DEFAULTS);
    expect(readConfig({ MAX_AUDIO_SECONDS: '60', WHISPER_GPU: 'OFF', ALLOW_PRIVATE_URLS: '10.0.0.0/8' })).toMatchObject({ maxAudioSeconds: 60, gpu: 'off', allowPrivateUrls: ['10.0.0.0/8'] });
    expect(() => readConfig({ MODEL_BATCH_SIZE: 'eight' })).toThrow(/MODEL_BATCH_SIZE must be a positive integer/);
    expect(readConfig({ WHISPER_SERVE_MATRICES: 'q8_0' }).matrices).toBe('q8_0');
    expect(readConfig({ WHISPER_SERVE_MATRICES: 'int8' }).matrices).toBe('int8');
    expect(() => readConfig({ WHISPER_SERVE_MATRICES: 'q4_0' })).toThrow(/WHISPER_SERVE_MATRICES must be auto, file, q8_0 or int8, got "q4_0"/);
    expect(readConfig({ WHISPER_SERVE_CROSS_CACHE: 'f16', WHISPER_SERVE_ENCODER_KERNELS: 'ggml' })).toMatchObject({ crossCache: 'f16', encoderKernels: 'ggml' });
    expect(() => readConfig({ WHISPER_SERVE_CROSS_CACHE: 'q4_0' })).toThrow(/WHISPER_SERVE_CROSS_CACHE must be auto, f16, q8_0 or bf16, got "q4_0"/);
    expect(readConfig({ WHISPER_SERVE_ENCODER_KERNELS: 'avx2' }).encoderKernels).toBe('avx2');
    expect(() => readConfig({ WHISPER_SERVE_ENCODER_KERNELS: 'amx' })).toThrow(/WHISPER_SERVE_ENCODER_KERNELS must be auto, ggml, avx2, avx512-bf16 or amx-bf16, got "amx"/);
  });
});

describe.skipIf(!have(TINY_EN, JFK_WAV, join(packageRoot, 'dist', 'index.js')))('the library takes its settings at load', () => {
  it('from `config`, with nothing in the environment: an 11 s file over a 5 s limit', async () => {
    const strict = await Whisper.load(TINY_EN, { gpu: false, config: readConfig({ MAX_AUDIO_SECONDS: '5' }) });
    const loose = await Whisper.load(TINY_EN, { gpu: false, config: {} });
    try {
      expect(strict.config.maxAudioSeconds).toBe(5);
      await expect(strict.transcribe(JFK_WAV)).rejects.toMatchObject({ code: 'AUDIO_TOO_LONG', message: /11\.0 s of audio, over the 5\.0 s limit/ });
      expect((await loose.transcribe(JFK_WAV)).text).toMatch(/ask not what your country/);
    } finally {
      strict.dispose();
      loose.dispose();
    }
  });

  it('from the environment, read once by Whisper.load (a separate process: this one keeps its own)', () => {
    const script = `import { Whisper } from ${JSON.stringify(join(packageRoot, 'dist', 'index.js'))};
      const w = await Whisper.load(${JSON.stringify(TINY_EN)}, { gpu: false });
      process.env.MAX_AUDIO_SECONDS = '3600'; // after the load: not read again
      const r = await w.transcribe(${JSON.stringify(JFK_WAV)}).then(() => 'ok', (e) => e.code);
      w.dispose();
      console.log(JSON.stringify({ limit: w.config.maxAudioSeconds, result: r }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, MAX_AUDIO_SECONDS: '5' }, encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ limit: 5, result: 'AUDIO_TOO_LONG' });
  });
});
