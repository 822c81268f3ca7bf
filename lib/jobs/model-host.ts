/**
 * The loaded models of a long-running process (RunPod worker, HTTP server): loaded lazily on
 * the first job that names them (the seed's behaviour; PRELOAD=1 loads the default at start),
 * kept for the next job, and shared by concurrent jobs. One model is kept at a time, because
 * one GPU rarely holds two: a job for another model waits until the current one is idle. With
 * an idle timeout the model is unloaded after that long without a job (memory and VRAM back,
 * for whoever pays for them by the second) and the next job loads it again.
 */
import type { Config } from '../config.js';
import { WhisperServeError } from '../errors.js';
import type { Logger } from '../log.js';
import { obtainModel, obtainOptions, obtainVad } from '../models/obtain.js';
import { Whisper, type LoadOptions } from '../whisper.js';

interface Entry {
  key: string;
  name: string;
  whisper: Promise<Whisper>;
  users: number;
  idle: Array<() => void>;
  /** Pending idle unload, while no job uses the model. */
  unloadTimer?: NodeJS.Timeout;
}

export interface ModelHostOptions {
  /** The shell's configuration (read once at its start): the default model, the model cache, and every job's settings. */
  config: Config;
  load?: Omit<LoadOptions, 'logger' | 'config'>;
  /** Unload the model after this many seconds without a job; 0 or unset: keep it. */
  idleSeconds?: number;
}

export interface Acquired {
  whisper: Whisper;
  name: string;
  /** The cold start, when this call loaded the model. */
  loadSeconds: number | undefined;
  /** Call once when the job is done with the model. */
  release(): void;
}

export class ModelHost {
  private current: Entry | undefined;
  private closed = false;

  private readonly loadOptions: Omit<LoadOptions, 'logger' | 'config'>;
  private readonly idleMs: number;
  /** What the shell read at its start; the jobs this host serves run on it. */
  readonly config: Config;

  constructor(
    private readonly log: Logger,
    options: ModelHostOptions,
  ) {
    this.config = options.config;
    this.loadOptions = options.load ?? {};
    this.idleMs = (options.idleSeconds ?? 0) * 1000;
  }

  /** The Silero VAD a job's `enable_vad` needs, downloaded on the first such job unless WHISPER_VAD_MODEL names one. */
  async obtainVad(log: Logger, signal?: AbortSignal): Promise<void> {
    if (this.config.vadModel) return;
    await obtainVad({ ...obtainOptions(this.config, log), ...(signal && { signal }) });
  }

  /** Loads (or reuses) the model; call the returned release() when done. */
  async acquire(model: string, log: Logger = this.log): Promise<Acquired> {
    if (this.closed) throw new WhisperServeError('MODEL_DISPOSED', 'the server is shutting down');
    // A named model not yet in the cache is downloaded on the first job that wants it.
    const { path, name } = await obtainModel(model, obtainOptions(this.config, log));
    while (this.current && this.current.key !== path) {
      const other = this.current;
      if (other.users > 0) {
        await new Promise<void>((resolve) => other.idle.push(resolve));
        continue;
      }
      this.current = undefined;
      (await other.whisper.catch(() => undefined))?.dispose();
      this.log.info('model unloaded', { model: other.name });
    }
    let loadedHere = false;
    if (!this.current) {
      loadedHere = true;
      const entry: Entry = { key: path, name: name ?? path, users: 0, idle: [], whisper: Whisper.load(path, { ...this.loadOptions, config: this.config, logger: log, ...(name && { name }) }) };
      this.current = entry;
      entry.whisper.catch(() => {
        if (this.current === entry) this.current = undefined;
      });
    }
    const entry = this.current;
    clearTimeout(entry.unloadTimer);
    entry.users++;
    try {
      const whisper = await entry.whisper;
      let released = false;
      const release = () => {
        if (!released) this.releaseEntry(entry);
        released = true;
      };
      return { whisper, name: entry.name, loadSeconds: loadedHere ? whisper.loadSeconds : undefined, release };
    } catch (err) {
      this.releaseEntry(entry);
      throw err;
    }
  }

  private releaseEntry(entry: Entry): void {
    entry.users--;
    if (entry.users > 0) return;
    entry.idle.splice(0).forEach((wake) => wake());
    if (this.idleMs > 0 && this.current === entry) {
      // unref'd: an idle timer never keeps the process alive on its own.
      entry.unloadTimer = setTimeout(() => void this.unloadIdle(entry), this.idleMs).unref();
    }
  }

  private async unloadIdle(entry: Entry): Promise<void> {
    if (this.current !== entry || entry.users > 0) return;
    this.current = undefined;
    (await entry.whisper.catch(() => undefined))?.dispose();
    this.log.info('model unloaded', { model: entry.name, idleSeconds: this.idleMs / 1000 });
  }

  /** Loads the default model now (PRELOAD=1: the cold start at boot) instead of on the first job. */
  async preload(): Promise<void> {
    const { release } = await this.acquire(this.config.model);
    release();
  }

  /** The model that is loaded now, if any (for /health and logs). */
  get loaded(): string | undefined {
    return this.current?.name;
  }

  async close(): Promise<void> {
    this.closed = true;
    const entry = this.current;
    this.current = undefined;
    clearTimeout(entry?.unloadTimer);
    (await entry?.whisper.catch(() => undefined))?.dispose();
  }
}
