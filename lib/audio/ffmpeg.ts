/**
 * Finds ffmpeg: FFMPEG_PATH → ffmpeg-static → @ffmpeg-installer/ffmpeg → `ffmpeg` on PATH.
 * ffmpeg-static downloads its binary at install time, which fails offline; that must not
 * break anything, so each candidate is probed by running it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readConfig } from '../config.js';
import { WhisperServeError } from '../errors.js';

export interface FfmpegInfo {
  path: string;
  /** Where it was found: FFMPEG_PATH, ffmpeg-static, @ffmpeg-installer/ffmpeg or PATH. */
  source: string;
  version: string;
  /** ffprobe beside it, if any. */
  ffprobe: string | undefined;
}

function version(bin: string): string | undefined {
  const r = spawnSync(bin, ['-version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0 || !r.stdout) return undefined;
  return /version (\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
}

function candidates(): Array<{ path: string | undefined; source: string }> {
  const require = createRequire(import.meta.url);
  const tryRequire = (id: string, pick: (m: unknown) => unknown): string | undefined => {
    try {
      const p = pick(require(id));
      return typeof p === 'string' ? p : undefined;
    } catch {
      return undefined;
    }
  };
  return [
    { path: readConfig().ffmpegPath, source: 'FFMPEG_PATH' },
    { path: tryRequire('ffmpeg-static', (m) => m), source: 'ffmpeg-static' },
    { path: tryRequire('@ffmpeg-installer/ffmpeg', (m) => (m as { path?: string }).path), source: '@ffmpeg-installer/ffmpeg' },
    { path: 'ffmpeg', source: 'PATH' },
  ];
}

let found: FfmpegInfo | undefined;

export function findFfmpeg(): FfmpegInfo {
  if (found) return found;
  const tried: string[] = [];
  for (const c of candidates()) {
    if (!c.path) continue;
    if (c.source !== 'PATH' && !existsSync(c.path)) {
      tried.push(`${c.source}: ${c.path} missing`);
      continue;
    }
    const v = version(c.path);
    if (!v) {
      tried.push(`${c.source}: ${c.path} does not run`);
      continue;
    }
    const probeBeside = c.source === 'PATH' ? 'ffprobe' : join(dirname(c.path), 'ffprobe');
    const ffprobe = version(probeBeside) ? probeBeside : version('ffprobe') ? 'ffprobe' : undefined;
    found = { path: c.path, source: c.source, version: v, ffprobe };
    return found;
  }
  throw new WhisperServeError(
    'FFMPEG_NOT_FOUND',
    `no working ffmpeg (${tried.join('; ') || 'none on PATH'}); install one (apt-get install ffmpeg, brew install ffmpeg) or set FFMPEG_PATH`,
  );
}
