#!/usr/bin/env node
// `node bench/languages.mjs`: WER of the multilingual base model on short espeak-ng clips in six
// languages (bench/languages.tsv: language, text, one clip a line), through each cross-attention
// cache form the CPU runs (WHISPER_SERVE_CROSS_CACHE: f16, q8_0, bf16 where AVX512-BF16), beside
// faster-whisper on the CTranslate2 weights the ggml file came from (test/sdk/faster_whisper_languages.py).
// All greedy at temperature 0. espeak's voices are far from what Whisper heard in training, so
// single clips are near-ties decided by rounding (a clip moves ±10 points from one exact-enough
// form to another): compare the totals, over every clip's words. Not a test; writes
// bench/results/languages-<time>.json and prints a table.
//
// Needs: npm run build, npm run models:test-weights, espeak-ng, bash scripts/faster-whisper.sh.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuName } from './machine.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { findFfmpeg } = await import('../dist/audio/ffmpeg.js');
const { readPlainWav } = await import('../dist/audio/decode.js');
const { Whisper } = await import('../dist/index.js');
const { binding } = await import('../dist/native/binding.js');

const normalise = (t) => t.normalize('NFC').toLowerCase().replace(/[^\p{L}\p{N}' ]+/gu, ' ').replace(/\s+/g, ' ').trim();
/** Word errors of b against the reference a, and the reference's words. */
function errors(a, b) {
  const r = normalise(a).split(' ');
  const h = normalise(b).split(' ');
  let prev = Array.from({ length: h.length + 1 }, (_, j) => j);
  for (let i = 1; i <= r.length; i++) {
    const cur = [i];
    for (let j = 1; j <= h.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r[i - 1] === h[j - 1] ? 0 : 1));
    prev = cur;
  }
  return { errors: prev[h.length], words: r.length };
}

const clips = readFileSync(join(root, 'bench', 'languages.tsv'), 'utf8').trim().split('\n').map((line) => {
  const [language, text] = line.split('\t');
  return { language, text };
});
const dir = mkdtempSync(join(tmpdir(), 'ws-languages-'));
const ffmpeg = findFfmpeg().path;
const wavs = clips.map(({ language, text }, i) => {
  const raw = join(dir, `${i}.espeak.wav`);
  const wav = join(dir, `${i}.${language}.wav`);
  execFileSync('espeak-ng', ['-v', language, '-s', '150', '-w', raw, text]);
  execFileSync(ffmpeg, ['-v', 'error', '-y', '-i', raw, '-ar', '16000', '-ac', '1', '-c:a', 'pcm_s16le', wav]);
  return wav;
});

const base = join(root, 'models', 'ggml-base.bin');
const hasBf16 = binding().systemInfo().features.includes('AVX512_BF16 = 1');
const rows = [];
const score = (engine, texts) => {
  const per = texts.map((text, i) => ({ language: clips[i].language, text, ...errors(clips[i].text, text) }));
  const total = per.reduce((a, p) => ({ errors: a.errors + p.errors, words: a.words + p.words }), { errors: 0, words: 0 });
  rows.push({ engine, wer: total.errors / total.words, clips: per.map((p) => ({ ...p, wer: p.errors / p.words })) });
};
for (const crossCache of ['f16', 'q8_0', ...(hasBf16 ? ['bf16'] : [])]) {
  const whisper = await Whisper.load(base, { gpu: false, config: { crossCache } });
  const texts = [];
  for (const wav of wavs) texts.push((await whisper.transcribe(readPlainWav(wav), { temperatureIncrement: 0 })).text);
  whisper.dispose();
  score(`whisper-serve, ${crossCache} cross caches`, texts);
}
const py = join(root, 'models', '.cache', 'faster-whisper', 'bin', 'python');
const fw = execFileSync(py, [join(root, 'test', 'sdk', 'faster_whisper_languages.py'), join(root, 'models', '.cache', 'base-ct2', 'model'), 'transcribe', ...wavs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
score('faster-whisper (float32)', fw.trim().split('\n').map((line) => JSON.parse(line).text));
rmSync(dir, { recursive: true, force: true });

const date = new Date().toISOString();
const out = join(root, 'bench', 'results', `languages-${date.replace(/[:.]/g, '-')}.json`);
writeFileSync(out, `${JSON.stringify({ date, cpu: cpuName(), model: 'base', rows }, null, 2)}\n`);
console.log(`| engine (base, ${clips.length} clips, ${cpuName()}) | WER over all words | per clip |\n| --- | ---: | --- |`);
for (const r of rows) console.log(`| ${r.engine} | ${(100 * r.wer).toFixed(1)} % | ${r.clips.map((c) => `${c.language} ${Math.round(100 * c.wer)}`).join(', ')} |`);
console.log(`(${out})`);
