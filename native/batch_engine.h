// The batched engine: many 30 s windows through one encoder graph, and one decoder graph per
// step that advances every live sequence, each in its own slot (its own self-attention cache and
// its own window's cross-attention keys/values). A sequence that ends frees its slot and the
// next waiting window is encoded into it (continuous batching), so one long window never holds
// the batch. Same graphs on the CPU and CUDA backends. Policy (which windows, which
// temperature, what counts as a failure) stays in TypeScript: this decodes what it is given.
#pragma once
#include <ggml-alloc.h>
#include <ggml-backend.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "batch_graphs.h"
#include "batch_rules.h"
#include "batch_weights.h"
#include "encoding_store.h"
#include "engine_spec.h"
#include "op_profile.h"

namespace wserve {

struct DecodeRequest {
  const float* pcm;  // at most 30 s of 16 kHz mono
  int samples;
  float temperature;
  uint32_t seed;
  int endNotBefore;  // 20 ms steps: no end-of-text before a timestamp this far in (pickToken)
};

struct DecodeResult {
  std::vector<int> tokens;      // sampled tokens, end-of-text excluded
  std::vector<float> logprobs;  // one per token
  float endLogprob = 0;         // of the end-of-text token (0 when the length limit stopped it)
  float noSpeechProb = 0;
  int language = -1;              // language index the window was decoded in (multilingual models)
  float languageProbability = 1;  // of that language among the language tokens
  int detected = -1;              // the likeliest language, whether or not it was the one decoded in
  float detectedProbability = 0;
  bool looped = false;  // stopped early: the text ended in a loop (counts as failing)
};

// Where a run's time went (seconds of wall time; GPU graphs are waited for, so each includes its
// device time): for benchmarks and debug logs.
struct EngineTimings {
  double mel = 0, encoder = 0, decoder = 0, logits = 0, rules = 0;
  int encoderGraphs = 0, decoderSteps = 0;
  int encodingsReused = 0;  // sequences decoded from an encoding already made (copied, or still in their slot)
};

struct EngineRun {
  std::vector<DecodeRequest> requests;
  DecodeRules rules;
  int language = -1;  // language index; -1 = detect per window (multilingual models)
  bool translate = false;
  std::vector<int> promptTokens;  // previous-text prompt ([PREV] added here), may be empty
  int threads = 1;
  int encoderWindows = 1;         // new windows per encoder graph (fewer where they do not fit)
  bool reuseEncodings = true;     // a piece asked for again (retries' copies) copies its encoding
  uint32_t recording = 0;         // pieces of one recording (same PCM) reused across runs; 0: this run only
  bool profile = false;           // time every graph node (op_profile.h): slower, for benchmarks
  std::function<bool()> aborted;  // true: stop (JS flag or dispose)
  // A request's result, on the engine's thread, as soon as it is final: the caller may answer it
  // with follow-up requests (a retry warmer, the rest of a window, the next window), which join
  // the batch in flight instead of waiting for the run to end.
  std::function<void(size_t request, const DecodeResult& result)> onRequestDone;
  // Appends the follow-ups answered so far to `into`; true while answers are still owed (the run
  // may not end yet). `wait`: blocks until an answer comes (or the run is aborted).
  std::function<bool(std::vector<DecodeRequest>& into, bool wait)> takeFollowUps;
};

class BatchEngine {
 public:
  explicit BatchEngine(const EngineSpec& spec);
  ~BatchEngine();

  const WhisperWeights& weights() const { return *weights_; }
  // The weights' bytes on the backend and the packed copies beside them.
  size_t weightBytes() const;
  std::string backendName() const;
  // "fused" (ggml's flash attention) or "softmax" (softmax(QKᵀ)V): what this backend runs.
  const char* attention() const { return flashAttn_ ? "fused" : "softmax"; }
  // Runs every request, and the follow-ups they are answered with (appended to run.requests),
  // with at most `slots` sequences at once (fewer where they do not fit: slotsGranted() says);
  // results by request index. Throws std::runtime_error (a failed graph, or "aborted").
  std::vector<DecodeResult> run(EngineRun& run, int slots);
  // Of the last run's `slots`, how many fit (whatever its number of requests).
  int slotsGranted() const { return slotsGranted_; }
  const EngineTimings& timings() const { return timings_; }
  // The last run's per-op costs, when it asked for them.
  const std::map<std::string, OpCost>& profile() const { return profile_.costs(); }

 private:
  struct Slot;
  int fit(int slots, int encoderWindows);
  bool fits(int slots, int kept, int encoderWindows);
  bool runsFusedAttention();
  ggml_cgraph* buildGraph(ggml_context* ctx, bool encoder, int n) const;
  bool reserve(bool encoder, int n);
  ggml_tensor* unsupportedNode(ggml_cgraph* graph) const;
  bool supported(ggml_cgraph* graph) const;
  std::vector<float> melOf(const EngineRun& run, const std::vector<size_t>& requestIds);
  void encodeAll(const EngineRun& run, const std::vector<int>& slotIds, const std::vector<size_t>& requestIds, size_t chunk);
  void encodeInto(const EngineRun& run, const std::vector<int>& slotIds, const std::vector<float>& mel);
  void copyEncodings(const EngineRun& run, const std::vector<std::pair<int, int>>& fromTo);
  void decodeStep(const EngineRun& run, std::vector<Slot>& slots, const std::vector<int32_t>& live, std::vector<float>& logits);
  void allocate(ggml_cgraph* graph, const EngineRun& run);
  ggml_status compute(ggml_cgraph* graph, const EngineRun& run, const char* stage);
  static bool nodeHook(void* engine);

  ggml_backend_t backend_ = nullptr;
  bool onCpu_ = true;
  bool flashAttn_ = false;
  bool bf16Attention_ = false;                // the encoder's attention and products in our bf16 kernels (CPU, fused attention)
  bool amxEncoder_ = false;                   // those in AMX tiles
  ggml_type crossCacheType_ = GGML_TYPE_F16;  // with fused attention only (EngineCaches::allocate); bf16: packed
  int slotCeiling_ = 1 << 30;                 // slots known to fit, once a larger batch did not
  int slotsGranted_ = 0;
  EngineTimings timings_;
  int encoderWindows_ = 1;  // windows per encoder graph: as asked, or fewer where they did not fit
  int encoderAsked_ = 0;
  std::unique_ptr<WhisperWeights> weights_;
  std::unique_ptr<PackedMatrices> encoderPacks_;  // the encoder's matrices packed for one of our product ops, or null
  std::unique_ptr<PackedMatrices> decoderPacks_;  // the decoder's, or null
  EngineCaches caches_;
  EncodingStore encodings_;  // what each cross-attention cache holds
  OpProfile profile_;
  const EngineRun* hookRun_ = nullptr;  // the run the CPU's node hook asks about aborting
  ggml_gallocr_t allocator_ = nullptr;
  std::vector<uint8_t> graphMeta_;
};

}  // namespace wserve
