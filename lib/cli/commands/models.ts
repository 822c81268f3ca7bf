/** `whisper-serve models import|inspect|ls`. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { readGgmlModel } from '../../models/ggml-format.js';
import { importCt2 } from '../../models/import-ct2.js';
import { knownModels, modelCacheDir, resolveModel } from '../../models/registry.js';
import { reportError } from '../errors.js';

export function modelsCommand(): Command {
  const models = new Command('models').description('import, inspect and list whisper models');
  models
    .command('import')
    .description('convert a CTranslate2 (faster-whisper) Whisper directory to a whisper.cpp ggml file')
    .argument('<dir>', 'directory with model.bin, config.json and tokenizer.json or vocabulary.*')
    .option('-o, --output <file>', 'output file', 'ggml-model.bin')
    .addOption(new Option('--type <type>', 'weight type').choices(['f16', 'f32']).default('f16'))
    .action((dir: string, flags: { output: string; type: 'f16' | 'f32' }) => {
      try {
        importCt2(dir, flags.output, { type: flags.type });
        process.stderr.write(`wrote ${flags.output}\n`);
      } catch (err) {
        process.exitCode = reportError(err, false);
      }
    });
  models
    .command('inspect')
    .description('hyper-parameters, vocabulary and tensors of a ggml model (name or path)')
    .argument('<model>')
    .option('--json', 'machine-readable output')
    .action((model: string, flags: { json?: boolean }) => {
      try {
        const m = readGgmlModel(resolveModel(model).path);
        const types = m.tensors.reduce<Record<string, number>>((a, t) => ({ ...a, [t.type]: (a[t.type] ?? 0) + 1 }), {});
        const out = {
          path: m.path,
          bytes: m.size,
          hparams: m.hparams,
          multilingual: m.hparams.nVocab >= 51865,
          vocab: m.vocab.length,
          tensors: m.tensors.length,
          tensorTypes: types,
        };
        process.stdout.write(flags.json ? `${JSON.stringify(out, null, 2)}\n` : `${Object.entries(out).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join('\n')}\n`);
      } catch (err) {
        process.exitCode = reportError(err, false);
      }
    });
  models
    .command('ls')
    .description('known models and which are in the cache')
    .action(() => {
      const dir = modelCacheDir();
      const present = new Set(existsSync(dir) ? readdirSync(dir) : []);
      for (const [name, e] of Object.entries(knownModels())) {
        const here = present.has(e.file);
        const size = here ? `${(statSync(join(dir, e.file)).size / 1e6).toFixed(0)} MB` : '';
        process.stdout.write(`${here ? '*' : ' '} ${name.padEnd(16)} ${e.params.padEnd(6)} ${size}\n`);
      }
      process.stdout.write(`cache: ${dir}\n`);
    });
  return models;
}
