#include "batch_rules.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <regex>

namespace wserve {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// openai-whisper's non-speech symbols (its tokenizer's non_speech_tokens): suppressed alone and
// after a space when suppressNonSpeech is on, as faster-whisper's suppress_tokens=[-1] does.
const char* const kNonSpeech[] = {"\"", "#",   "(",   ")",  "*",   "+",  "/",  ":",  ";",   "<",  "=",  ">",   "@",   "[",
                                  "\\", "]",   "^",   "_",  "`",   "{",  "|",  "}",  "~",   "「", "」", "『",  "』",  "<<",
                                  ">>", "<<<", ">>>", "--", "---", "-(", "-[", "('", "(\"", "((", "))", "(((", ")))", "[[",
                                  "]]", "{{",  "}}",  "♪♪", "♪♪♪", "♩",  "♪",  "♫",  "♬",   "♭",  "♮",  "♯"};

float logSumExp(const float* logits, int from, int to) {
  const float mx = *std::max_element(logits + from, logits + to);
  if (mx == kNegInf) return kNegInf;
  float sum = 0;
  for (int i = from; i < to; i++) sum += std::exp(logits[i] - mx);  // exp(-inf) = 0: suppressed tokens add nothing
  return mx + std::log(sum);
}

}  // namespace

DecodeRules DecodeRules::make(const WhisperWeights& w, bool suppressBlank, bool suppressNonSpeech, const std::string& suppressRegex,
                              bool withoutTimestamps, int maxTokensPerSegment) {
  const SpecialTokens& t = w.tokens;
  DecodeRules r;
  r.suppressBlank = suppressBlank;
  r.withoutTimestamps = withoutTimestamps;
  r.maxTokensPerSegment = maxTokensPerSegment;
  r.suppressed.assign(w.hp.nVocab, 0);
  // Everything between end-of-text and the timestamps is a control token, never text.
  for (int id = t.sot; id < t.timestampBegin; id++) r.suppressed[id] = 1;
  if (withoutTimestamps) {
    for (int id = t.timestampBegin; id < w.hp.nVocab; id++) r.suppressed[id] = 1;
  }
  std::vector<std::string> banned;
  if (suppressNonSpeech) {
    for (const char* s : kNonSpeech) {
      banned.emplace_back(s);
      banned.push_back(std::string(" ") + s);
    }
    banned.emplace_back(" -");
    banned.emplace_back(" '");
  }
  const bool useRegex = !suppressRegex.empty();
  const std::regex re = useRegex ? std::regex(suppressRegex) : std::regex();
  for (int id = 0; id < static_cast<int>(w.vocab.size()) && id < w.hp.nVocab; id++) {
    const std::string& text = w.vocab[id];
    const bool isText = id < t.eot;
    if (isText && text == " ") r.blankTokens.push_back(id);
    if (isText && std::find(banned.begin(), banned.end(), text) != banned.end()) r.suppressed[id] = 1;
    if (useRegex && std::regex_match(text, re)) r.suppressed[id] = 1;  // special tokens too, as whisper.cpp
  }
  r.blankTokens.push_back(t.eot);
  return r;
}

