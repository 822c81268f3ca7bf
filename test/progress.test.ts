// The CLI's progress bar: the audio's real length, not cli-progress's own total.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress } from '../lib/cli/progress.js';

describe('progress bar (TTY)', () => {
  it('shows audio done / the audio length, the real-time factor, and stops cleanly', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    Object.assign(out, { isTTY: true, columns: 120 });
    const bar = createProgress('talk.mp3', true, out);
    bar.update({ fraction: 0.25, audioSeconds: 3600 + 125, audioSecondsDone: 931, elapsedSeconds: 31, realtimeFactor: 30.03 });
    bar.stop();
    expect(text).toMatch(/talk\.mp3 .* 25% \| 15:31\/1:02:05 audio \| 30\.0× real time/);
    expect(text).not.toMatch(/\/1000 audio/);
  });

  it('writes nothing where stderr is not a terminal', () => {
    const bar = createProgress('x', false);
    expect(() => bar.update({ fraction: 1, audioSeconds: 1, audioSecondsDone: 1, elapsedSeconds: 1, realtimeFactor: 1 })).not.toThrow();
    bar.stop();
  });
});
