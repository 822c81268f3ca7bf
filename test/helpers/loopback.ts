// Real HTTP servers on 127.0.0.1 for tests: audio files to fetch, and a RunPod API stand-in.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { repeatWithSilence, readWav16k } from './fixtures.js';

export interface Loopback {
  url: string;
  /** The port alone (for URLs a test spells itself). */
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** A server on a free port of `host` (any 127.x.y.z: all of 127/8 is loopback). */
export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void, host = '127.0.0.1'): Promise<Loopback> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** 16 kHz mono s16 WAV bytes. */
export function wavBytes(pcm: Float32Array): Buffer {
  const data = Buffer.alloc(pcm.length * 2);
  pcm.forEach((x, i) => data.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(x * 32767))), i * 2));
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(16000, 24);
  h.writeUInt32LE(32000, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

/** Serves /jfk.wav, /jfk-slow.wav (half, a 2 s pause, the rest) and /jfk-xN.wav (jfk N times with 2 s gaps); else 404. */
export function audioServer(jfkWav: string, host = '127.0.0.1'): Promise<Loopback> {
  const cache = new Map<number, Buffer>();
  return listen((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/jfk.wav') return res.end(readFileSync(jfkWav));
    if (path === '/jfk-slow.wav') {
      const bytes = readFileSync(jfkWav);
      res.writeHead(200, { 'content-length': bytes.length });
      res.write(bytes.subarray(0, bytes.length >> 1));
      const t = setTimeout(() => res.end(bytes.subarray(bytes.length >> 1)), 2000);
      return res.on('close', () => clearTimeout(t));
    }
    const m = /^\/jfk-x(\d+)\.wav$/.exec(path);
    if (m) {
      const n = Number(m[1]);
      if (!cache.has(n)) cache.set(n, wavBytes(repeatWithSilence(readWav16k(jfkWav), n, 2)));
      return res.end(cache.get(n));
    }
    res.writeHead(404).end('not found');
  }, host);
}
