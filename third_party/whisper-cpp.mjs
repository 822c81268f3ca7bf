#!/usr/bin/env node
// Finds the whisper.cpp source tree the addon is built from.
// Order: $WHISPER_CPP_DIR, then the pinned npm package nodejs-whisper (which carries an
// unmodified whisper.cpp v1.9.1 tree in cpp/whisper.cpp). Nothing is copied into this repo.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PINNED_PACKAGE = 'nodejs-whisper';
export const PINNED_VERSION = '0.3.1';

function isWhisperTree(dir) {
  return existsSync(join(dir, 'include', 'whisper.h')) && existsSync(join(dir, 'ggml', 'CMakeLists.txt'));
}

/** @returns {{ dir: string, source: string, version: string }} */
export function locateWhisperCpp(env = process.env) {
  if (env.WHISPER_CPP_DIR) {
    const dir = resolve(env.WHISPER_CPP_DIR);
    if (!isWhisperTree(dir)) {
      throw new Error(`WHISPER_CPP_DIR=${dir} is not a whisper.cpp source tree (no include/whisper.h or ggml/)`);
    }
    return { dir, source: 'WHISPER_CPP_DIR', version: readVersion(dir) };
  }
  const require = createRequire(import.meta.url);
  let pkgJson;
  try {
    pkgJson = require.resolve(`${PINNED_PACKAGE}/package.json`);
  } catch {
    throw new Error(
      `whisper.cpp source not found: install ${PINNED_PACKAGE}@${PINNED_VERSION} (npm ci) or set WHISPER_CPP_DIR`,
    );
  }
  const dir = join(dirname(pkgJson), 'cpp', 'whisper.cpp');
  if (!isWhisperTree(dir)) throw new Error(`${dir} does not hold a whisper.cpp tree`);
  const pkgVersion = JSON.parse(readFileSync(pkgJson, 'utf8')).version;
  return { dir, source: `${PINNED_PACKAGE}@${pkgVersion}`, version: readVersion(dir) };
}

function readVersion(dir) {
  const m = /project\("whisper\.cpp" VERSION ([0-9.]+)\)/.exec(readFileSync(join(dir, 'CMakeLists.txt'), 'utf8'));
  return m ? m[1] : 'unknown';
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const found = locateWhisperCpp();
  process.stdout.write(process.argv.includes('--json') ? JSON.stringify(found) : found.dir);
}
