/**
 * The file stem each input's outputs get in --output-dir: its base name without extension
 * (`talk.mp3` → `talk`), a URL's without its query. Inputs that would share a stem never
 * overwrite each other: each keeps its extension (`jfk.wav`, `jfk.mp3`), and where even that
 * repeats (`a/jfk.wav`, `b/jfk.wav`) the later ones are numbered (`jfk.wav-2`).
 */
import { basename, extname } from 'node:path';

export const stemOf = (input: string, withExtension = false): string => {
  if (input === '-') return 'stdin';
  const name = basename(input.replace(/[?#].*$/, ''));
  return (withExtension ? name : basename(name, extname(name))) || 'audio';
};

export function outputStems(inputs: readonly string[]): string[] {
  const plain = inputs.map((i) => stemOf(i, false));
  const shared = (stem: string) => plain.filter((s) => s === stem).length > 1;
  const stems = inputs.map((input, i) => (shared(plain[i]!) ? stemOf(input, true) : plain[i]!));
  const seen = new Map<string, number>();
  return stems.map((stem) => {
    const n = (seen.get(stem) ?? 0) + 1;
    seen.set(stem, n);
    return n === 1 ? stem : `${stem}-${n}`;
  });
}
