/** Option parsers: a bad value is a usage error (exit 2) that names what the option takes. */
import { InvalidArgumentError } from 'commander';
import { DECODE_RANGES, inNumberRange, rangeText, type NumberRange } from '../decode-options.js';
import { CUE_RANGES } from '../output/cues.js';

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer.');
  return n;
}

export function portNumber(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number from 0 (any free port) to 65535.');
  return n;
}

/** A number in `r`, else a usage error that says the range. */
function rangedNumber(r: NumberRange): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !inNumberRange(r, n)) {
      throw new InvalidArgumentError(`expected ${rangeText(r)}${r.orDefault !== undefined ? ` (or ${r.orDefault}: whisper.cpp's own)` : ''}.`);
    }
    return n;
  };
}

/** A decode option's number, in the range the library and the RunPod schema take (DECODE_RANGES). */
export const decodeNumber = (name: keyof typeof DECODE_RANGES) => rangedNumber(DECODE_RANGES[name]);

/** A subtitle option's number (CUE_RANGES, as the server's fields). */
export const cueNumber = (name: keyof typeof CUE_RANGES) => rangedNumber(CUE_RANGES[name]);

/**
 * --temperature: one value decodes at it alone (no fallback: faster-whisper's `temperature=t`);
 * a rising, evenly spaced list (`0,0.2,0.4,0.6,0.8,1`, the default) is the fallback's steps.
 */
export function temperatures(value: string): { temperature: number; temperatureIncrement: number } {
  const steps = value.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
  const bad = () => new InvalidArgumentError('expected a temperature from 0 to 1, or a rising, evenly spaced list of them (0,0.2,0.4,0.6,0.8,1).');
  if (steps.some((t) => !(t >= 0 && t <= 1))) throw bad();
  if (steps.length === 1) return { temperature: steps[0]!, temperatureIncrement: 0 };
  const step = steps[1]! - steps[0]!;
  if (!(step > 0) || steps.some((t, i) => Math.abs(t - (steps[0]! + i * step)) > 1e-6)) throw bad();
  return { temperature: steps[0]!, temperatureIncrement: Number(step.toFixed(6)) };
}
