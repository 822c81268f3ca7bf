// The bench's WER and its paired comparison (bench/wer.mjs): a WER difference between two engines
// is read beside the sign test on the words only one of them got wrong.
import { describe, expect, it } from 'vitest';
import { pairedErrors, wordErrors } from '../bench/wer.mjs';

describe("the bench's word errors", () => {
  it('counts substitutions, deletions and insertions after dropping case and punctuation', () => {
    expect(wordErrors('Ask not what your country can do.', 'ask not, what your country can do').wer).toBe(0);
    const e = wordErrors('ask not what your country can do', 'ask what you country can do for');
    expect(e.wer).toBeCloseTo(3 / 7);
    // "not" dropped, "your" substituted, "for" inserted after the last word.
    expect(Array.from(e.wrong)).toEqual([0, 1, 0, 1, 0, 0, 0, 1]);
  });

  it('pairs two transcripts word by word and says how likely their split is by chance', () => {
    const ref = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');
    const missing = (drop: number[]) => wordErrors(ref, ref.split(' ').filter((_, i) => !drop.includes(i)).join(' '));
    const even = pairedErrors(missing([1, 2, 3]), missing([3, 4, 5]));
    expect(even).toMatchObject({ only_here: 2, only_there: 2 });
    expect(even.sign_test_p).toBe(1);
    // 12 words only one engine missed, none only the other: 2 / 2^12.
    const uneven = pairedErrors(missing(Array.from({ length: 12 }, (_, i) => i * 3)), missing([]));
    expect(uneven).toMatchObject({ only_here: 12, only_there: 0 });
    expect(uneven.sign_test_p).toBeCloseTo(2 / 4096, 8);
    // 7 against 3: the exact two-sided p, 2 × (1 + 10 + 45 + 120) / 1024.
    expect(pairedErrors(missing([0, 1, 2, 3, 4, 5, 6]), missing([7, 8, 9])).sign_test_p).toBeCloseTo(352 / 1024, 10);
  });
});
