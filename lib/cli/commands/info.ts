/** `whisper-serve info`: versions, addon, backends, CPU features, devices, ffmpeg, model cache. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { findFfmpeg } from '../../audio/ffmpeg.js';
import { readConfig } from '../../config.js';
import { chooseDevice, planBatch, TURBO_SHAPE } from '../../device.js';
import { loadBinding, packageRoot } from '../../native/binding.js';
import { variantName } from '../../native/variants.js';
import { reportError } from '../errors.js';

/** large-v3-turbo's f16 ggml file, the model `info` sizes its example batch for. */
const TURBO_F16_BYTES = 1.62e9;

export function infoCommand(): Command {
  return new Command('info')
    .description('show versions, the native addon, CPU/GPU devices, ffmpeg and the model cache')
    .addHelpText('after', '\nExamples:\n  $ whisper-serve info\n  $ whisper-serve info --json | jq .devices')
    .option('--json', 'machine-readable output')
    .action((flags: { json?: boolean }) => {
      try {
        const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
        const { path } = loadBinding();
        const cfg = readConfig();
        const { info: sys, plan: device } = chooseDevice(cfg.gpu === 'required' ? 'auto' : cfg.gpu);
        let ffmpeg: unknown;
        try {
          ffmpeg = findFfmpeg(cfg);
        } catch (err) {
          ffmpeg = { error: (err as Error).message };
        }
        const batch = planBatch({ device, config: cfg, modelBytes: TURBO_F16_BYTES, shape: TURBO_SHAPE });
        const info = {
          whisperServe: pkg.version,
          node: process.version,
          whisperCpp: sys.whisperVersion,
          addon: { path, prebuilt: path.includes(`${'prebuilds'}`), variant: variantName(sys), cuda: sys.cudaBuild },
          backends: sys.backends,
          cpuFeatures: sys.features,
          devices: sys.devices,
          ...(sys.cuda ? { cudaRuntime: sys.cuda } : {}),
          device: device.reason,
          defaultBatchSize: { largeModel: batch.batchSize, from: batch.source },
          ffmpeg,
          modelCache: cfg.modelCache,
        };
        process.stdout.write(flags.json ? `${JSON.stringify(info, null, 2)}\n` : `${Object.entries(info).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n')}\n`);
      } catch (err) {
        process.exitCode = reportError(err, false);
      }
    });
}
