// The decoding rules of whisper applied to one sequence's logits before a token is picked:
// special and suppressed tokens, blank suppression at the start, timestamp pairing and order,
// the first timestamp's limit, "a timestamp when their total probability beats any text token".
// Greedy at temperature 0, sampling from the softmax above it.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "batch_weights.h"

namespace wserve {

struct DecodeRules {
  std::vector<char> suppressed;  // by token id: never sampled (special tokens, regex, non-speech)
  std::vector<int> blankTokens;  // suppressed as the first token when suppressBlank
  bool suppressBlank = true;
  bool withoutTimestamps = false;
  int maxInitialTimestamp = 50;  // in 20 ms steps: 1.0 s, whisper's max_initial_timestamp
  int maxTokensPerSegment = 0;   // 0: no limit (without timestamps: the window's, see BatchEngine::run)

  // suppressRegex: token texts that match are never sampled ('' for none).
  static DecodeRules make(const WhisperWeights& w, bool suppressBlank, bool suppressNonSpeech, const std::string& suppressRegex,
                          bool withoutTimestamps, int maxTokensPerSegment);
};

struct Pick {
  int token;
  float logprob;  // of the picked token under the rules (at the temperature)
};

// logits: the sequence's raw logits (modified in place); generated: tokens after the prompt;
// endNotBefore: no end-of-text while the last timestamp is under this many 20 ms steps (the
// piece still has sound after it: an end there would cost a resumed piece, an encoder pass).
Pick pickToken(float* logits, const std::vector<int>& generated, const SpecialTokens& t, int nVocab, const DecodeRules& rules,
               float temperature, int endNotBefore, std::mt19937& rng);

// softmax(logits)[index]: the no-speech probability (from the logits after start-of-transcript),
// or a language's among the language tokens.
float softmaxAt(const float* logits, int n, int index);

// The generated text tokens (no timestamps) end in a loop: the sequence stops there, marked looped.
bool endsInLoop(const std::vector<int>& text);

}  // namespace wserve
