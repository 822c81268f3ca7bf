/**
 * Audio bytes → 16 kHz mono Float32 PCM. The container is found by probing the bytes
 * (ffprobe), never by the file name; ffmpeg decodes straight into memory over a pipe
 * (no temp WAV). A plain 16 kHz mono s16 WAV is read directly, without ffmpeg.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { WhisperServeError } from '../errors.js';
import { SAMPLE_RATE } from '../windows.js';
import { findFfmpeg } from './ffmpeg.js';

export interface DecodedAudio {
  pcm: Float32Array;
  /** Seconds. */
  duration: number;
  /** Container (ffprobe's format_name) and codec of the audio stream. */
  format: string;
  codec: string;
  decoder: 'wav' | 'ffmpeg';
}

interface Probe {
  format: string;
  codec: string;
}

/**
 * Reads a 16 kHz mono 16-bit PCM WAV without ffmpeg; undefined for anything else (ffmpeg then
 * handles it). Only the canonical layout (fmt chunk first) is taken, so the header decides
 * before the file is read whole.
 */
export function readPlainWav(path: string): Float32Array | undefined {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(36);
  const n = readSync(fd, head, 0, 36, 0);
  closeSync(fd);
  const plain =
    n === 36 &&
    head.toString('ascii', 0, 4) === 'RIFF' &&
    head.toString('ascii', 8, 16) === 'WAVEfmt ' &&
    head.readUInt16LE(20) === 1 && // PCM
    head.readUInt16LE(22) === 1 && // mono
    head.readUInt32LE(24) === SAMPLE_RATE &&
    head.readUInt16LE(34) === 16;
  if (!plain) return undefined;
  const buf = readFileSync(path);
  for (let pos = 12; pos + 8 <= buf.length; ) {
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (buf.toString('ascii', pos, pos + 4) === 'data') {
      const count = Math.floor((Math.min(buf.length, body + size) - body) / 2);
      const pcm = new Float32Array(count);
      for (let i = 0; i < count; i++) pcm[i] = buf.readInt16LE(body + 2 * i) / 32768;
      return pcm;
    }
    pos = body + size + (size & 1);
  }
  return undefined;
}

function probe(path: string): Probe | undefined {
  const ff = findFfmpeg();
  if (!ff.ffprobe) return undefined;
  const r = spawnSync(
    ff.ffprobe,
    ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name:format=format_name', '-of', 'json', path],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (r.status !== 0) {
    throw new WhisperServeError('UNSUPPORTED_FORMAT', `not a media file ffmpeg can read (${(r.stderr || '').trim().split('\n').pop() ?? 'probe failed'})`);
  }
  const parsed = JSON.parse(r.stdout || '{}') as { streams?: Array<{ codec_type?: string; codec_name?: string }>; format?: { format_name?: string } };
  const audio = parsed.streams?.find((s) => s.codec_type === 'audio');
  const format = parsed.format?.format_name ?? 'unknown';
  if (!audio) throw new WhisperServeError('UNSUPPORTED_FORMAT', `the file (${format}) has no audio stream`);
  return { format, codec: audio.codec_name ?? 'unknown' };
}

function ffmpegDecode(path: string, signal?: AbortSignal): Promise<Float32Array> {
  const ff = findFfmpeg();
  return new Promise((resolve, reject) => {
    const child = spawn(
      ff.path,
      ['-nostdin', '-hide_banner', '-loglevel', 'error', '-i', path, '-vn', '-map', '0:a:0', '-ac', '1', '-ar', String(SAMPLE_RATE), '-f', 'f32le', 'pipe:1'],
      { stdio: ['ignore', 'pipe', 'pipe'], ...(signal && { signal }) },
    );
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 4000) stderr += c.toString();
    });
    child.on('error', (err) => {
      reject(err.name === 'AbortError' ? new WhisperServeError('ABORTED', 'decoding aborted') : new WhisperServeError('CORRUPT_AUDIO', `ffmpeg failed: ${err.message}`));
    });
    child.on('close', (code) => {
      if (code !== 0) {
        const last = stderr.trim().split('\n').pop() ?? '';
        return reject(new WhisperServeError('CORRUPT_AUDIO', `ffmpeg could not decode the audio: ${last || `exit code ${code}`}`));
      }
      const all = Buffer.concat(chunks);
      const pcm = new Float32Array(Math.floor(all.length / 4));
      Buffer.from(pcm.buffer).set(all.subarray(0, pcm.length * 4));
      resolve(pcm);
    });
  });
}

export async function decodeFile(path: string, options: { signal?: AbortSignal } = {}): Promise<DecodedAudio> {
  if (statSync(path).size === 0) throw new WhisperServeError('EMPTY_AUDIO', 'the audio file is empty (0 bytes)');
  const plain = readPlainWav(path);
  let decoded: DecodedAudio;
  if (plain) {
    decoded = { pcm: plain, duration: plain.length / SAMPLE_RATE, format: 'wav', codec: 'pcm_s16le', decoder: 'wav' };
  } else {
    const probed = probe(path);
    const pcm = await ffmpegDecode(path, options.signal);
    decoded = { pcm, duration: pcm.length / SAMPLE_RATE, format: probed?.format ?? 'unknown', codec: probed?.codec ?? 'unknown', decoder: 'ffmpeg' };
  }
  if (decoded.pcm.length === 0) throw new WhisperServeError('EMPTY_AUDIO', 'the audio decodes to no samples');
  return decoded;
}
