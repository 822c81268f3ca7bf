// No Docker engine runs here: the Dockerfile is checked with what can run. Every RUN step must
// parse as shell, and the build stage's script (docker/build-app.sh) is plain sh.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';

const dockerfile = readFileSync(join(packageRoot, 'Dockerfile'), 'utf8');
// Instructions with their continuation lines joined, comments dropped.
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

describe('Dockerfile', () => {
  it('has RUN steps that all parse as sh', () => {
    const runs = instructions.filter((l) => l.startsWith('RUN ')).map((l) => l.slice(4));
    expect(runs.length).toBeGreaterThan(3);
    for (const step of runs) {
      const r = spawnSync('sh', ['-n', '-c', step], { encoding: 'utf8' });
      expect(r.status, `${step}\n${r.stderr}`).toBe(0);
    }
    const script = spawnSync('sh', ['-n', join(packageRoot, 'docker', 'build-app.sh')], { encoding: 'utf8' });
    expect(script.status, script.stderr).toBe(0);
  });

  it('runs the RunPod worker as a non-root user with the seed\'s model cache and a health check', () => {
    const last = instructions.slice(instructions.lastIndexOf(instructions.filter((l) => l.startsWith('FROM ')).at(-1)!));
    expect(last.some((l) => /^USER (?!root)\w+/.test(l))).toBe(true);
    expect(last.join('\n')).toMatch(/WHISPER_MODEL_CACHE=\/whisper_model_cache/);
    expect(last.some((l) => l.startsWith('HEALTHCHECK '))).toBe(true);
    expect(last.filter((l) => /^(ENTRYPOINT|CMD) /.test(l))).toEqual(['ENTRYPOINT ["node", "bin/whisper-serve.js"]', 'CMD ["runpod"]']);
    // The runtime stage is built FROM a CUDA base image and gets no compiler.
    expect(last[0]).toMatch(/^FROM nvidia\/cuda:\$\{CUDA_VERSION\}-base-/);
    expect(last.join('\n')).not.toMatch(/\b(g\+\+|cmake|build-essential)\b/);
  });
});
