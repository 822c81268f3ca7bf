/**
 * A transcription as a stream: segments pushed as they become final, read with `for await`; the
 * whole transcript when the call ends. Pushes never wait on the reader (a transcription does not
 * stall on a slow consumer; what it buffers is text, not audio).
 */
export class SegmentStream<S, R> implements AsyncIterable<S> {
  private readonly queue: S[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private failure: { error: unknown } | undefined;
  /** Settles with the whole result once the last segment is pushed (rejects as the call does). */
  readonly result: Promise<R>;

  constructor(run: (push: (segment: S) => void) => Promise<R>) {
    this.result = run((segment) => {
      this.queue.push(segment);
      this.notify();
    }).then(
      (r) => {
        this.ended = true;
        this.notify();
        return r;
      },
      (error: unknown) => {
        this.failure = { error };
        this.notify();
        throw error;
      },
    );
    // Read through the iterator or not: an unread failure is not an unhandled rejection here.
    this.result.catch(() => {});
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<S> {
    for (;;) {
      if (this.queue.length > 0) {
        yield this.queue.shift()!;
        continue;
      }
      if (this.failure) throw this.failure.error;
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}
