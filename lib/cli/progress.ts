/** A progress bar on a TTY (audio time done / total, ×real time, ETA); nothing when piped. */
import cliProgress from 'cli-progress';
import type { Progress } from '../whisper.js';

export interface ProgressDisplay {
  update(p: Progress): void;
  stop(): void;
}

const clock = (s: number) => {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  return `${h ? `${h}:` : ''}${String(m).padStart(h ? 2 : 1, '0')}:${String(t % 60).padStart(2, '0')}`;
};

export function createProgress(label: string, enabled = process.stderr.isTTY === true, stream: NodeJS.WritableStream = process.stderr): ProgressDisplay {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  // {length}, not {total}: cli-progress fills {total} with its own bar total (1000 here).
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} {bar} {percentage}% | {done}/{length} audio | {rtf}× real time | ETA {eta_formatted}`,
      stream,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(1000, 0, { done: '0:00', length: '?', rtf: '0' });
  return {
    update: (p) =>
      bar.update(Math.round(p.fraction * 1000), {
        done: clock(p.audioSecondsDone),
        length: clock(p.audioSeconds),
        rtf: p.realtimeFactor.toFixed(1),
      }),
    stop: () => bar.stop(),
  };
}

/** A download's bar on a TTY (MB done / in all); nothing when piped. */
export function createDownloadProgress(label: string, enabled = process.stderr.isTTY === true, stream: NodeJS.WritableStream = process.stderr): { update(done: number, total: number | undefined): void; stop(): void } {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar({ format: `${label} {bar} {percentage}% | {value}/{total} MB`, stream, clearOnComplete: true }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update: (done, total) => {
      if (!started) bar.start(Math.round((total ?? 0) / 1e6), 0);
      started = true;
      bar.update(Math.round(done / 1e6));
    },
    stop: () => bar.stop(),
  };
}
