/**
 * What an HTTP client may see of an error: its code and message, with the server's own paths
 * (temp dirs, model cache, install dir, home) replaced by placeholders. The log keeps the full text.
 */
import { homedir, tmpdir } from 'node:os';
import { dirname, isAbsolute } from 'node:path';
import type { Config } from '../config.js';
import type { WhisperServeError } from '../errors.js';
import type { Logger } from '../log.js';
import { packageRoot } from '../native/binding.js';

/** The server's own folders: its configuration's (temp root, model cache, default model's folder). */
export type ServerPaths = Pick<Config, 'tempRoot' | 'modelCache' | 'model'>;

function hiddenPaths(cfg: ServerPaths): Array<[string, string]> {
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

export function redactServerPaths(text: string, paths: ServerPaths): string {
  return hiddenPaths(paths).reduce((t, [path, placeholder]) => t.split(path).join(placeholder), text);
}

export function publicError(e: WhisperServeError, paths: ServerPaths): ReturnType<WhisperServeError['toJSON']> {
  return { ...e.toJSON(), message: redactServerPaths(e.message, paths) };
}

/** A job's end by error, in the log: a cancelled one (ABORTED) is no failure, so not an ERROR line. */
export function logJobError(log: Pick<Logger, 'warn' | 'error'>, e: WhisperServeError): void {
  if (e.code === 'ABORTED') log.warn(`Job cancelled: ${e.message}`);
  else log.error(`Job failed: ${e.code}: ${e.message}`);
}
