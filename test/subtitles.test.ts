// Subtitles people can read, from real speech: ten minutes of espeak-ng reading the GPL (sentences
// and clauses of every length) through the CLI as srt and vtt, cut on word times and on estimated
// ones, within the default limits (2 lines of 42 characters, 7 s) and narrower ones, no word lost;
// the same options as RunPod job fields (test mode) and as OpenAI-route form fields.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, have, normalise } from './helpers/fixtures.js';
import { startServer, type RunningServer } from './helpers/server-process.js';
import { runChild } from './helpers/spawn.js';

const bin = join(packageRoot, 'bin', 'whisper-serve.js');
const GPL = '/usr/share/common-licenses/GPL-3';
const espeak = await runChild('espeak-ng', ['--version']).then((r) => r.status === 0, () => false);
if (!espeak && process.env.CI === 'true') throw new Error('cannot run under CI=true: espeak-ng is missing (apt-get install espeak-ng; .ci/run does)');
if (!espeak) console.warn('SKIP: espeak-ng is missing (apt-get install espeak-ng)');
const ready = espeak && have(TINY_EN, JFK_WAV, GPL, join(packageRoot, 'dist', 'cli', 'main.js'));
const dir = mkdtempSync(join(tmpdir(), 'ws-subtitles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface ParsedCue {
  start: number;
  end: number;
  lines: string[];
}

function parseCues(text: string): ParsedCue[] {
  const at = (t: string) => t.split(/[:.,]/).map(Number).reduce((s, x, i) => (i < 3 ? s * 60 + x : s + x / 1000), 0);
  return [...text.matchAll(/^(\d\d:\d\d:\d\d[.,]\d{3}) --> (\d\d:\d\d:\d\d[.,]\d{3})\n((?:.+\n?)+)/gm)].map((m) => ({ start: at(m[1]!), end: at(m[2]!), lines: m[3]!.trim().split('\n') }));
}

/** Every cue within the limits (a single word too long for them excepted), in time order. */
function expectWithin(cues: ParsedCue[], limits: { width: number; lines: number; seconds: number }): void {
  let previousEnd = 0;
  for (const c of cues) {
    const single = c.lines.length === 1 && !c.lines[0]!.includes(' ');
    expect(c.lines.length, c.lines.join('|')).toBeLessThanOrEqual(limits.lines);
    for (const line of c.lines) if (!single) expect(line.length, line).toBeLessThanOrEqual(limits.width);
    if (!single) expect(c.end - c.start, c.lines.join('|')).toBeLessThanOrEqual(limits.seconds + 0.001);
    expect(c.start).toBeGreaterThanOrEqual(previousEnd - 0.001);
    expect(c.end).toBeGreaterThanOrEqual(c.start);
    previousEnd = c.end;
  }
}

const words = (cues: ParsedCue[]) => normalise(cues.map((c) => c.lines.join(' ')).join(' '));

describe.skipIf(!ready)('subtitles from ten minutes of speech', () => {
  const tenMinutes = join(dir, 'gpl-10min.wav');
  const oneMinute = join(dir, 'gpl-1min.wav');
  beforeAll(async () => {
    const text = readFileSync(GPL, 'utf8').replace(/\s+/g, ' ').trim().split(' ');
    for (const [wav, n] of [[tenMinutes, 1650], [oneMinute, 165]] as const) {
      const r = await runChild('espeak-ng', ['-v', 'en-us', '-s', '165', '-w', wav, text.slice(0, n).join(' ')]);
      expect(r.status, r.stderr).toBe(0);
    }
  });

  it('cuts srt and vtt within 2 lines of 42 characters and 7 s, on word times, every word of the json kept', async () => {
    const out = join(dir, 'words');
    const r = await runChild(process.execPath, [bin, 'transcribe', tenMinutes, '-m', TINY_EN, '-f', 'all', '--word-timestamps', '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(out, 'gpl-10min.json'), 'utf8')) as { duration: number; segments: Array<{ text: string; words: unknown[] }> };
    expect(json.duration).toBeGreaterThan(500);
    const spoken = normalise(json.segments.map((s) => s.text).join(' '));
    for (const format of ['srt', 'vtt']) {
      const cues = parseCues(readFileSync(join(out, `gpl-10min.${format}`), 'utf8'));
      expectWithin(cues, { width: 42, lines: 2, seconds: 7 });
      expect(words(cues)).toBe(spoken);
      expect(cues.length).toBeGreaterThanOrEqual(json.segments.length); // a segment is one cue or more
      const oneWord = cues.filter((c) => !c.lines.join(' ').includes(' ')).length;
      expect(oneWord / cues.length).toBeLessThan(0.05); // cues of words, not a cue per word
    }
  });

  it('takes narrower limits, on estimated word times, and highlights words', async () => {
    const narrow = await runChild(process.execPath, [bin, 'transcribe', oneMinute, '-m', TINY_EN, '-f', 'srt', '--max-line-width', '24', '--max-line-count', '1', '--max-cue-seconds', '3']);
    expect(narrow.status, narrow.stderr).toBe(0);
    const cues = parseCues(narrow.stdout);
    expectWithin(cues, { width: 24, lines: 1, seconds: 3 });
    const wide = await runChild(process.execPath, [bin, 'transcribe', oneMinute, '-m', TINY_EN, '-f', 'txt']);
    expect(words(cues).split(' ').length).toBeGreaterThan(0.9 * normalise(wide.stdout).split(' ').length);

    const marked = await runChild(process.execPath, [bin, 'transcribe', JFK_WAV, '-m', TINY_EN, '-f', 'vtt', '--highlight-words']);
    expect(marked.status, marked.stderr).toBe(0);
    const each = parseCues(marked.stdout);
    expect(each.length).toBe(normalise(JFK_TEXT).split(' ').length); // a cue per word said
    for (const c of each) expect(c.lines.join(' ')).toMatch(/^[^<]*<u>[^<]+<\/u>[^<]*$/);
    expect(normalise(each.map((c) => c.lines.join(' ').match(/<u>(.+)<\/u>/)![1]).join(' '))).toBe(normalise(JFK_TEXT));

    const bad = await runChild(process.execPath, [bin, 'transcribe', JFK_WAV, '-m', TINY_EN, '-f', 'srt', '--max-line-count', '0']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--max-line-count.*expected an integer from 1 to 10/);
  });

  it('takes the same options as RunPod job fields and OpenAI form fields', async () => {
    const job = { input: { audio: JFK_WAV, transcription: 'srt', max_line_width: 20, max_line_count: 1, max_cue_seconds: 2 } };
    const r = await runChild(process.execPath, [bin, 'runpod', '--test_input', JSON.stringify(job)], { env: { ...process.env, RUNPOD_WEBHOOK_GET_JOB: '', WHISPER_MODEL: TINY_EN } });
    expect(r.status, r.stderr).toBe(0);
    const cues = parseCues((JSON.parse(r.stdout) as { output: { transcription: string } }).output.transcription);
    expectWithin(cues, { width: 20, lines: 1, seconds: 2 });
    expect(words(cues)).toBe(normalise(JFK_TEXT));
    const refused = await runChild(process.execPath, [bin, 'runpod', '--test_input', JSON.stringify({ input: { audio: JFK_WAV, max_line_count: 0 } })], { env: { ...process.env, RUNPOD_WEBHOOK_GET_JOB: '', WHISPER_MODEL: TINY_EN } });
    expect(refused.status).toBe(1);
    expect(refused.stdout).toMatch(/max_line_count/);

    let server: RunningServer | undefined;
    try {
      server = await startServer({ WHISPER_SERVE_TMP: join(dir, 'server-tmp'), JOBS_DB: join(dir, 'jobs.sqlite') });
      const form = new FormData();
      form.append('file', new Blob([readFileSync(JFK_WAV)], { type: 'audio/wav' }), 'jfk.wav');
      form.append('response_format', 'vtt');
      form.append('max_line_width', '16');
      form.append('highlight_words', 'true');
      const res = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
      expect(res.status).toBe(200);
      const vtt = parseCues(await res.text());
      expect(vtt.length).toBe(normalise(JFK_TEXT).split(' ').length);
      expectWithin(vtt.map((c) => ({ ...c, lines: c.lines.map((l) => l.replace(/<\/?u>/g, '')) })), { width: 16, lines: 2, seconds: 7 });
      const badForm = new FormData();
      badForm.append('file', new Blob([readFileSync(JFK_WAV)], { type: 'audio/wav' }), 'jfk.wav');
      badForm.append('max_cue_seconds', 'long');
      const bad = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: badForm });
      expect(bad.status).toBe(400);
      expect(await bad.text()).toMatch(/max_cue_seconds: a number from 1 to 60/);
    } finally {
      server?.child.kill('SIGTERM');
      await server?.exited;
    }
  });
});
