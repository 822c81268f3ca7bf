/** `whisper-serve bench`: runs the CPU benchmark (bench/run.mjs) and prints its table. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { packageRoot } from '../../native/binding.js';
import { EXIT } from '../errors.js';

export function benchCommand(): Command {
  return new Command('bench')
    .description('benchmark the addon against whisper.cpp\'s whisper-cli and faster-whisper on ~10 min of speech (JSON + table)')
    .option('--minutes <n>', 'minutes of speech', '10')
    .option('--repeat <n>', 'runs per engine (the fastest is kept)', '1')
    .option('--skip-faster-whisper', 'only whisper-serve and whisper-cli')
    .addHelpText('after', '\nWrites bench/results/cpu-<time>.json. Needs a source checkout: build/whisper-cli and the test weights.\n\nExample:\n  $ whisper-serve bench --minutes 10 --repeat 3')
    .action(async (flags: { minutes: string; repeat: string; skipFasterWhisper?: boolean }) => {
      const script = join(packageRoot, 'bench', 'run.mjs');
      if (!existsSync(script)) {
        process.stderr.write(`error: ${script} is missing; the benchmark runs from a source checkout\n`);
        process.exitCode = EXIT.SETUP;
        return;
      }
      const args = [script, '--minutes', flags.minutes, '--repeat', flags.repeat, ...(flags.skipFasterWhisper ? ['--skip-faster-whisper'] : [])];
      const child = spawn(process.execPath, args, { stdio: 'inherit' });
      process.exitCode = await new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? EXIT.JOB_FAILED)));
    });
}
