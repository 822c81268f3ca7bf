/**
 * Finds ffmpeg and ffprobe: FFMPEG_PATH → the binaries that ship inside npm packages
 * (@ffmpeg-installer/ffmpeg and @ffprobe-installer/ffprobe: in their tarballs, so `npm ci`
 * alone gives a decoder, offline too) → ffmpeg-static (whose binary is downloaded by an install
 * script, so it is often absent) → `ffmpeg` on PATH. Each candidate is probed by running it.
 * The packaged ffmpeg is the one the test suite decodes every format with; set FFMPEG_PATH to
 * prefer another (a system ffmpeg with your distribution's security updates, say).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { WhisperServeError } from '../errors.js';

export interface FfmpegInfo {
  path: string;
  /** Where it was found: FFMPEG_PATH, @ffmpeg-installer/ffmpeg, ffmpeg-static or PATH. */
  source: string;
  version: string;
  /** ffprobe: beside ffmpeg, the packaged one, or on PATH; undefined when none runs. */
  ffprobe: string | undefined;
  ffprobeVersion: string | undefined;
}

interface Candidate {
  path: string | undefined;
  source: string;
}

function version(bin: string): string | undefined {
  const r = spawnSync(bin, ['-version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0 || !r.stdout) return undefined;
  return /version (\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
}

const require = createRequire(import.meta.url);

/** A package's exported binary path; undefined when the package (or its platform part) is not installed. */
function packaged(id: string, pick: (m: unknown) => unknown): string | undefined {
  try {
    const p = pick(require(id));
    return typeof p === 'string' ? p : undefined;
  } catch {
    return undefined;
  }
}

const pathOf = (m: unknown) => (m as { path?: string }).path;

function ffmpegCandidates(configured: string | undefined): Candidate[] {
  return [
    { path: configured, source: 'FFMPEG_PATH' },
    { path: packaged('@ffmpeg-installer/ffmpeg', pathOf), source: '@ffmpeg-installer/ffmpeg' },
    { path: packaged('ffmpeg-static', (m) => m), source: 'ffmpeg-static' },
    { path: 'ffmpeg', source: 'PATH' },
  ];
}

function ffprobeCandidates(ffmpeg: Candidate): Candidate[] {
  return [
    { path: ffmpeg.source === 'PATH' ? undefined : join(dirname(ffmpeg.path!), 'ffprobe'), source: 'beside ffmpeg' },
    { path: packaged('@ffprobe-installer/ffprobe', pathOf), source: '@ffprobe-installer/ffprobe' },
    { path: 'ffprobe', source: 'PATH' },
  ];
}

/**
 * @ffprobe-installer's binary arrives without its execute bit: its postinstall `chmod u+x` is one
 * of the install scripts npm 11 blocks by default. Set it as that script would (when this user may).
 */
function makeExecutable(path: string): void {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    try {
      chmodSync(path, statSync(path).mode | 0o111);
    } catch {
      // not ours to change: version() reports it as not running
    }
  }
}

/** The first candidate that runs, and what was wrong with the ones before it. */
function firstWorking(candidates: Candidate[], tried: string[]): (Candidate & { path: string; version: string }) | undefined {
  for (const c of candidates) {
    if (!c.path) continue;
    if (c.source !== 'PATH' && !existsSync(c.path)) {
      tried.push(`${c.source}: ${c.path} missing`);
      continue;
    }
    if (c.source !== 'PATH') makeExecutable(c.path);
    const v = version(c.path);
    if (v) return { ...c, path: c.path, version: v };
    tried.push(`${c.source}: ${c.path} does not run`);
  }
  return undefined;
}

/** What was found, per configured path (a process has one; tests try several). */
const found = new Map<string, FfmpegInfo>();

/** The ffmpeg to run: `configured` (a shell's FFMPEG_PATH) first, then the packaged ones, then PATH's. */
export function findFfmpeg(configured?: string): FfmpegInfo {
  const known = found.get(configured ?? '');
  if (known) return known;
  const tried: string[] = [];
  const ffmpeg = firstWorking(ffmpegCandidates(configured), tried);
  if (!ffmpeg) {
    throw new WhisperServeError(
      'FFMPEG_NOT_FOUND',
      `no working ffmpeg (${tried.join('; ') || 'none on PATH'}); reinstall whisper-serve's dependencies (npm ci: @ffmpeg-installer/ffmpeg ships one), install one (apt-get install ffmpeg) or set FFMPEG_PATH`,
    );
  }
  const ffprobe = firstWorking(ffprobeCandidates(ffmpeg), []);
  const info = { path: ffmpeg.path, source: ffmpeg.source, version: ffmpeg.version, ffprobe: ffprobe?.path, ffprobeVersion: ffprobe?.version };
  found.set(configured ?? '', info);
  return info;
}
