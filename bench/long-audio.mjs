// Memory on long recordings: 1 h and 10 h of speech with long pauses (jfk.wav every 5 min,
// digital silence between, FLAC), transcribed by the CLI as a user runs it, with fixed windows
// and with --vad. Wall time and peak RSS (bench/measure.py, the same wrapper as `npm run bench`);
// the transcript is checked (jfk's sentence once per 5 min). Peak RSS should not grow with the
// length: the audio is decoded and transcribed block by block (lib/pcm-blocks.ts).
//   node bench/long-audio.mjs [--hours 1,10] [--modes fixed,vad]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const hours = arg('hours', '1,10').split(',').map(Number);
const modes = arg('modes', 'fixed,vad').split(',');
const { findFfmpeg } = await import('../dist/audio/ffmpeg.js');
const ffmpeg = findFfmpeg().path;
const cache = join(root, 'bench', '.cache');
mkdirSync(cache, { recursive: true });
const model = join(root, 'models', 'ggml-tiny.en.bin');
const vadModel = process.env.WHISPER_VAD_MODEL ?? join(root, '..', 'shared', 'models', 'for-tests-silero-v6.2.0-ggml.bin');
const UNIT_SECONDS = 300;

// One unit: jfk, then digital silence to 5 min; N units looped by ffmpeg into one FLAC.
function input(h) {
  const out = join(cache, `jfk-every-5min-${h}h.flac`);
  if (existsSync(out)) return out;
  const unit = join(cache, 'jfk-5min-unit.wav');
  const jfk = join(root, '..', 'shared', 'audio', 'jfk.wav');
  // apad's whole_len is in samples (the packaged ffmpeg 4.1 predates its duration options).
  if (!existsSync(unit)) execFileSync(ffmpeg, ['-v', 'error', '-y', '-i', jfk, '-af', `apad=whole_len=${UNIT_SECONDS * 16000}`, '-ar', '16000', '-ac', '1', '-c:a', 'pcm_s16le', unit]);
  const loops = (h * 3600) / UNIT_SECONDS;
  execFileSync(ffmpeg, ['-v', 'error', '-y', '-stream_loop', String(loops - 1), '-i', unit, '-c:a', 'flac', out]);
  return out;
}

const rows = [];
for (const h of hours) {
  const file = input(h);
  for (const mode of modes) {
    const args = [join(root, 'bin', 'whisper-serve.js'), 'transcribe', file, '-m', model, '-f', 'txt', ...(mode === 'vad' ? ['--vad'] : [])];
    const r = spawnSync('python3', [join(root, 'bench', 'measure.py'), process.execPath, ...args], {
      encoding: 'utf8',
      env: { ...process.env, WHISPER_VAD_MODEL: vadModel },
      maxBuffer: 256 * 1024 * 1024,
    });
    const m = JSON.parse(r.stdout);
    const sentences = (m.stdout.toLowerCase().match(/ask not what your country/g) ?? []).length;
    const row = { hours: h, mode, wall_seconds: m.wall, peak_rss_mib: Math.round(m.max_rss_kib / 1024), rc: m.rc, sentences, expected: (h * 3600) / UNIT_SECONDS };
    if (m.rc !== 0) row.error = m.stderr_tail.trim().split('\n').pop();
    rows.push(row);
    console.error(`[long-audio] ${JSON.stringify(row)}`);
  }
}
const out = join(root, 'bench', 'results', `long-audio-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), model: 'tiny.en', cpus: (await import('node:os')).cpus().length, rows }, null, 2));
console.log('| audio | windows | wall s | × real time | peak RSS MiB | jfk sentences found |');
console.log('| --- | --- | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(`| ${r.hours} h | ${r.mode} | ${r.wall_seconds.toFixed(1)} | ${((r.hours * 3600) / r.wall_seconds).toFixed(0)} | ${r.peak_rss_mib} | ${r.sentences} / ${r.expected}${r.error ? ` (${r.error})` : ''} |`);
}
console.log(`wrote ${out}`);
