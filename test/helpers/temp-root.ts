// Global setup: every test process (and the servers and workers the tests spawn) puts its
// per-job temp dirs under one fresh root; after the whole suite that root must be empty.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'ws-suite-tmp-'));
  process.env.WHISPER_SERVE_TMP = root;
  return () => {
    const left = readdirSync(root);
    rmSync(root, { recursive: true, force: true });
    if (left.length) throw new Error(`temp files left behind after the suite: ${left.join(', ')}`);
  };
}
