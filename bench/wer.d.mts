// Types for bench/wer.mjs (a plain script of the bench, imported by its test).
export interface WordErrors {
  wer: number;
  /** 1 where the reference word was substituted or dropped, or words were inserted before it. */
  wrong: Uint8Array;
}
export declare function normalizedWords(s: string): string[];
export declare function wordErrors(ref: string, hyp: string): WordErrors;
export declare function pairedErrors(a: WordErrors, b: WordErrors): { only_here: number; only_there: number; sign_test_p: number };
