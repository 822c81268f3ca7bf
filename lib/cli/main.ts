/** The `whisper-serve` command line: one command a file in commands/. */
import { Command } from 'commander';
import { benchCommand } from './commands/bench.js';
import { ffmpegCommand } from './commands/ffmpeg.js';
import { infoCommand } from './commands/info.js';
import { modelsCommand } from './commands/models.js';
import { runpodCommand } from './commands/runpod.js';
import { serveCommand } from './commands/serve.js';
import { transcribeCommand } from './commands/transcribe.js';
import { EXIT, reportError } from './errors.js';

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await run(argv);
  } catch (err) {
    // A bad environment variable (PORT=abc) or any setup failure: one line and its exit code, no stack.
    process.exitCode = reportError(err, argv.includes('--verbose'));
  }
}

async function run(argv: string[]): Promise<void> {
  const program = new Command('whisper-serve')
    .description('Fast Whisper speech-to-text: transcribe files and URLs, serve an HTTP API, run as a RunPod worker, manage models')
    .addCommand(transcribeCommand())
    .addCommand(modelsCommand())
    .addCommand(serveCommand())
    .addCommand(runpodCommand())
    .addCommand(benchCommand())
    .addCommand(ffmpegCommand())
    .addCommand(infoCommand());
  // Usage errors exit 2 (documented), --help and --version 0; added commands do not inherit this.
  const usageExit = (cmd: Command): void => {
    cmd.exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.USAGE));
    cmd.commands.forEach(usageExit);
  };
  usageExit(program);
  await program.parseAsync(argv);
}
