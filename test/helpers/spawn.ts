// A child process run to its end without blocking the test's worker: vitest's own calls to its
// main process time out (60 s) behind an event loop held by spawnSync, even when every test passes.
import { spawn } from 'node:child_process';

export interface Finished {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runChild(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string | Buffer; timeout?: number; cwd?: string } = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], timeout: options.timeout ?? 300_000, ...(options.cwd && { cwd: options.cwd }) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
    child.stdin.end(options.input);
  });
}
