/**
 * Whisper's languages in token order: `LANGUAGES[i]` is the language whose token follows
 * start-of-transcript by i + 1 (`<|en|>` first). Models before large-v3 know the first 99;
 * large-v3 and turbo add Cantonese (`yue`), which shifts every special token after it by one.
 */
import { WhisperServeError } from './errors.js';

const TABLE =
  'en english,zh chinese,de german,es spanish,ru russian,ko korean,fr french,ja japanese,pt portuguese,tr turkish,' +
  'pl polish,ca catalan,nl dutch,ar arabic,sv swedish,it italian,id indonesian,hi hindi,fi finnish,vi vietnamese,' +
  'he hebrew,uk ukrainian,el greek,ms malay,cs czech,ro romanian,da danish,hu hungarian,ta tamil,no norwegian,' +
  'th thai,ur urdu,hr croatian,bg bulgarian,lt lithuanian,la latin,mi maori,ml malayalam,cy welsh,sk slovak,' +
  'te telugu,fa persian,lv latvian,bn bengali,sr serbian,az azerbaijani,sl slovenian,kn kannada,et estonian,mk macedonian,' +
  'br breton,eu basque,is icelandic,hy armenian,ne nepali,mn mongolian,bs bosnian,kk kazakh,sq albanian,sw swahili,' +
  'gl galician,mr marathi,pa punjabi,si sinhala,km khmer,sn shona,yo yoruba,so somali,af afrikaans,oc occitan,' +
  'ka georgian,be belarusian,tg tajik,sd sindhi,gu gujarati,am amharic,yi yiddish,lo lao,uz uzbek,fo faroese,' +
  'ht haitian creole,ps pashto,tk turkmen,nn nynorsk,mt maltese,sa sanskrit,lb luxembourgish,my myanmar,bo tibetan,tl tagalog,' +
  'mg malagasy,as assamese,tt tatar,haw hawaiian,ln lingala,ha hausa,ba bashkir,jw javanese,su sundanese,yue cantonese';

export interface Language {
  /** The code whisper's language token spells (`de` for `<|de|>`), as OpenAI and faster-whisper report it. */
  code: string;
  /** English name, lower case, as openai-whisper spells it. */
  name: string;
}

export const LANGUAGES: readonly Language[] = TABLE.split(',').map((entry) => {
  const space = entry.indexOf(' ');
  return { code: entry.slice(0, space), name: entry.slice(space + 1) };
});

/** Other names openai-whisper accepts for the same languages. */
const ALIASES: Record<string, string> = {
  burmese: 'my',
  valencian: 'ca',
  flemish: 'nl',
  haitian: 'ht',
  letzeburgesch: 'lb',
  pushto: 'ps',
  panjabi: 'pa',
  moldavian: 'ro',
  moldovan: 'ro',
  sinhalese: 'si',
  castilian: 'es',
  mandarin: 'zh',
};

const BY_KEY = new Map<string, string>([
  ...LANGUAGES.flatMap((l): Array<[string, string]> => [[l.code, l.code], [l.name, l.code]]),
  ...Object.entries(ALIASES),
]);

/** Languages a model knows: 100 for large-v3's vocabulary (51,866 tokens), 99 before it. */
export function languageCount(nVocab: number): number {
  return Math.max(0, Math.min(LANGUAGES.length, nVocab - 51765 - 1));
}

/** A code or a name in any case (`de`, `German`, `castilian`) → its code; undefined if unknown. */
export function languageCode(value: string): string | undefined {
  return BY_KEY.get(value.trim().toLowerCase());
}

export function languageName(code: string): string | undefined {
  return LANGUAGES.find((l) => l.code === code)?.name;
}

/** A code or a name → its code, or 'auto' (nothing given means detect); an unknown one is INVALID_ARGUMENT. */
export function parseLanguage(value: string | undefined): string {
  const asked = value?.trim() ?? '';
  if (asked === '' || asked.toLowerCase() === 'auto') return 'auto';
  const code = languageCode(asked);
  if (!code) throw new WhisperServeError('INVALID_ARGUMENT', `unknown language "${asked}": give a code such as "de" or a name such as "German"`);
  return code;
}

/**
 * The language a caller asked for, as the code the decoders take ('auto': detect). One this
 * model cannot hear (a language other than English on an English-only model, `yue` before large-v3) is
 * refused naming what was given.
 */
export function resolveLanguage(value: string | undefined, model: { multilingual: boolean; nVocab: number }): string {
  const code = parseLanguage(value);
  const asked = value?.trim();
  if (code === 'auto') return model.multilingual ? 'auto' : 'en';
  if (!model.multilingual && code !== 'en') {
    throw new WhisperServeError('MODEL_ENGLISH_ONLY', `this model is English-only; language "${asked}" needs a multilingual model (e.g. base)`);
  }
  if (model.multilingual && LANGUAGES.findIndex((l) => l.code === code) >= languageCount(model.nVocab)) {
    throw new WhisperServeError('INVALID_ARGUMENT', `language "${asked}" needs a large-v3 model: this model has no token for it`);
  }
  return code;
}

/**
 * The language a transcription starts in ('auto': detected on the first window, or on every
 * window with `multilingual`), once what was asked is checked against what the model can do.
 */
export function startLanguage(
  o: { language: string | undefined; translate: boolean; multilingual: boolean },
  model: { multilingual: boolean; nVocab: number },
): string {
  const language = resolveLanguage(o.language, model);
  if (!model.multilingual && o.translate) throw new WhisperServeError('MODEL_ENGLISH_ONLY', 'this model is English-only; translation needs a multilingual model (e.g. base)');
  if (o.multilingual) {
    if (!model.multilingual) throw new WhisperServeError('MODEL_ENGLISH_ONLY', 'this model is English-only; multilingual (a language per window) needs a multilingual model (e.g. base)');
    if (language !== 'auto') throw new WhisperServeError('INVALID_ARGUMENT', `multilingual detects each window's language: give no language with it (got "${o.language}")`);
  }
  return language;
}
