// The CUDA build cannot run in CI (no GPU, and ggml-cuda took 28 min for one architecture on two
// cores), but our own CUDA code can still be compiled here against the real CUDA runtime headers
// (scripts/pypi-cuda-toolkit.sh --headers-only, which `npm test` fetches), and the fallback a CUDA
// build takes on a machine without a driver is decided in TypeScript from what the addon reports.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planDevice } from '../lib/device.js';
import { WhisperServeError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import type { NativeSystemInfo } from '../lib/native/binding.js';
import { packageRoot } from '../lib/native/binding.js';
import { have } from './helpers/fixtures.js';

const cudaRoot = process.env.CUDA_HEADERS_DIR ?? join(packageRoot, 'models', '.cache', 'cuda-headers');
const cudaHeader = join(cudaRoot, 'include', 'cuda_runtime_api.h');
const haveCudaHeaders = have(cudaHeader); // `npm test` fetches them first (pretest: scripts/pypi-cuda-toolkit.sh --headers-only)
const require = createRequire(import.meta.url);

describe.skipIf(!haveCudaHeaders)('CUDA-only native code', () => {
  it('compiles with WHISPER_SERVE_CUDA against the CUDA runtime headers', () => {
    const whisper = spawnSync(process.execPath, [join(packageRoot, 'third_party', 'whisper-cpp.mjs')], { encoding: 'utf8' }).stdout.trim();
    const nodeInclude = [join(process.execPath, '..', '..', 'include', 'node'), '/usr/include/node'];
    const sources = readdirSync(join(packageRoot, 'native')).filter(
      (f) => f.endsWith('.cc') && readFileSync(join(packageRoot, 'native', f), 'utf8').includes('WHISPER_SERVE_CUDA'),
    );
    expect(sources).toContain('system_info.cc');
    for (const source of sources) {
      const r = spawnSync(
        'g++',
        [
          '-std=c++17', '-fsyntax-only', '-Wall', '-Werror',
          '-DWHISPER_SERVE_CUDA=1', '-DNAPI_VERSION=8', '-DNODE_ADDON_API_DISABLE_DEPRECATED', '-DNAPI_CPP_EXCEPTIONS',
          `-I${join(cudaRoot, 'include')}`, `-I${join(whisper, 'include')}`, `-I${join(whisper, 'ggml', 'include')}`,
          `-I${require('node-addon-api').include_dir as string}`, ...nodeInclude.map((d) => `-I${d}`),
          join(packageRoot, 'native', source),
        ],
        { encoding: 'utf8' },
      );
      expect(r.status, `${source}\n${r.stderr}`).toBe(0);
    }
  });
});

// What the CUDA build (CUDA 13.0, built here with scripts/pypi-cuda-toolkit.sh) reported on this
// machine, which has no NVIDIA driver: systemInfo() as it returned it, CPU features shortened.
const cudaBuildWithoutDriver: NativeSystemInfo = {
  whisperVersion: '1.9.1',
  features: 'WHISPER : COREML = 0 | OPENVINO = 0 | CUDA : ARCHS = 750 | NO_VMM = 1 | …',
  cudaBuild: true,
  cuda: { deviceCount: 0, error: 'CUDA driver version is insufficient for CUDA runtime version', driverVersion: 0, runtimeVersion: 13000 },
  backends: [{ name: 'CUDA', file: '/work/main/build-gpu/whisper_serve.node' }, { name: 'CPU', file: '/work/main/build-gpu/whisper_serve.node' }],
  devices: [{ name: 'CPU', description: 'AMD EPYC', type: 'cpu', freeBytes: 25276063744, totalBytes: 25276063744 }],
};

describe('GPU policy of a CUDA build without a usable GPU', () => {
  it('falls back to the CPU with one warning that gives the runtime reason and what to check', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', format: 'text', write: (line) => lines.push(line) });
    const plan = planDevice(cudaBuildWithoutDriver, 'auto', log);
    expect(plan).toMatchObject({ useGpu: false, reason: 'CPU (no usable CUDA device)' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/\| WARN \| .*running on the CPU \(CUDA driver version is insufficient .* no NVIDIA driver was found .* needs CUDA 13\.0\): check `nvidia-smi`/);
  });

  it('fails with CUDA_NOT_AVAILABLE naming driver, device count and what to check when a GPU is required', () => {
    const err = (() => {
      try {
        planDevice(cudaBuildWithoutDriver, 'required');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(WhisperServeError);
    expect((err as WhisperServeError).code).toBe('CUDA_NOT_AVAILABLE');
    expect((err as WhisperServeError).message).toMatch(/0 CUDA devices; no NVIDIA driver was found \(libcuda\.so\.1\); this build needs CUDA 13\.0.*--gpus all/);
  });

  it('names the driver\'s CUDA version when there is one that is too old', () => {
    const oldDriver = { ...cudaBuildWithoutDriver, cuda: { ...cudaBuildWithoutDriver.cuda!, driverVersion: 12040 } };
    expect(() => planDevice(oldDriver, 'required')).toThrow(/the driver supports CUDA 12\.4; this build needs CUDA 13\.0/);
  });
});
