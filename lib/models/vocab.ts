/**
 * The ggml vocabulary: the byte strings of the ordinary tokens, up to and including
 * <|endoftext|> (whisper.cpp adds the special tokens itself). Tokenizer files store tokens in
 * GPT-2's byte-to-unicode form; this undoes it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WhisperServeError } from '../errors.js';

function unicodeToByte(): Map<string, number> {
  const bytes: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bytes.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bytes.push(b);
  for (let b = 0xae; b <= 0xff; b++) bytes.push(b);
  const chars = bytes.map((b) => String.fromCodePoint(b));
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) {
      bytes.push(b);
      chars.push(String.fromCodePoint(256 + n++));
    }
  }
  return new Map(chars.map((c, i) => [c, bytes[i]!]));
}

const BYTE_OF = unicodeToByte();

export function decodeByteLevel(token: string): Buffer {
  const out: number[] = [];
  for (const ch of token) {
    const b = BYTE_OF.get(ch);
    if (b === undefined) return Buffer.from(token, 'utf8'); // special tokens are plain text
    out.push(b);
  }
  return Buffer.from(out);
}

/** Token strings by id, from tokenizer.json, vocab.json or CTranslate2's vocabulary.json/txt. */
export function readTokenStrings(dir: string): string[] {
  const byId = (map: Record<string, number>): string[] => {
    const out: string[] = [];
    for (const [tok, id] of Object.entries(map)) out[id] = tok;
    return out;
  };
  const tokenizer = join(dir, 'tokenizer.json');
  if (existsSync(tokenizer)) {
    const parsed = JSON.parse(readFileSync(tokenizer, 'utf8')) as {
      model?: { vocab?: Record<string, number> };
      added_tokens?: Array<{ id: number; content: string }>;
    };
    if (!parsed.model?.vocab) throw new WhisperServeError('MODEL_IMPORT_FAILED', `${tokenizer} has no model.vocab`);
    const out = byId(parsed.model.vocab);
    for (const t of parsed.added_tokens ?? []) out[t.id] = t.content;
    return out;
  }
  if (existsSync(join(dir, 'vocab.json'))) return byId(JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')));
  if (existsSync(join(dir, 'vocabulary.json'))) return JSON.parse(readFileSync(join(dir, 'vocabulary.json'), 'utf8')) as string[];
  if (existsSync(join(dir, 'vocabulary.txt'))) return readFileSync(join(dir, 'vocabulary.txt'), 'utf8').split('\n').slice(0, -1);
  throw new WhisperServeError('MODEL_IMPORT_FAILED', `${dir}: no tokenizer.json, vocab.json or vocabulary.{json,txt}`);
}

export function ggmlVocab(tokens: string[]): Buffer[] {
  const eot = tokens.indexOf('<|endoftext|>');
  if (eot < 0) throw new WhisperServeError('MODEL_IMPORT_FAILED', 'the vocabulary has no <|endoftext|> token');
  const out: Buffer[] = [];
  for (let i = 0; i <= eot; i++) {
    const t = tokens[i];
    if (t === undefined) throw new WhisperServeError('MODEL_IMPORT_FAILED', `the vocabulary has no token ${i}`);
    out.push(decodeByteLevel(t));
  }
  return out;
}