Pick pickToken(float* logits, const std::vector<int>& generated, const SpecialTokens& t, int nVocab, const DecodeRules& rules,
               float temperature, int endNotBefore, std::mt19937& rng) {
  const int tsBegin = t.timestampBegin;
  for (int id = 0; id < nVocab; id++) {
    if (rules.suppressed[id]) logits[id] = kNegInf;
  }
  const bool initial = generated.empty();
  if (initial && rules.suppressBlank) {
    for (int id : rules.blankTokens) logits[id] = kNegInf;
  }
  if (!rules.withoutTimestamps) {
    const size_t n = generated.size();
    const bool lastWasTimestamp = n >= 1 && generated[n - 1] >= tsBegin;
    const bool penultimateWasTimestamp = n < 2 || generated[n - 2] >= tsBegin;
    if (lastWasTimestamp) {
      if (penultimateWasTimestamp) {
        for (int id = tsBegin; id < nVocab; id++) logits[id] = kNegInf;  // a pair is complete: text next
      } else {
        for (int id = 0; id < t.eot; id++) logits[id] = kNegInf;  // a segment just ended: timestamp or end
      }
    }
    // Timestamps never go back: no earlier than the last one (a new segment may start where one ended).
    int lastTimestamp = -1;
    for (size_t i = n; i-- > 0;) {
      if (generated[i] >= tsBegin) {
        lastTimestamp = generated[i];
        break;
      }
    }
    if (lastTimestamp >= 0) {
      const int from = lastWasTimestamp && !penultimateWasTimestamp ? lastTimestamp : lastTimestamp + 1;
      for (int id = tsBegin; id < std::min(from, nVocab); id++) logits[id] = kNegInf;
    }
    // Sound remains after the last timestamp: a sequence that has said something goes on (one
    // that has said nothing is left free to end: forcing text on it would make some up).
    if (lastTimestamp >= 0 && lastTimestamp - tsBegin < endNotBefore &&
        std::any_of(generated.begin(), generated.end(), [&](int id) { return id < t.eot; })) {
      logits[t.eot] = kNegInf;
    }
    if (initial) {
      for (int id = 0; id < tsBegin; id++) logits[id] = kNegInf;  // a window starts with a timestamp
      for (int id = tsBegin + rules.maxInitialTimestamp + 1; id < nVocab; id++) logits[id] = kNegInf;
    }
    if (rules.maxTokensPerSegment > 0) {
      int sinceTimestamp = 0;
      for (size_t i = n; i-- > 0 && generated[i] < tsBegin;) sinceTimestamp++;
      if (sinceTimestamp >= rules.maxTokensPerSegment) {
        for (int id = 0; id < t.eot; id++) logits[id] = kNegInf;
      }
    }
  }
  if (temperature > 0) {
    for (int id = 0; id < nVocab; id++) logits[id] /= temperature;
  }
  // log-sum-exp over the vocabulary, and over the timestamps: one max pass and one expf pass each
  // (no log-softmax vector: this runs for every sequence at every step).
  float lse = logSumExp(logits, 0, nVocab);
  if (!rules.withoutTimestamps) {
    // When the timestamps together are likelier than any single text token, a timestamp it is.
    const float tsLse = logSumExp(logits, tsBegin, nVocab);
    const float textMax = *std::max_element(logits, logits + tsBegin);
    if (tsLse > kNegInf && tsLse > textMax) {
      std::fill(logits, logits + tsBegin, kNegInf);
      lse = tsLse;
    }
  }
  int token;
  if (temperature > 0) {
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    float r = u(rng);
    token = -1;
    for (int id = 0; id < nVocab && token < 0; id++) {
      r -= std::exp(logits[id] - lse);
      if (r <= 0) token = id;
    }
    if (token < 0) token = static_cast<int>(std::max_element(logits, logits + nVocab) - logits);  // rounding left some mass
  } else {
    token = static_cast<int>(std::max_element(logits, logits + nVocab) - logits);
  }
  return Pick{token, logits[token] - lse};
}

float softmaxAt(const float* logits, int n, int index) {
  const float mx = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int i = 0; i < n; i++) sum += std::exp(static_cast<double>(logits[i] - mx));
  return static_cast<float>(std::exp(static_cast<double>(logits[index] - mx)) / sum);
}

// True when the text ends in a loop no speech makes: one token 16 times running, a phrase of
// 2–7 tokens 8 times, or one of 8–48 tokens 4 times running (a list repeats words, not the same
// phrase eight times back to back, nor a whole clause four times). A loop left running fills the
// window to the length limit, and the batch's every step waits for its longest sequence.
bool endsInLoop(const std::vector<int>& text) {
  const size_t n = text.size();
  for (size_t period = 1; period <= 48; period++) {
    const size_t span = period * (period == 1 ? 16 : period < 8 ? 8 : 4);
    if (n < span) continue;
    bool periodic = true;
    for (size_t i = n - span + period; i < n && periodic; i++) periodic = text[i] == text[i - period];
    if (periodic) return true;
  }
  return false;
}

}  // namespace wserve
