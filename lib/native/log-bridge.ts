/**
 * whisper.cpp's and ggml's own log lines, from any thread, into a Logger (one process-wide
 * route, as node-llama-cpp does it), so that they have the project's format: with
 * LOG_FORMAT=json every stderr line is JSON, native ones included. ggml's "info" is model-load
 * chatter (dozens of lines a load): it becomes our debug; its warnings and errors stay so.
 */
import type { LogLevel } from '../config.js';
import type { Logger } from '../log.js';
import { binding } from './binding.js';

// ggml_log_level: 1 debug, 2 info, 3 warn, 4 error.
const OURS: Record<number, LogLevel> = { 1: 'debug', 2: 'debug', 3: 'warn', 4: 'error' };
const NATIVE_MIN: Record<LogLevel, number> = { debug: 1, info: 3, warn: 3, error: 4 };

export function routeNativeLogs(logger: Logger): void {
  let pending = '';
  let pendingLevel = 4;
  binding().setLogger((level: number, text: string) => {
    if (pending === '') pendingLevel = level;
    pending += text;
    // ggml prints a line in pieces now and then: emit whole lines only.
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl).trimEnd();
      pending = pending.slice(nl + 1);
      if (line) logger[OURS[pendingLevel] ?? 'error'](line, { source: 'whisper.cpp' });
      pendingLevel = level;
    }
  }, NATIVE_MIN[logger.level] ?? 3);
}
