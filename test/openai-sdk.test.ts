// The official OpenAI Node SDK, unchanged, against a running server: what a user pointing
// `baseURL` at whisper-serve gets, for every response format, a bad key and the models list.
import { createReadStream } from 'node:fs';
import OpenAI, { AuthenticationError, BadRequestError, NotFoundError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JFK_TEXT, JFK_WAV, TINY_EN, have, normalise, readWav16k, repeatWithSilence } from './helpers/fixtures.js';
import { wavBytes } from './helpers/loopback.js';
import { startServer, type RunningServer } from './helpers/server-process.js';

const KEY = 'sk-test-whisper-serve';
const dir = mkdtempSync(join(tmpdir(), 'ws-openai-'));

describe.skipIf(!have(TINY_EN, JFK_WAV))('the official OpenAI Node SDK against the server', () => {
  let server: RunningServer;
  let client: OpenAI;
  beforeAll(async () => {
    // Batch 1: windows settle two at a time, so a stream has several deltas to send mid-job.
    server = await startServer({ API_KEY: KEY, JOBS_DB: join(dir, 'jobs.sqlite'), MODEL_BATCH_SIZE: '1' });
    client = new OpenAI({ apiKey: KEY, baseURL: `${server.url}/v1`, maxRetries: 0 });
  });
  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  it('transcribes in json (the default) and text, and /metrics counts it', async () => {
    const counted = async () => Number(/^whisper_serve_transcriptions_total\{source="openai"\} (\d+)/m.exec(await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).text())![1]);
    const before = await counted();
    const json = await client.audio.transcriptions.create({ file: createReadStream(JFK_WAV), model: 'whisper-1' });
    expect(normalise(json.text)).toBe(normalise(JFK_TEXT));
    const text = await client.audio.transcriptions.create({ file: createReadStream(JFK_WAV), model: 'whisper-1', response_format: 'text' });
    expect(normalise(text)).toBe(normalise(JFK_TEXT));
    expect((await counted()) - before).toBe(2);
  });

  it('gives srt and vtt captions, and verbose_json with words and segments', async () => {
    const srt = await client.audio.transcriptions.create({ file: createReadStream(JFK_WAV), model: 'whisper-1', response_format: 'srt' });
    expect(srt).toMatch(/^1\n00:00:00,000 --> /);
    const vtt = await client.audio.transcriptions.create({ file: createReadStream(JFK_WAV), model: 'whisper-1', response_format: 'vtt' });
    expect(vtt).toMatch(/^WEBVTT\n/);
    const verbose = await client.audio.transcriptions.create({
      file: createReadStream(JFK_WAV),
      model: 'whisper-1',
      response_format: 'verbose_json',
      timestamp_granularities: ['word', 'segment'],
    });
    expect(verbose.language).toBe('english'); // as OpenAI's API spells it
    expect(verbose.words!.length).toBeGreaterThan(15);
    expect(verbose.segments![0]).toMatchObject({ start: 0, text: expect.any(String) });
  });

  it('surfaces a wrong key as AuthenticationError, not a connection error, for a large upload too', async () => {
    // 20 min of audio (38 MB): the server answers 401 long before the upload is over.
    const big = join(dir, 'long.wav');
    writeFileSync(big, wavBytes(repeatWithSilence(readWav16k(JFK_WAV), 100, 1)));
    const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${server.url}/v1`, maxRetries: 0 });
    for (const file of [JFK_WAV, big]) {
      const err = await wrong.audio.transcriptions.create({ file: createReadStream(file), model: 'whisper-1' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthenticationError);
      expect((err as AuthenticationError).status).toBe(401);
    }
  });

  it('refuses a translation on an English-only model as BadRequestError', async () => {
    const err = await client.audio.translations.create({ file: createReadStream(JFK_WAV), model: 'whisper-1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as BadRequestError).message).toMatch(/English-only/);
  });

  it('streams with stream=true: transcript.text.delta events while the job runs, then transcript.text.done with the whole text', async () => {
    // ~2 min, several windows: the first settle while the rest are still decoding.
    const long = join(dir, 'two-minutes.wav');
    writeFileSync(long, wavBytes(repeatWithSilence(readWav16k(JFK_WAV), 10, 1.2)));
    const completedLines = () => server.stderr().split('\n').filter((l) => l.includes('Transcription completed')).length;
    const before = completedLines();
    const stream = await client.audio.transcriptions.create({ file: createReadStream(long), model: 'whisper-1', stream: true });
    const deltas: string[] = [];
    let doneText: string | undefined;
    let completedAtFirstDelta: number | undefined;
    for await (const event of stream) {
      if (event.type === 'transcript.text.delta') {
        completedAtFirstDelta ??= completedLines() - before;
        deltas.push(event.delta);
      } else if (event.type === 'transcript.text.done') {
        doneText = event.text;
      }
    }
    expect(completedAtFirstDelta).toBe(0); // the first delta came before the server finished the job
    expect(deltas.length).toBeGreaterThan(3);
    expect(doneText).toBe(deltas.join('').trim());
    expect(normalise(doneText!).split('ask not what your country').length - 1).toBe(10);
  });

  it('refuses stream=true with captions as BadRequestError', async () => {
    const err = await client.audio.transcriptions.create({ file: createReadStream(JFK_WAV), model: 'whisper-1', response_format: 'srt', stream: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as BadRequestError).message).toMatch(/stream/);
  });

  it('lists its models at /v1/models', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toContain('whisper-1');
    expect((await client.models.retrieve('whisper-1')).id).toBe('whisper-1');
    await expect(client.models.retrieve('gpt-4o')).rejects.toBeInstanceOf(NotFoundError);
  });
});
