/**
 * Structured logs to stderr (stdout is for results): `2025-01-18 12:00:00 | INFO | <job> | msg`
 * or, with LOG_FORMAT=json, one JSON object a line. Level and format are the caller's (a shell's
 * LOG_LEVEL and LOG_FORMAT); info and text by default.
 */
import { DEFAULTS, type LogLevel } from './config.js';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  /** Lines below this level are dropped. */
  readonly level: LogLevel;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** The same logger with a job id on every line. */
  child(job: string): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: 'text' | 'json';
  job?: string;
  write?: (line: string) => void;
}

function timestamp(d: Date): string {
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? DEFAULTS.logLevel;
  const format = options.format ?? DEFAULTS.logFormat;
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[lvl] < RANK[level]) return;
    const now = new Date();
    if (format === 'json') {
      write(JSON.stringify({ time: now.toISOString(), level: lvl, job: options.job ?? null, msg, ...fields }));
    } else {
      const extra = fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : '';
      write(`${timestamp(now)} | ${lvl.toUpperCase()} | ${options.job ?? '-'} | ${msg}${extra}`);
    }
  };
  return {
    level,
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (job) => createLogger({ ...options, level, format, write, job }),
  };
}

/** For library use: silent unless LOG_LEVEL=debug asks. */
export const quietLogger: Logger = createLogger({ level: 'error', format: 'text', write: () => undefined });
