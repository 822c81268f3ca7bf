// Word error rate, and whether two engines' WERs on the same audio differ by more than chance.
// A WER is one sample: on 10 min of speech (~1,700 words) two engines that are as good as each
// other miss different words, and their WERs move apart by a point or so from where the windows
// fall. The sign test on the words only one of them got wrong says how sure a difference is.

/** Lower-cased words without punctuation (the bench's references and transcripts alike). */
export const normalizedWords = (s) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9' ]+/g, ' ')
    .split(/\s+/)
    .filter(Boolean);

const DIAGONAL = 0;
const DELETION = 1;
const INSERTION = 2;

/**
 * The word-level edit distance between `ref` and `hyp`, and where it falls: `wrong[i]` is 1 where
 * reference word i was substituted or dropped, or words were inserted before it (`wrong[ref
 * length]`: inserted after the last), so two transcripts' errors can be paired word by word.
 */
export function wordErrors(ref, hyp) {
  const r = normalizedWords(ref);
  const h = normalizedWords(hyp);
  const width = h.length + 1;
  const step = new Uint8Array((r.length + 1) * width); // the cheapest move into each cell
  let prev = Int32Array.from({ length: width }, (_, j) => j);
  step.fill(INSERTION, 1, width);
  for (let i = 1; i <= r.length; i++) {
    const cur = new Int32Array(width);
    cur[0] = i;
    step[i * width] = DELETION;
    for (let j = 1; j < width; j++) {
      const diagonal = prev[j - 1] + (r[i - 1] === h[j - 1] ? 0 : 1);
      const deletion = prev[j] + 1;
      const insertion = cur[j - 1] + 1;
      cur[j] = Math.min(diagonal, deletion, insertion);
      step[i * width + j] = cur[j] === diagonal ? DIAGONAL : cur[j] === deletion ? DELETION : INSERTION;
    }
    prev = cur;
  }
  const wrong = new Uint8Array(r.length + 1);
  for (let i = r.length, j = h.length; i > 0 || j > 0; ) {
    const move = step[i * width + j];
    if (move === DIAGONAL) {
      if (r[i - 1] !== h[j - 1]) wrong[i - 1] = 1;
      i--;
      j--;
    } else if (move === DELETION) {
      wrong[--i] = 1;
    } else {
      wrong[i] = 1;
      j--;
    }
  }
  return { wer: r.length ? prev[h.length] / r.length : 0, wrong };
}

/** Two-sided exact sign test: how likely a split at least this uneven is when each side is as likely. */
function signTestP(a, b) {
  const n = a + b;
  if (n === 0) return 1;
  let logTerm = -n * Math.LN2; // log(C(n, 0) / 2^n)
  let tail = 0;
  for (let k = 0; k <= Math.min(a, b); k++) {
    tail += Math.exp(logTerm);
    logTerm += Math.log((n - k) / (k + 1));
  }
  return Math.min(1, 2 * tail);
}

/** Words that only `a` got wrong, only `b` got wrong, and the sign test's p for that split. */
export function pairedErrors(a, b) {
  let onlyA = 0;
  let onlyB = 0;
  for (let i = 0; i < a.wrong.length; i++) {
    if (a.wrong[i] && !b.wrong[i]) onlyA++;
    if (b.wrong[i] && !a.wrong[i]) onlyB++;
  }
  return { only_here: onlyA, only_there: onlyB, sign_test_p: signTestP(onlyA, onlyB) };
}
