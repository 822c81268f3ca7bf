/**
 * Every job ends: a wall-clock limit per job (JOB_TIMEOUT). Unset, the limit grows with the audio
 * known so far (declared by the container, or decoded as the job goes): a 10 h file is never cut
 * for being long, and a job whose decoding runs away (thresholds that fail every window, a forced
 * wrong language, a decoder that never ends) stops with JOB_TIMEOUT instead of holding its slot.
 */
import { WhisperServeError } from '../errors.js';

/** The default limit: this much, plus PER_AUDIO_SECOND for each second of audio. */
const BASE_SECONDS = 120;
const PER_AUDIO_SECOND = 10;

export class JobTimeout {
  private readonly controller = new AbortController();
  private readonly started = performance.now();
  private audioSeconds = 0;
  private readonly timer: NodeJS.Timeout | undefined;

  /** `configured`: JOB_TIMEOUT (0 = none, undefined = the default above). */
  constructor(private readonly configured: number | undefined) {
    if (configured === 0) return;
    this.timer = setInterval(() => {
      if (this.elapsed() > this.limit()) this.controller.abort();
    }, 1000);
    this.timer.unref();
  }

  /** Aborts when the job runs past its limit. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get expired(): boolean {
    return this.controller.signal.aborted;
  }

  /** More audio is known (declared or transcribed): the default limit grows with it. */
  sawAudio(seconds: number): void {
    this.audioSeconds = Math.max(this.audioSeconds, seconds);
  }

  limit(): number {
    return this.configured ?? BASE_SECONDS + PER_AUDIO_SECOND * this.audioSeconds;
  }

  error(): WhisperServeError {
    return new WhisperServeError('JOB_TIMEOUT', `the job ran over its ${Math.round(this.limit())} s limit (JOB_TIMEOUT${this.configured === undefined ? ` unset: ${BASE_SECONDS} s + ${PER_AUDIO_SECOND} s per second of audio` : ''})`);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private elapsed(): number {
    return (performance.now() - this.started) / 1000;
  }
}

/**
 * Runs a job under its limit: `fn` gets the signal to pass down (the caller's, or the limit's) and
 * the JobTimeout to tell of audio; a job stopped by its limit fails with JOB_TIMEOUT, one the
 * caller aborted with the caller's error.
 */
export async function withJobTimeout<T>(configured: number | undefined, outer: AbortSignal | undefined, fn: (signal: AbortSignal, timeout: JobTimeout) => Promise<T>): Promise<T> {
  const timeout = new JobTimeout(configured);
  try {
    return await fn(outer ? AbortSignal.any([outer, timeout.signal]) : timeout.signal, timeout);
  } catch (err) {
    throw timeout.expired && !outer?.aborted ? timeout.error() : err;
  } finally {
    timeout.stop();
  }
}
