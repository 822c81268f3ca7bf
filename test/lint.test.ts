// The lint that CI runs (`npm test` runs `npm run lint` first) and proof that its rules bite:
// imports that point up the layers, or sideways between shells, are errors, and so is reading the
// environment below the shells; so is C++ that clang-format would change.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { have } from './helpers/fixtures.js';

const eslint = join(packageRoot, 'node_modules', '.bin', 'eslint');
const clangFormat = join(packageRoot, 'models', '.cache', 'clang-format', 'clang_format', 'data', 'bin', 'clang-format');
const lintAs = (file: string, code: string) => spawnSync(eslint, ['--stdin', '--stdin-filename', file], { cwd: packageRoot, input: code, encoding: 'utf8' });

describe.skipIf(!have(eslint, clangFormat))('lint', () => {
  it('passes on the tree as it is', () => {
    expect(() => execFileSync('npm', ['run', 'lint', '--silent'], { cwd: packageRoot, stdio: 'pipe' })).not.toThrow();
  });

  it.each([
    ['lib/whisper.ts', "import { handleJob } from './jobs/handler.js';"], // core → jobs
    ['lib/whisper.ts', "import { loadAudio } from './audio/source.js';"], // core → audio decoding
    ['lib/whisper.ts', "import { resolveModel } from './models/registry.js';"], // core → model policy
    ['lib/windows.ts', "import { toSrt } from './output/formats.js';"], // core → output
    ['lib/audio/fetch.ts', "import { JobQueue } from '../jobs/queue.js';"], // audio → jobs
    ['lib/jobs/queue.ts', "import { Metrics } from '../server/metrics.js';"], // jobs → a shell
    ['lib/server/app.ts', "import { RunpodWorker } from '../runpod/worker.js';"], // shell → shell
    ['lib/runpod/worker.ts', "import { createApp } from '../server/app.js';"],
    ['lib/config.ts', "import { loadAudio } from './audio/source.js';"],
    ['lib/cli/commands/runpod.ts', "import { serveCommand } from './serve.js';"], // command → command
    ['lib/device.ts', "import { readConfig } from './config.js';"], // the environment, below the shells
    ['lib/audio/decode.ts', "import { readConfig } from '../config.js';"],
    ['lib/jobs/handler.ts', "import { preloadWanted } from '../config.js';"],
    ['lib/server/openai.ts', "import { readServerConfig } from '../config.js';"],
  ])('refuses an upward or sideways import in %s', (file, line) => {
    const r = lintAs(file, `${line}\nexport const used = [${/\{ (\w+) \}/.exec(line)![1]}];\n`);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/no-restricted-imports/);
  });

  it('lets imports that point down pass', () => {
    expect(lintAs('lib/jobs/handler.ts', "import { Whisper } from '../whisper.js';\nexport const used = [Whisper];\n").status).toBe(0);
    expect(lintAs('lib/whisper.ts', "import { readGgmlModel } from './models/ggml-format.js';\nexport const used = [readGgmlModel];\n").status).toBe(0);
    // The environment: read by the commands and the library's entry, its defaults used anywhere.
    expect(lintAs('lib/cli/commands/info.ts', "import { readConfig } from '../../config.js';\nexport const used = [readConfig];\n").status).toBe(0);
    expect(lintAs('lib/api.ts', "import { readConfig } from './config.js';\nexport const used = [readConfig];\n").status).toBe(0);
    expect(lintAs('lib/audio/decode.ts', "import { DEFAULTS } from '../config.js';\nexport const used = [DEFAULTS];\n").status).toBe(0);
  });

  it('refuses C++ that clang-format would change', () => {
    const r = spawnSync(clangFormat, ['--dry-run', '-Werror', '--assume-filename', join(packageRoot, 'native', 'x.cc')], { input: 'int  f( int a ){return a;}\n', encoding: 'utf8' });
    expect(r.status).not.toBe(0);
  });
});
