// The decoder against hostile input (issue 24). ffmpeg as a decoder, never a fetcher: DASH manifests, HLS playlists and polyglots
// that name a local secret file and a loopback canary, sent as an upload, as audio_base64 and to
// the CLI. The canary counts connections (it must count 0) and the secret's words (jfk's) must
// appear in no answer. Then the inputs that used to crash or stall the server: a 100,000-character
// prompt and a job that never ends (JOB_TIMEOUT), decode thresholds that fail every window, beam
// sizes whisper.cpp refuses, samples 1e30 times full scale, 32- and 64-channel WAVs.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFfmpeg, releaseOf } from '../lib/audio/ffmpeg.js';
import { FIXTURE_FFMPEG, JFK_TEXT, JFK_WAV, TINY_EN, have, normalise } from './helpers/fixtures.js';
import { listen, type Loopback } from './helpers/loopback.js';
import { BIN, startServer, untilDone, type RunningServer } from './helpers/server-process.js';

const ready = have(TINY_EN, JFK_WAV);
const dir = mkdtempSync(join(tmpdir(), 'ws-hostile-ffmpeg-'));
const serverTmp = join(dir, 'server-tmp');
const file = (name: string) => join(dir, name);
/** The secret's words: a leak shows up as any of them in an answer. */
const SECRET_WORDS = /americans|country|fellow/i;

function mpd(baseUrl: string): string {
  return `<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT11S" minBufferTime="PT2S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">
<Period><AdaptationSet mimeType="audio/mp4"><Representation id="a" bandwidth="64000" codecs="mp4a.40.2"><BaseURL>${baseUrl}</BaseURL></Representation></AdaptationSet></Period></MPD>
`;
}
/** The server's JOB_TIMEOUT here, seconds. */
const JOB_LIMIT = 8;
const hls = (entry: string, end = true) => `#EXTM3U\n#EXT-X-TARGETDURATION:12\n#EXTINF:11,\n${entry}\n${end ? '#EXT-X-ENDLIST\n' : ''}#`;

