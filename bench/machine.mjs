// The CPU a benchmark ran on, from /proc/cpuinfo: its name with family, model and stepping (a
// virtual machine's name is often just "Intel(R) Xeon(R) Processor", and Sapphire Rapids (model
// 143) and Emerald Rapids (207) differ in speed under the same name), and its instruction-set flags.
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
const field = (name) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(cpuinfo)?.[1]?.trim();

/** Every flag /proc/cpuinfo lists for the first CPU (empty elsewhere). */
export const cpuFlags = (field('flags') ?? '').split(/\s+/).filter(Boolean);

/** "Intel(R) Xeon(R) Processor (family 6, model 207, stepping 2)", or os.cpus()'s name alone. */
export function cpuName() {
  const name = field('model name') ?? cpus()[0]?.model ?? 'unknown CPU';
  const family = field('cpu family');
  return family === undefined ? name : `${name} (family ${family}, model ${field('model')}, stepping ${field('stepping')})`;
}
