/**
 * What an HTTP client may see of an error: its code and message, with the server's own paths
 * (temp dirs, model cache, install dir, home) replaced by placeholders. The log keeps the full text.
 */
import { homedir, tmpdir } from 'node:os';
import { dirname, isAbsolute } from 'node:path';
import { readConfig } from '../config.js';
import type { WhisperServeError } from '../errors.js';
import { packageRoot } from '../native/binding.js';

function hiddenPaths(): Array<[string, string]> {
  const cfg = readConfig();
  const pairs: Array<[string, string]> = [
    [cfg.tempRoot, '<tmp>'],
    [cfg.modelCache, '<models>'],
    ...(isAbsolute(cfg.model) ? [[dirname(cfg.model), '<models>'] as [string, string]] : []),
    [packageRoot, '<app>'],
    [tmpdir(), '<tmp>'],
    [homedir(), '<home>'],
    [process.cwd(), '<app>'],
  ];
  // Longest first, so a path inside another is replaced whole; "/" alone would eat every slash.
  return pairs.filter(([p]) => p.length > 1).sort((a, b) => b[0].length - a[0].length);
}

export function redactServerPaths(text: string): string {
  return hiddenPaths().reduce((t, [path, placeholder]) => t.split(path).join(placeholder), text);
}

export function publicError(e: WhisperServeError): ReturnType<WhisperServeError['toJSON']> {
  return { ...e.toJSON(), message: redactServerPaths(e.message) };
}
