/**
 * What a command reads of the environment, once, when it starts: the configuration (lib/config.ts)
 * and the logger it asks for. Everything below the commands takes these as arguments.
 */
import { readConfig, type Config } from '../config.js';
import { createLogger, type Logger } from '../log.js';

export function startup(): { cfg: Config; log: Logger } {
  const cfg = readConfig();
  return { cfg, log: createLogger({ level: cfg.logLevel, format: cfg.logFormat }) };
}
