// One call of Model.transcribeWindows: PCM and a list of windows in, segments per window out.
// Windows run on their own threads, one per borrowed whisper_state (not the libuv pool, whose
// 4 threads the rest of Node needs). Progress and completion reach JS through one
// ThreadSafeFunction; an Int32Array flag from JS (or dispose) aborts through ggml's abort hook.
#pragma once
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model.h"

struct whisper_state;

namespace wserve {

// Every field comes from JS (lib/decode-options.ts holds the defaults); none has a default here.
struct DecodeParams {
  int threads;
  int maxStates;  // concurrency cap for this job (the pool may be larger)
  bool sequential;
  bool conditionOnPreviousText;  // sequential mode only
  std::string language;          // or "auto"
  bool languagePerWindow;        // with "auto": each window detects its own (faster-whisper's multilingual)
  bool translate;
  std::string initialPrompt;
  float temperature;
  float temperatureIncrement;
  float entropyThreshold;
  float logprobThreshold;
  float noSpeechThreshold;
  int beamSize;
  int bestOf;
  float lengthPenalty;
  float patience;
  bool wordTimestamps;
  bool suppressBlank;
  bool suppressNonSpeech;
  bool noTimestamps;
  int maxTokens;              // per segment; 0 = no limit
  std::string suppressRegex;  // tokens whose text matches are never sampled
};

struct TokenResult {
  int id;
  std::string text;
  float p;
  double t0, t1;
};

struct SegmentResult {
  double t0, t1;  // seconds from the window's start
  std::string text;
  float noSpeechProb;
  float avgLogprob;
  std::vector<int32_t> ids;         // text tokens, always
  std::vector<TokenResult> tokens;  // with word timestamps only
};

struct Window {
  int64_t start, end;  // samples
};

class TranscribeJob {
 public:
  static Napi::Value Start(const Napi::CallbackInfo& info, std::shared_ptr<ModelHandle> model);
  ~TranscribeJob();

  bool aborted() const;
  void reportProgress(size_t window, float fraction);

 private:
  TranscribeJob() = default;
  static void run(std::shared_ptr<TranscribeJob> self);
  void runWorker();
  bool detectLanguage();
  bool detectOn(whisper_state* state, const Window& w, int& id, float& probability);
  bool runWindow(whisper_state* state, size_t index, bool firstOfSequence);
  void fail(const std::string& code, const std::string& message);
  void settle(Napi::Env env);

  std::shared_ptr<ModelHandle> model_;
  DecodeParams params_;
  std::vector<Window> windows_;
  const float* pcm_ = nullptr;
  int64_t nSamples_ = 0;
  int32_t* abortFlag_ = nullptr;

  Napi::ObjectReference pcmRef_;
  Napi::ObjectReference abortRef_;
  std::optional<Napi::Promise::Deferred> deferred_;  // set in Start (needs an env)
  Napi::ThreadSafeFunction tsfn_;

  std::atomic<size_t> nextWindow_{0};
  std::vector<std::vector<SegmentResult>> results_;
  std::vector<std::pair<std::string, float>> windowLanguages_;  // languagePerWindow: each window's
  std::string language_;
  float languageProbability_ = 1.0f;

  std::mutex errorMutex_;
  std::atomic<bool> failed_{false};
  std::string errorCode_, errorMessage_;
};

}  // namespace wserve
