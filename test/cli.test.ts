// The CLI as a user runs it: a real process, results on stdout, logs on stderr, exit codes.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { outputStems } from '../lib/cli/output-names.js';
import { packageRoot } from '../lib/native/binding.js';
import { JFK_MP3, JFK_TEXT, JFK_WAV, TINY_EN, have, normalise, readWav16k, repeatWithSilence } from './helpers/fixtures.js';
import { wavBytes } from './helpers/loopback.js';
import { runChild, type Finished } from './helpers/spawn.js';

const bin = join(packageRoot, 'bin', 'whisper-serve.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, LOG_FORMAT: 'text' } });
const out = mkdtempSync(join(tmpdir(), 'ws-cli-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe.skipIf(!have(TINY_EN, JFK_WAV, join(packageRoot, 'dist', 'cli', 'main.js')))('whisper-serve CLI', () => {
  it('prints the transcript of the sample to stdout and logs with a job id to stderr', () => {
    const r = cli('transcribe', JFK_WAV, '-m', TINY_EN);
    expect(r.status).toBe(0);
    expect(normalise(r.stdout)).toBe(normalise(JFK_TEXT));
    expect(r.stderr).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \| INFO \| cli \| transcribed/m);
  });

  it('with LOG_FORMAT=json writes only JSON lines to stderr, whisper.cpp\'s own lines included', () => {
    const r = spawnSync(process.execPath, [bin, 'transcribe', JFK_WAV, '-m', TINY_EN], { encoding: 'utf8', env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'debug' } });
    expect(r.status).toBe(0);
    const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string; source?: string });
    const native = lines.filter((l) => l.source === 'whisper.cpp');
    expect(native.length).toBeGreaterThan(10); // model load and state creation, from the threads that did them
    expect(native.map((l) => l.msg)).toContainEqual(expect.stringMatching(/^whisper_init_from_file_with_params_no_state: loading model/));
    expect(lines.some((l) => l.msg === 'transcribed')).toBe(true);
  });

  it('reads the audio from stdin with -', () => {
    const r = spawnSync(process.execPath, [bin, 'transcribe', '-', '-m', TINY_EN], { input: readFileSync(JFK_MP3), encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(normalise(r.stdout)).toBe(normalise(JFK_TEXT));
  });

  it('writes srt to stdout as segments become final: the first cues before the transcription ends, then the rest', async () => {
    const long = join(out, 'jfk-x8.wav');
    writeFileSync(long, wavBytes(repeatWithSilence(readWav16k(JFK_WAV), 8, 1.5)));
    const child = spawn(process.execPath, [bin, 'transcribe', long, '-m', TINY_EN, '-f', 'srt', '--batch-size', '1'], { env: { ...process.env, LOG_FORMAT: 'text' } });
    let stdout = '';
    let stderr = '';
    let transcribedAtFirstOutput: boolean | undefined;
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.on('data', (c: Buffer) => {
      transcribedAtFirstOutput ??= /\| transcribed/.test(stderr);
      stdout += c.toString();
    });
    expect(await new Promise((r) => child.on('close', r))).toBe(0);
    expect(transcribedAtFirstOutput).toBe(false);
    expect(stdout).toMatch(/^1\n00:00:00,000 --> /);
    const numbers = [...stdout.matchAll(/^(\d+)\n\d\d:/gm)].map((m) => Number(m[1]));
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
    expect(normalise(stdout.replace(/^\d+\n.*-->.*$/gm, '')).split('ask not what your country').length - 1).toBe(8);
  });

  it('writes every format to an output dir', () => {
    const r = cli('transcribe', JFK_WAV, '-m', TINY_EN, '-f', 'all', '-o', out);
    expect(r.status).toBe(0);
    expect(readFileSync(join(out, 'jfk.srt'), 'utf8')).toMatch(/^1\n00:00:00,000 --> /);
    expect(readFileSync(join(out, 'jfk.vtt'), 'utf8')).toMatch(/^WEBVTT\n/);
    expect(JSON.parse(readFileSync(join(out, 'jfk.json'), 'utf8'))).toMatchObject({ language: 'en', model: TINY_EN });
  });

  it("takes faster-whisper's decode options, validated as the library and the RunPod schema validate them, each reaching the decoder", async () => {
    const debug = (...args: string[]) => runChild(process.execPath, [bin, 'transcribe', JFK_WAV, '-m', TINY_EN, ...args], { env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'debug' } });
    const decodeLine = (r: Finished) => r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'decode')!;
    const beam = await debug('--beam-size', '5', '--patience', '2', '--initial-prompt', 'Kennedy');
    expect(beam.status, beam.stderr).toBe(0);
    expect(normalise(beam.stdout)).toBe(normalise(JFK_TEXT));
    expect(decodeLine(beam)).toMatchObject({ path: "whisper.cpp's decoder", beamSize: 5, patience: 2, initialPrompt: 'Kennedy' });
    const tuned = await debug('--best-of', '3', '--temperature', '0,0.25,0.5,0.75,1', '--compression-ratio-threshold', '1', '--logprob-threshold', '-2', '--no-speech-threshold', '0.5', '--prompt', 'x');
    expect(tuned.status, tuned.stderr).toBe(0);
    expect(decodeLine(tuned)).toMatchObject({ path: 'batched engine', bestOf: 3, temperatureIncrement: 0.25, compressionRatioThreshold: 1, logprobThreshold: -2, noSpeechThreshold: 0.5, initialPrompt: 'x' });
    // A compression threshold of 1 fails every try: the fallback ran, at 0.25 steps (4 retries).
    const engine = tuned.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'batched engine')!;
    expect(engine.fallbacks).toBe(4);
    // One temperature: no fallback at all, as faster-whisper's temperature=0.
    const once = await debug('--temperature', '0', '--compression-ratio-threshold', '1');
    expect(decodeLine(once)).toMatchObject({ temperatureIncrement: 0 });
    // txt decodes with timestamps like every format (no option changed); --without-timestamps
    // decodes text tokens alone, and refuses a format that needs times.
    expect(decodeLine(once)).not.toHaveProperty('withoutTimestamps');
    const textOnly = await debug('--without-timestamps');
    expect(textOnly.status, textOnly.stderr).toBe(0);
    expect(normalise(textOnly.stdout)).toBe(normalise(JFK_TEXT));
    expect(decodeLine(textOnly)).toMatchObject({ withoutTimestamps: true });
    const srt = await runChild(process.execPath, [bin, 'transcribe', JFK_WAV, '-m', TINY_EN, '-f', 'srt', '--without-timestamps']);
    expect(srt.status).toBe(2);
    expect(srt.stderr).toMatch(/--without-timestamps writes txt only/);
    for (const [flag, value] of [['--beam-size', '9'], ['--best-of', '0'], ['--temperature', '0.4,0.2'], ['--temperature', '2'], ['--patience', '0'], ['--logprob-threshold', '1'], ['--no-speech-threshold', 'x']]) {
      const bad = await runChild(process.execPath, [bin, 'transcribe', JFK_WAV, '-m', TINY_EN, flag!, value!]);
      expect(bad.status, `${flag} ${value}`).toBe(2);
      expect(bad.stderr).toMatch(/is invalid\. expected /);
    }
  });

  it('serve -m loads the model it names (over WHISPER_MODEL)', async () => {
    const child = spawn(process.execPath, [bin, 'serve', '-m', TINY_EN, '--port', '0'], { env: { ...process.env, WHISPER_MODEL: 'large-v9', PRELOAD: '1', LOG_FORMAT: 'json', JOBS_DB: join(out, 'serve-m.sqlite') } });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no model loaded: ${stderr}`)), 60_000);
        child.stderr.on('data', () => /model loaded/.test(stderr) && (clearTimeout(timer), resolve()));
        child.on('close', () => reject(new Error(`serve exited: ${stderr}`)));
      });
      expect(stderr).toMatch(/"msg":"model loaded[^}]*"model":"[^"]*tiny\.en/);
      expect(stderr).not.toMatch(/large-v9/);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('gives inputs of the same name distinct output files instead of overwriting one with the other', async () => {
    const dir = join(out, 'same-name');
    const again = join(out, 'again');
    mkdirSync(again, { recursive: true });
    copyFileSync(JFK_WAV, join(again, 'jfk.wav'));
    const r = await runChild(process.execPath, [bin, 'transcribe', JFK_WAV, JFK_MP3, join(again, 'jfk.wav'), '-m', TINY_EN, '-o', dir], { env: { ...process.env, LOG_FORMAT: 'text' } });
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['jfk.mp3.txt', 'jfk.wav-2.txt', 'jfk.wav.txt']);
    for (const f of readdirSync(dir)) expect(normalise(readFileSync(join(dir, f), 'utf8'))).toBe(normalise(JFK_TEXT));
    expect(r.stderr).toMatch(/WARN .*inputs with the same name/);
    expect(outputStems(['a/talk.mp3', 'https://x.test/b/talk.mp3?sig=1', 'c/other.wav', '-'])).toEqual(['talk.mp3', 'talk.mp3-2', 'other', 'stdin']);
  });

  it('fails with a code, a hint and exit 3 on a missing model; 1 on a bad input; 2 on usage', () => {
    const missing = cli('transcribe', JFK_WAV, '-m', 'large-v9');
    expect(missing.status).toBe(3);
    expect(missing.stderr).toMatch(/error MODEL_NOT_FOUND: unknown model "large-v9"/);
    expect(missing.stderr).toMatch(/hint: /);
    const bad = cli('transcribe', join(out, 'nope.wav'), '-m', TINY_EN);
    expect(bad.status).toBe(1);
    expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack trace without --verbose
    expect(cli('transcribe').status).toBe(2);
    // --vad without a VAD model is set-up, not one bad input: exit 3, and the run stops there.
    const noVad = spawnSync(process.execPath, [bin, 'transcribe', JFK_WAV, JFK_WAV, '-m', TINY_EN, '--vad', '-o', join(out, 'no-vad')], { encoding: 'utf8', env: { ...process.env, WHISPER_VAD_MODEL: join(out, 'no-such-vad.bin') } });
    expect(noVad.status).toBe(3);
    expect(noVad.stderr.match(/error MODEL_NOT_FOUND: VAD model/g)).toHaveLength(1);
  });

  it('says which addon could not be loaded and why (exit 3), instead of a loader stack', () => {
    const notAnAddon = join(out, 'whisper_serve.node');
    writeFileSync(notAnAddon, 'not an ELF file');
    const r = spawnSync(process.execPath, [bin, 'info'], { encoding: 'utf8', env: { ...process.env, WHISPER_SERVE_ADDON: notAnAddon } });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`error NATIVE_ADDON_LOAD_FAILED: the addon at ${notAnAddon} could not be loaded`);
    expect(r.stderr).toMatch(/hint: .*WHISPER_SERVE_ADDON/);
  });

  it('shows info and model details', () => {
    const info = JSON.parse(cli('info', '--json').stdout);
    expect(info).toMatchObject({ whisperCpp: '1.9.1', backends: expect.arrayContaining([expect.objectContaining({ name: 'CPU' })]) });
    expect(info.ffmpeg.source).toBeDefined();
    const inspect = JSON.parse(cli('models', 'inspect', TINY_EN, '--json').stdout);
    expect(inspect).toMatchObject({ hparams: { nMels: 80, nVocab: 51864 }, tensors: 167, multilingual: false });
  });
});