describe.skipIf(!ready)('ffmpeg never opens what a file names', () => {
  let canary: Loopback;
  let connections = 0;
  let server: RunningServer;
  const attacks = new Map<string, Buffer>();

  beforeAll(async () => {
    canary = await listen((_req, res) => res.writeHead(404).end());
    canary.server.on('connection', () => connections++);
    execFileSync(FIXTURE_FFMPEG, ['-y', '-v', 'error', '-i', JFK_WAV, '-c:a', 'aac', file('secret.m4a')]);
    execFileSync(FIXTURE_FFMPEG, ['-y', '-v', 'error', '-f', 'lavfi', '-i', 'sine=f=440:d=3', '-write_xing', '0', '-id3v2_version', '0', file('tone.mp3')]);
    const tone = execFileSync('cat', [file('tone.mp3')]);
    const secret = `file://${file('secret.m4a')}`;
    const http = `${canary.url}/x.m4a`;
    attacks.set('dash-file.mpd', Buffer.from(mpd(secret)));
    attacks.set('dash-http.mpd', Buffer.from(mpd(http)));
    attacks.set('hls-polyglot.mp3', Buffer.concat([Buffer.from(hls(`file://${JFK_WAV}`)), tone]));
    attacks.set('hls-endless.mp3', Buffer.concat([Buffer.from(hls(secret, false)), tone]));
    attacks.set('hls-http.m3u8', Buffer.from(hls(http)));
    attacks.set('concat.txt', Buffer.from(`ffconcat version 1.0\nfile '${file('secret.m4a')}'\n`));
    attacks.set('sdp.sdp', Buffer.from(`v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio ${canary.port} RTP/AVP 0\n`));
    for (const [name, bytes] of attacks) writeFileSync(file(name), bytes);
    // No ALLOW_PRIVATE_URLS: the canary is a private address the server must never reach.
    server = await startServer({ JOBS_DB: file('jobs.sqlite'), WHISPER_SERVE_TMP: serverTmp, ALLOW_PRIVATE_URLS: '', JOB_TIMEOUT: String(JOB_LIMIT) });
  });

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    await canary?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('decodes with a paired ffmpeg and ffprobe of one current version', () => {
    const ff = findFfmpeg();
    expect(releaseOf(ff.version)!.major).toBeGreaterThanOrEqual(6);
    expect(releaseOf(ff.ffprobeVersion)).toEqual(releaseOf(ff.version));
    const info = JSON.parse(execFileSync(process.execPath, [BIN, 'info', '--json'], { encoding: 'utf8' })) as { ffmpeg: { version: string; ffprobeVersion: string } };
    expect(info.ffmpeg.version).toBe(info.ffmpeg.ffprobeVersion);
  });

  it('refuses every manifest and playlist as an upload, as audio_base64 and from the CLI: UNSUPPORTED_FORMAT, nothing read, nothing reached', async () => {
    for (const [name, bytes] of attacks) {
      const f = new FormData();
      f.append('file', new Blob([bytes]), name);
      f.append('model', 'whisper-1');
      const r = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: f });
      const text = await r.text();
      expect(r.status, `${name}: ${text}`).toBe(400);
      expect(JSON.parse(text).error.code, name).toBe('UNSUPPORTED_FORMAT');
      expect(text).not.toMatch(SECRET_WORDS);

      const run = await fetch(`${server.url}/run`, { method: 'POST', body: JSON.stringify({ input: { audio_base64: bytes.toString('base64') } }), headers: { 'content-type': 'application/json' } });
      const job = await untilDone(server.url, ((await run.json()) as { id: string }).id, 20_000);
      expect(job.status, name).toBe('FAILED');
      expect(JSON.stringify(job)).toMatch(/UNSUPPORTED_FORMAT/);
      expect(JSON.stringify(job)).not.toMatch(SECRET_WORDS);

      const cli = spawnSync(process.execPath, [BIN, 'transcribe', file(name), '-m', TINY_EN], { encoding: 'utf8', timeout: 60_000 });
      expect(cli.status, `${name}: ${cli.stderr}`).toBe(1);
      expect(cli.stderr).toMatch(/UNSUPPORTED_FORMAT/);
      expect(cli.stdout + cli.stderr).not.toMatch(SECRET_WORDS);
    }
    expect(connections).toBe(0);
    expect(readdirSync(serverTmp)).toEqual([]);
    const health = (await (await fetch(`${server.url}/health`)).json()) as { workers: { running: number }; model: string | null };
    expect(health.workers.running).toBe(0);
    expect(health.model ?? '').not.toContain('/'); // a name, never a server path
  });

  it('a 100,000-character prompt is cut to its tail, never a crash; a job that runs away ends at JOB_TIMEOUT and frees its slot', async () => {
    const jfk = execFileSync('cat', [JFK_WAV]);
    // 'x' × 100,000 overflowed the tokeniser's stack (SIGSEGV); its tail still sends tiny.en into
    // loops at every fallback temperature (48 s for 11 s of audio here): JOB_TIMEOUT ends it.
    const f = new FormData();
    f.append('file', new Blob([jfk]), 'jfk.wav');
    f.append('model', 'whisper-1');
    f.append('prompt', 'x'.repeat(100_000));
    const t0 = Date.now();
    const r = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: f });
    const body = await r.text();
    expect([200, 504], body).toContain(r.status);
    if (r.status === 504) expect(JSON.parse(body).error.code).toBe('JOB_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan((JOB_LIMIT + 5) * 1000);

    const runaway = await fetch(`${server.url}/run`, { method: 'POST', body: JSON.stringify({ input: { audio_base64: jfk.toString('base64'), initial_prompt: 'x'.repeat(1_000_000) } }) });
    const stuck = await untilDone(server.url, ((await runaway.json()) as { id: string }).id, (JOB_LIMIT + 10) * 1000);
    expect(['COMPLETED', 'FAILED']).toContain(stuck.status);
    if (stuck.status === 'FAILED') expect(JSON.stringify(stuck)).toMatch(/JOB_TIMEOUT/);
    expect(((await (await fetch(`${server.url}/health`)).json()) as { workers: { running: number } }).workers.running).toBe(0);

    // Without fallback the long prompts finish, words and accents alike.
    for (const prompt of ['é'.repeat(50_000), 'word '.repeat(20_000)]) {
      const run = await fetch(`${server.url}/run`, { method: 'POST', body: JSON.stringify({ input: { audio_base64: jfk.toString('base64'), initial_prompt: prompt, temperature_increment_on_fallback: 0 } }) });
      const job = await untilDone(server.url, ((await run.json()) as { id: string }).id);
      expect(job.status, JSON.stringify(job)).toBe('COMPLETED');
    }
    expect(server.child.exitCode).toBeNull();
  });

  it('decode thresholds and beam sizes outside what bounds a window are refused, naming the field', async () => {
    const audio = execFileSync('cat', [JFK_WAV]).toString('base64');
    for (const [field, value] of [['compression_ratio_threshold', 1e-300], ['logprob_threshold', 1e308], ['beam_size', 9], ['best_of', 16], ['temperature', 5], ['patience', 0]] as const) {
      const r = await fetch(`${server.url}/run`, { method: 'POST', body: JSON.stringify({ input: { audio_base64: audio, [field]: value } }) });
      expect(r.status, field).toBe(400);
      expect(await r.text()).toContain(`input.${field}`);
    }
  });

  it('samples far past full scale are CORRUPT_AUDIO at once; 32- and 64-channel WAVs are mixed down', async () => {
    const pcm = execFileSync(FIXTURE_FFMPEG, ['-v', 'error', '-i', JFK_WAV, '-f', 'f32le', '-']);
    const loud = Buffer.alloc(pcm.length);
    for (let i = 0; i < pcm.length; i += 4) loud.writeFloatLE(pcm.readFloatLE(i) * 1e30, i);
    writeFileSync(file('loud.raw'), loud);
    execFileSync(FIXTURE_FFMPEG, ['-y', '-v', 'error', '-f', 'f32le', '-ar', '16000', '-ac', '1', '-i', file('loud.raw'), '-c:a', 'pcm_f32le', file('loud.wav')]);
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [BIN, 'transcribe', file('loud.wav'), '-m', TINY_EN], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toMatch(/CORRUPT_AUDIO: the audio holds a sample .* times full scale/);
    expect(Date.now() - t0).toBeLessThan(60_000);

    for (const channels of [32, 64]) {
      const head = Buffer.alloc(44);
      const frames = 16000 * 11;
      const jfk = execFileSync(FIXTURE_FFMPEG, ['-v', 'error', '-i', JFK_WAV, '-f', 's16le', '-']);
      const data = Buffer.alloc(frames * channels * 2);
      for (let i = 0; i < frames && 2 * i < jfk.length; i++) for (let c = 0; c < channels; c++) data.writeInt16LE(jfk.readInt16LE(2 * i), 2 * (i * channels + c));
      head.write('RIFF', 0); head.writeUInt32LE(36 + data.length, 4); head.write('WAVEfmt ', 8); head.writeUInt32LE(16, 16);
      head.writeUInt16LE(1, 20); head.writeUInt16LE(channels, 22); head.writeUInt32LE(16000, 24); head.writeUInt32LE(16000 * channels * 2, 28);
      head.writeUInt16LE(channels * 2, 32); head.writeUInt16LE(16, 34); head.write('data', 36); head.writeUInt32LE(data.length, 40);
      writeFileSync(file(`ch${channels}.wav`), Buffer.concat([head, data]));
      const out = spawnSync(process.execPath, [BIN, 'transcribe', file(`ch${channels}.wav`), '-m', TINY_EN], { encoding: 'utf8', timeout: 60_000 });
      expect(out.status, out.stderr).toBe(0);
      expect(normalise(out.stdout)).toBe(normalise(JFK_TEXT)); // jfk on every channel, at equal shares: jfk
    }
  });
});
