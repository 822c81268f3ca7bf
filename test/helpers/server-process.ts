// `whisper-serve serve` as a child process on a free loopback port, as a user would start it.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../lib/native/binding.js';
import { TINY_EN } from './fixtures.js';

export const BIN = join(packageRoot, 'bin', 'whisper-serve.js');

export interface RunningServer {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  stderr: () => string;
}

export async function startServer(env: Record<string, string>): Promise<RunningServer> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], {
    env: { ...process.env, ALLOW_PRIVATE_URLS: '1', WHISPER_MODEL: TINY_EN, LOG_FORMAT: 'text', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return serving(child);
}

/** A server process started any way (stderr piped, LOG_FORMAT=text): resolves once it says where it listens. */
export async function serving(child: ChildProcess): Promise<RunningServer> {
  let stderr = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /listening on (http:\/\/[\d.:]+)/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`server exited ${code}: ${stderr}`)));
  });
  return { child, url, exited, stderr: () => stderr };
}

/** Polls /status/:id every 100 ms until the job leaves the queue. */
export async function untilDone(url: string, id: string, timeoutMs = 120_000, headers: Record<string, string> = {}): Promise<any> {
  const t0 = Date.now();
  for (;;) {
    const s = (await (await fetch(`${url}/status/${id}`, { headers })).json()) as { status: string };
    if (!['IN_QUEUE', 'IN_PROGRESS'].includes(s.status)) return s;
    if (Date.now() - t0 > timeoutMs) throw new Error(`job ${id} still ${s.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls until the job is running. */
export async function untilRunning(url: string, id: string, headers: Record<string, string> = {}): Promise<void> {
  for (;;) {
    const s = ((await (await fetch(`${url}/status/${id}`, { headers })).json()) as { status: string }).status;
    if (s !== 'IN_QUEUE') return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
