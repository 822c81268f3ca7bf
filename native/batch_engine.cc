#include "batch_engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <stdexcept>

#include "amx_tiles.h"
#include "backends.h"
#include "batch_graphs.h"
#include "batch_mel.h"
#include "bf16_linear.h"
#include "cross_attention.h"
#include "encoder_attention.h"
#include "int8_linear.h"
#include "parallel.h"

namespace wserve {

namespace {

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Up to `count` items of `all` from `from`.
template <typename T>
std::vector<T> slice(const std::vector<T>& all, size_t from, size_t count) {
  const auto begin = all.begin() + static_cast<std::ptrdiff_t>(from);
  return std::vector<T>(begin, begin + static_cast<std::ptrdiff_t>(std::min(count, all.size() - from)));
}

// ggml's abort hook: checked between graph nodes on the CPU backend.
bool abortRequested(void* data) {
  const auto* run = static_cast<const EngineRun*>(data);
  return run->aborted && run->aborted();
}

}  // namespace

struct BatchEngine::Slot {
  bool live = false;
  size_t request = 0;
  std::vector<int> prompt;  // fed one token per step before sampling starts
  size_t sotIndex = 0;      // where start-of-transcript sits in the prompt
  size_t fed = 0;           // tokens fed so far: the position of the next one
  int next = 0;             // the token fed at the next step
  std::vector<int> generated;
  std::vector<int> text;  // the generated text tokens (no timestamps): where loops show
  std::mt19937 rng;
  DecodeResult result;
};

BatchEngine::BatchEngine(const EngineSpec& spec) {
  if (spec.useGpu) {
    int seen = 0;
    for (size_t i = 0; i < ggml_backend_dev_count() && !backend_; i++) {
      ggml_backend_dev_t dev = ggml_backend_dev_get(i);
      if (ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_GPU && seen++ == spec.gpuDevice)
        backend_ = ggml_backend_dev_init(dev, nullptr);
    }
  }
  onCpu_ = backend_ == nullptr;
  if (onCpu_) backend_ = initCpuBackend();
  if (!backend_) throw std::runtime_error("no ggml backend could be started");
  // Our bf16 encoder is decided before the weights load: it keeps the encoder's matrices bf16.
  const bool bf16 = onCpu_ && cpuHasFeature("AVX512_BF16");
  const bool bf16Encoder = bf16 && spec.flashAttn && spec.bf16Attention;
  const bool amx = bf16Encoder && spec.amxEncoder && amxBf16Runs();
  try {
    weights_ = WhisperWeights::load(spec.path, backend_, {bf16, onCpu_ && spec.repackWeights, onCpu_ && spec.q8Matrices, bf16Encoder});
  } catch (...) {
    ggml_backend_free(backend_);
    throw;
  }
  allocator_ = ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend_));
  graphMeta_.resize(ggml_tensor_overhead() * kMaxGraphNodes + ggml_graph_overhead_custom(kMaxGraphNodes, false));
  flashAttn_ = spec.flashAttn && runsFusedAttention();
  if (onCpu_ && spec.q8CrossCache) crossCacheType_ = GGML_TYPE_Q8_0;
  if (onCpu_ && spec.bf16CrossCache && bf16AttentionRuns(weights_->hp.nTextState / weights_->hp.nTextHead))
    crossCacheType_ = GGML_TYPE_BF16;
  bf16Attention_ = onCpu_ && flashAttn_ && spec.bf16Attention && bf16AttentionRuns(weights_->hp.nAudioState / weights_->hp.nAudioHead);
  amxEncoder_ = amx && bf16Attention_;
  // The products' matrices packed once at load for our ops. int8Products: the encoder's in int8,
  // the decoder's too unless our bf16 kernels run on bf16 weights (AVX512-BF16): then the
  // decoder's in bf16, more exact than rounding each step's few rows to int8, at its bytes' cost
  // (bench/README.md, "int8 products"). The encoder's bf16 products pack their share as they run.
  if (onCpu_ && spec.int8Products && int8LinearRuns()) encoderPacks_ = std::make_unique<Int8Packs>(backend_);
  if (bf16Attention_ && bf16) {
    decoderPacks_ = std::make_unique<Bf16Packs>();
  } else if (encoderPacks_) {
    decoderPacks_ = std::make_unique<Int8Packs>(backend_);
  }
  if (encoderPacks_) {
    for (const EncoderBlock& b : weights_->encoder) {
      for (ggml_tensor* m : {b.attn.qW, b.attn.kW, b.attn.vW, b.attn.outW, b.mlp0W, b.mlp2W}) encoderPacks_->add(m);
    }
    for (const DecoderBlock& b : weights_->decoder) {
      for (ggml_tensor* m : {b.cross.kW, b.cross.vW}) encoderPacks_->add(m);
    }
  }
  if (decoderPacks_) {
    for (const DecoderBlock& b : weights_->decoder) {
      for (ggml_tensor* m : {b.attn.qW, b.attn.kW, b.attn.vW, b.attn.outW, b.cross.qW, b.cross.outW, b.mlp0W, b.mlp2W})
        decoderPacks_->add(m);
    }
    decoderPacks_->add(weights_->tokenEmbedding);
  }
}

size_t BatchEngine::weightBytes() const {
  return weights_->bytes + (encoderPacks_ ? encoderPacks_->bytes() : 0) + (decoderPacks_ ? decoderPacks_->bytes() : 0);
}

// ggml's fused attention where the backend runs it at this model's shapes (the CPU always; CUDA's
// kernels on recent ggml, whatever the key length), else softmax(QKᵀ)V, which every backend runs.
// Asked of the backend on the graphs of one slot.
bool BatchEngine::runsFusedAttention() {
  if (onCpu_) return true;
  flashAttn_ = true;
  bool runs = true;
  try {
    caches_.allocate(backend_, weights_->hp, 1, 0, false);
    for (bool encoder : {true, false}) {
      ggml_init_params params = {graphMeta_.size(), graphMeta_.data(), true};
      ggml_context* ctx = ggml_init(params);
      runs = runs && unsupportedNode(buildGraph(ctx, encoder, 1)) == nullptr;
      ggml_free(ctx);
    }
  } catch (const std::runtime_error&) {
    runs = false;  // not even one slot fits: fit() will say so
  }
  caches_.release();
  return runs;
}

// The encoder graph for n windows, or the decoder step for n slots at the longest context: the
// largest graphs a run builds, for reserving and checking.
ggml_cgraph* BatchEngine::buildGraph(ggml_context* ctx, bool encoder, int n) const {
  return encoder ? buildEncoderGraph(ctx, *weights_, caches_, n, flashAttn_, onCpu_, bf16Attention_, amxEncoder_, encoderPacks_.get()).graph
                 : buildDecoderGraph(ctx, *weights_, caches_, weights_->hp.nTextCtx, n, n, decoderPacks_.get()).graph;
}

bool BatchEngine::reserve(bool encoder, int n) {
  ggml_init_params params = {graphMeta_.size(), graphMeta_.data(), true};
  ggml_context* ctx = ggml_init(params);
  ggml_cgraph* graph = buildGraph(ctx, encoder, n);
  const bool ok = supported(graph) && ggml_gallocr_reserve(allocator_, graph);
  ggml_free(ctx);
  return ok;
}

BatchEngine::~BatchEngine() {
  if (allocator_) ggml_gallocr_free(allocator_);
  caches_.release();
  weights_.reset();
  if (backend_) ggml_backend_free(backend_);
}

std::string BatchEngine::backendName() const { return ggml_backend_name(backend_); }

// Caches and compute buffers for `wanted` sequences, the decoder at its longest context, and the
// encoder for encoderWindows_ windows: what a run can need at most, allocated before it starts.
// Where that does not fit (VRAM), fewer encoder windows first (they only cost activations), then
// half as many slots, down to one (or first the count that fit before, when a run asks for more
// than the last): the run goes on with the batch that fits, and later runs ask no more of it.
// The caches only grow: a smaller run (a fallback's few windows) uses the first slots.
int BatchEngine::fit(int wanted, int encoderWindows) {
  wanted = std::min(wanted, slotCeiling_);
  encoderWindows = std::max(1, std::min(encoderWindows, wanted));
  if (wanted <= caches_.slots && encoderWindows <= encoderAsked_) return wanted;
  encoderAsked_ = encoderWindows;
  const int fitBefore = caches_.slots;
  auto smaller = [fitBefore](int slots) { return fitBefore > slots / 2 && fitBefore < slots ? fitBefore : slots / 2; };
  // Kept encodings (a fallback's window decoded again without its encoder pass): half as many as
  // slots, at most ~512 MiB of them (two of large-v3's), and the first thing given up for memory.
  const WhisperHparams& hp = weights_->hp;
  const size_t perEncoding = 2 * sizeof(ggml_fp16_t) * static_cast<size_t>(hp.nTextLayer) * hp.nTextState * hp.nAudioCtx;
  const int keptCeiling = std::max<int>(1, static_cast<int>((size_t{512} << 20) / perEncoding));
  for (int slots = wanted;; slots = smaller(slots)) {
    const int kept = std::min((slots + 1) / 2, keptCeiling);
    if (fits(slots, kept, encoderWindows) || fits(slots, 0, encoderWindows)) {
      if (slots < wanted) slotCeiling_ = slots;
      return slots;
    }
    if (slots <= 1) throw std::runtime_error("cannot allocate the caches and compute buffers of one sequence");
  }
}

// Allocates caches for `slots` sequences and `kept` encodings and reserves the graphs' buffers
// (encoder windows halved until they fit); false, with the caches released, where they do not.
bool BatchEngine::fits(int slots, int kept, int encoderWindows) {
  try {
    caches_.allocate(backend_, weights_->hp, slots, kept, !flashAttn_, crossCacheType_);
    encodings_.reset(slots, slots + kept);
    // gallocr's buffer only grows (a failed reservation frees it): encoder first, then the decoder.
    for (encoderWindows_ = std::min(slots, encoderWindows);; encoderWindows_ /= 2) {
      if (reserve(true, encoderWindows_)) {
        if (reserve(false, slots)) return true;
        break;
      }
      if (encoderWindows_ == 1) break;
    }
  } catch (const std::runtime_error&) {
  }
  caches_.release();
  encodings_.reset(0, 0);
  return false;
}

// The first node the backend cannot run, or null: on one backend without a fallback, ggml would
// abort the process on such a node. The CPU runs every op, except on a matrix in ggml's AMX
// layout: its kernel takes any product whose weights are there without a check of its own, and
// reads out of bounds (or garbage) on a 3-D, strided or non-f32 input or rows not in 32s.
ggml_tensor* BatchEngine::unsupportedNode(ggml_cgraph* graph) const {
  for (int i = 0; i < ggml_graph_n_nodes(graph); i++) {
    ggml_tensor* node = ggml_graph_node(graph, i);
    if (!onCpu_) {
      if (!ggml_backend_supports_op(backend_, node)) return node;
      continue;
    }
    for (int s = 0; s < GGML_MAX_SRC && node->src[s]; s++) {
      if (!inAmxLayout(node->src[s])) continue;
      const ggml_tensor* x = node->src[1];
      const bool runs = s == 0 && node->op == GGML_OP_MUL_MAT && x->type == GGML_TYPE_F32 && ggml_is_contiguous(x) && x->ne[2] == 1 &&
                        x->ne[3] == 1 && node->ne[0] % 32 == 0 && node->src[0]->ne[0] % 32 == 0;
      if (!runs) return node;
    }
  }
  return nullptr;
}

bool BatchEngine::supported(ggml_cgraph* graph) const {
  // Not a size problem (fit() shrinks on runtime_error): this batch would not run either.
  if (ggml_tensor* node = unsupportedNode(graph)) {
    throw std::logic_error(std::string(onCpu_ ? "ggml's AMX kernel cannot run " : "the backend cannot run ") + ggml_op_desc(node) + " (" +
                           node->name + ")");
  }
  return true;
}

void BatchEngine::allocate(ggml_cgraph* graph, const EngineRun& run) {
  if (!ggml_gallocr_alloc_graph(allocator_, graph)) throw std::runtime_error("cannot allocate the compute graph");
  if (onCpu_) {
    setCpuThreads(backend_, run.threads);
    hookRun_ = &run;
    setCpuAbortCallback(backend_, nodeHook, this);
  }
}

// Called by the CPU backend after each node: profiling, then whether to stop.
bool BatchEngine::nodeHook(void* engine) {
  auto* self = static_cast<BatchEngine*>(engine);
  if (self->hookRun_->profile) self->profile_.nodeDone();
  return abortRequested(const_cast<EngineRun*>(self->hookRun_));
}

ggml_status BatchEngine::compute(ggml_cgraph* graph, const EngineRun& run, const char* stage) {
  if (run.profile) profile_.start(graph, stage);
  const ggml_status status = ggml_backend_graph_compute(backend_, graph);
  if (run.profile) profile_.stop();
  return status;
}

// The log-mel spectrograms of a pass's windows, on the host: windows on threads of their own;
// one window alone splits its frames over them.
std::vector<float> BatchEngine::melOf(const EngineRun& run, const std::vector<size_t>& requestIds) {
  const WhisperHparams& hp = weights_->hp;
  const size_t n = requestIds.size(), size = static_cast<size_t>(hp.nMels) * kMelFrames;
  std::vector<float> mel(n * size);
  const auto t0 = std::chrono::steady_clock::now();
  parallelFor(n, run.threads, [&](size_t i) {
    const DecodeRequest& r = run.requests[requestIds[i]];
    logMelWindow(r.pcm, r.samples, weights_->melFilters, hp.nMels, std::max(1, run.threads / static_cast<int>(n)), mel.data() + i * size);
  });
  timings_.mel += secondsSince(t0);
  return mel;
}

// New windows into their slots, `chunk` per encoder graph. On a GPU the host computes the next
// pass's mel while the card runs this one (the mel was 1 s of a 7.6 s run at batch 256 on an
// H200); on the CPU the passes run in turn, since the encoder already has the cores.
void BatchEngine::encodeAll(const EngineRun& run, const std::vector<int>& slotIds, const std::vector<size_t>& requestIds, size_t chunk) {
  auto part = [chunk](const auto& all, size_t i) { return slice(all, i, chunk); };
  if (slotIds.empty()) return;
  std::vector<float> mel = melOf(run, part(requestIds, 0));
  for (size_t i = 0; i < slotIds.size(); i += chunk) {
    const bool more = i + chunk < slotIds.size();
    std::future<std::vector<float>> next;
    if (more && !onCpu_) next = std::async(std::launch::async, [&, i] { return melOf(run, part(requestIds, i + chunk)); });
    encodeInto(run, part(slotIds, i), mel);
    if (more) mel = next.valid() ? next.get() : melOf(run, part(requestIds, i + chunk));
  }
}

// One graph: the encoder over the windows' mel, and each decoder layer's cross-attention
// keys/values written into the windows' slots.
void BatchEngine::encodeInto(const EngineRun& run, const std::vector<int>& slotIds, const std::vector<float>& mel) {
  const WhisperHparams& hp = weights_->hp;
  const int n = static_cast<int>(slotIds.size());
  const int T = hp.nAudioCtx, state = hp.nAudioState;
  std::vector<int64_t> kRows(static_cast<size_t>(T) * n), vRows(static_cast<size_t>(state) * n);
  for (int i = 0; i < n; i++) {
    for (int t = 0; t < T; t++) kRows[static_cast<size_t>(i) * T + t] = static_cast<int64_t>(slotIds[i]) * T + t;
    for (int j = 0; j < state; j++) vRows[static_cast<size_t>(i) * state + j] = static_cast<int64_t>(slotIds[i]) * state + j;
  }

  const auto t0 = std::chrono::steady_clock::now();
  ggml_init_params params = {graphMeta_.size(), graphMeta_.data(), true};
  ggml_context* ctx = ggml_init(params);
  EncoderGraph g = buildEncoderGraph(ctx, *weights_, caches_, n, flashAttn_, onCpu_, bf16Attention_, amxEncoder_, encoderPacks_.get());
  allocate(g.graph, run);
  ggml_backend_tensor_set(g.mel, mel.data(), 0, mel.size() * sizeof(float));
  ggml_backend_tensor_set(g.rowsK, kRows.data(), 0, kRows.size() * sizeof(int64_t));
  if (g.rowsV) ggml_backend_tensor_set(g.rowsV, vRows.data(), 0, vRows.size() * sizeof(int64_t));
  const ggml_status status = compute(g.graph, run, "encoder");
  ggml_free(ctx);
  timings_.encoder += secondsSince(t0);
  timings_.encoderGraphs++;
  if (abortRequested(const_cast<EngineRun*>(&run))) throw std::runtime_error("aborted");
  if (status != GGML_STATUS_SUCCESS) throw std::runtime_error("the encoder graph failed");
}

// As lib/batched.ts scores a try (end-of-text counted): the rank for keeping its encoding.
static float meanLogprob(const DecodeResult& r) {
  float sum = r.endLogprob;
  for (float lp : r.logprobs) sum += lp;
  return sum / static_cast<float>(r.logprobs.size() + 1);
}

// Cache a's cross-attention keys/values into cache b, for each (a, b), in one graph on the backend:
// ~9 MB a window for tiny, where encoding it again was a whole encoder pass (0.3–0.5 s on 2 cores).
void BatchEngine::copyEncodings(const EngineRun& run, const std::vector<std::pair<int, int>>& fromTo) {
  // Three nodes a copy per cache tensor (two views and the copy): as many copies a graph as fit.
  const size_t perCopy = 3 * (caches_.crossK.size() + caches_.crossV.size());
  const size_t chunk = std::max<size_t>(1, (kMaxGraphNodes - 16) / perCopy);
  for (size_t first = 0; first < fromTo.size(); first += chunk) {
    ggml_init_params params = {graphMeta_.size(), graphMeta_.data(), true};
    ggml_context* ctx = ggml_init(params);
    ggml_cgraph* graph = ggml_new_graph_custom(ctx, kMaxGraphNodes, false);
    for (std::vector<ggml_tensor*>* cache : {&caches_.crossK, &caches_.crossV}) {
      for (ggml_tensor* t : *cache) {
        const int64_t perSlot = t->ne[0] * t->ne[1];  // each slot's [state, audioCtx] (or transposed) is contiguous
        for (size_t i = first; i < std::min(fromTo.size(), first + chunk); i++) {
          ggml_tensor* src = ggml_view_1d(ctx, t, perSlot, static_cast<size_t>(fromTo[i].first) * t->nb[2]);
          ggml_tensor* dst = ggml_view_1d(ctx, t, perSlot, static_cast<size_t>(fromTo[i].second) * t->nb[2]);
          ggml_build_forward_expand(graph, ggml_cpy(ctx, src, dst));
        }
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    allocate(graph, run);
    const ggml_status status = compute(graph, run, "copy");
    ggml_free(ctx);
    timings_.encoder += secondsSince(t0);
    if (status != GGML_STATUS_SUCCESS) throw std::runtime_error("copying an encoding failed");
  }
}

// One token for every slot up to the last live one (dead slots feed end-of-text at position 0 and
// are ignored); the logits of the `live` slots (ascending) come back, in that order.
void BatchEngine::decodeStep(const EngineRun& run, std::vector<Slot>& slots, const std::vector<int32_t>& live, std::vector<float>& logits) {
  const WhisperHparams& hp = weights_->hp;
  const int state = hp.nTextState, ctxLen = hp.nTextCtx;
  // Over f16 cross caches ggml's fused attention splits a lone query's 1500 keys among the threads
  // and sums the parts in another order than it sums a batch's: a window decoded alone would round
  // differently from the same window beside others. So two slots at least (the second dead).
  const bool splitsLoneQuery = onCpu_ && flashAttn_ && crossCacheType_ == GGML_TYPE_F16 && slots.size() >= 2;
  const int S = std::max(live.back() + 1, splitsLoneQuery ? 2 : 1);
  int nKv = 1;
  for (int32_t s : live) nKv = std::max(nKv, static_cast<int>(slots[s].fed) + 1);
  std::vector<int32_t> tok(S), pos(S);
  std::vector<int64_t> kRows(S), vRows(static_cast<size_t>(state) * S);
  std::vector<float> maskData(static_cast<size_t>(nKv) * S, -INFINITY);
  for (int s = 0; s < S; s++) {
    const Slot& slot = slots[s];
    const int p = slot.live ? static_cast<int>(slot.fed) : 0;
    tok[s] = slot.live ? slot.next : weights_->tokens.eot;
    pos[s] = p;
    kRows[s] = static_cast<int64_t>(s) * ctxLen + p;
    for (int j = 0; j < state; j++) vRows[static_cast<size_t>(s) * state + j] = (static_cast<int64_t>(s) * state + j) * ctxLen + p;
    for (int j = 0; j <= p; j++) maskData[static_cast<size_t>(s) * nKv + j] = 0.0f;
  }

  auto t0 = std::chrono::steady_clock::now();
  ggml_init_params params = {graphMeta_.size(), graphMeta_.data(), true};
  ggml_context* ctx = ggml_init(params);
  DecoderGraph g = buildDecoderGraph(ctx, *weights_, caches_, nKv, S, static_cast<int>(live.size()), decoderPacks_.get());
  allocate(g.graph, run);
  ggml_backend_tensor_set(g.tokens, tok.data(), 0, tok.size() * sizeof(int32_t));
  ggml_backend_tensor_set(g.positions, pos.data(), 0, pos.size() * sizeof(int32_t));
  ggml_backend_tensor_set(g.rowsK, kRows.data(), 0, kRows.size() * sizeof(int64_t));
  if (g.rowsV) ggml_backend_tensor_set(g.rowsV, vRows.data(), 0, vRows.size() * sizeof(int64_t));
  ggml_backend_tensor_set(g.mask, maskData.data(), 0, maskData.size() * sizeof(float));
  ggml_backend_tensor_set(g.liveRows, live.data(), 0, live.size() * sizeof(int32_t));
  const ggml_status status = compute(g.graph, run, "decoder");
  timings_.decoder += secondsSince(t0);
  timings_.decoderSteps++;
  t0 = std::chrono::steady_clock::now();
  if (status == GGML_STATUS_SUCCESS) {
    logits.resize(static_cast<size_t>(hp.nVocab) * live.size());
    ggml_backend_tensor_get(g.logits, logits.data(), 0, logits.size() * sizeof(float));
  }
  timings_.logits += secondsSince(t0);
  ggml_free(ctx);
  if (abortRequested(const_cast<EngineRun*>(&run))) throw std::runtime_error("aborted");
  if (status != GGML_STATUS_SUCCESS) throw std::runtime_error("the decoder graph failed");
}

std::vector<DecodeResult> BatchEngine::run(EngineRun& run, int slotCount) {
  const WhisperWeights& w = *weights_;
  const SpecialTokens& t = w.tokens;
  const int nVocab = w.hp.nVocab;
  const size_t maxGenerated = static_cast<size_t>(w.hp.nTextCtx / 2);  // whisper's sample_len
  // Slots for the requests given, or for as many as asked where follow-ups may add more.
  const int wanted = run.takeFollowUps ? slotCount : std::min<int>(slotCount, static_cast<int>(run.requests.size()));
  const int capacity = fit(std::max(1, wanted), run.encoderWindows);
  slotsGranted_ = std::min(std::max(1, slotCount), slotCeiling_);
  timings_ = EngineTimings();
  profile_.clear();

  // The prompt: previous text (at most half the context), then start-of-transcript, language and
  // task (multilingual models; a detected language is filled in when its logits are known).
  std::vector<int> prompt;
  if (!run.promptTokens.empty()) {
    prompt.push_back(t.prev);
    const size_t keep = std::min(run.promptTokens.size(), maxGenerated - 1);
    prompt.insert(prompt.end(), run.promptTokens.end() - keep, run.promptTokens.end());
  }
  const size_t sotIndex = prompt.size();
  prompt.push_back(t.sot);
  if (t.multilingual) {
    prompt.push_back(run.language >= 0 ? t.language(run.language) : -1);
    prompt.push_back(run.translate ? t.translate : t.transcribe);
  }
  if (run.rules.withoutTimestamps) prompt.push_back(t.noTimestamps);

  std::vector<DecodeResult> results(run.requests.size());
  std::vector<Slot> slots(capacity);
  std::vector<float> logits;
  size_t nextRequest = 0;
  encodings_.keepOnly(run.reuseEncodings ? run.recording : 0);
  bool owed = false;  // answers to finished requests not yet in (they may bring follow-ups)
  auto takeFollowUps = [&](bool wait) {
    owed = run.takeFollowUps && run.takeFollowUps(run.requests, wait);
    results.resize(run.requests.size());
  };
  while (true) {
    if (abortRequested(&run)) throw std::runtime_error("aborted");
    takeFollowUps(false);
    std::vector<int> freeSlots;
    std::vector<size_t> admitted;
    for (int s = 0; s < capacity && nextRequest < run.requests.size(); s++) {
      if (slots[s].live) continue;
      Slot& slot = slots[s];
      slot = Slot();
      slot.live = true;
      slot.request = nextRequest;
      slot.prompt = prompt;
      slot.sotIndex = sotIndex;
      slot.next = prompt[0];
      slot.rng.seed(run.requests[nextRequest].seed);
      freeSlots.push_back(s);
      admitted.push_back(nextRequest++);
    }
    // Where each new sequence's encoding comes from (encoding_store.h): kept copies first, then
    // the encoder passes, then copies of what they just encoded.
    std::vector<std::pair<int, EncodedPiece>> pieces;
    for (size_t k = 0; k < admitted.size(); k++) {
      const DecodeRequest& r = run.requests[admitted[k]];
      pieces.emplace_back(freeSlots[k], EncodedPiece{run.recording, r.pcm, r.samples});
    }
    const EncodingPlan plan = encodings_.admit(pieces, run.reuseEncodings);
    std::vector<int> encodeSlots;
    std::vector<size_t> encodeRequests;
    for (size_t k : plan.encode) {
      encodeSlots.push_back(freeSlots[k]);
      encodeRequests.push_back(admitted[k]);
    }
    timings_.encodingsReused += static_cast<int>(admitted.size() - encodeSlots.size());
    copyEncodings(run, plan.saves);
    copyEncodings(run, plan.copyFirst);
    encodeAll(run, encodeSlots, encodeRequests, static_cast<size_t>(std::min(encoderWindows_, run.encoderWindows)));
    copyEncodings(run, plan.copyAfter);
    std::vector<int32_t> live;
    for (int s = 0; s < capacity; s++) {
      if (slots[s].live) live.push_back(s);
    }
    if (live.empty()) {
      if (!owed) break;
      takeFollowUps(true);  // nothing to decode until an answer comes
      continue;
    }

    decodeStep(run, slots, live, logits);
    const auto rulesStart = std::chrono::steady_clock::now();
    // Each live slot reads its row of logits: the no-speech probability (and language) after
    // start-of-transcript, then a sampled token once its prompt is fed. Slots are independent (own
    // row, own state, own generator), so this runs on the threads; ending and refilling stay here.
    std::vector<Pick> picks(live.size(), Pick{-1, 0});
    parallelFor(live.size(), run.threads, [&](size_t row) {
      Slot& slot = slots[live[row]];
      float* l = logits.data() + row * nVocab;
      if (slot.fed == slot.sotIndex) {
        slot.result.noSpeechProb = softmaxAt(l, nVocab, t.nosp);
        if (t.multilingual) {
          // The likeliest language is read even when one is forced: a window that clearly speaks
          // another one is worth a warning (lib/batched.ts), and costs nothing more here.
          const float* langLogits = l + t.language(0);
          const int likeliest = static_cast<int>(std::max_element(langLogits, langLogits + t.nLanguages) - langLogits);
          const int lang = run.language >= 0 ? run.language : likeliest;
          slot.prompt[slot.sotIndex + 1] = t.language(lang);
          slot.result.language = lang;
          slot.result.languageProbability = softmaxAt(langLogits, t.nLanguages, lang);
          slot.result.detected = likeliest;
          slot.result.detectedProbability =
              lang == likeliest ? slot.result.languageProbability : softmaxAt(langLogits, t.nLanguages, likeliest);
        }
      }
      if (slot.fed + 1 >= slot.prompt.size()) {
        picks[row] = pickToken(l, slot.generated, t, nVocab, run.rules, run.requests[slot.request].temperature,
                               run.requests[slot.request].endNotBefore, slot.rng);
      }
    });
    for (size_t row = 0; row < live.size(); row++) {
      Slot& slot = slots[live[row]];
      slot.fed++;
      if (slot.fed < slot.prompt.size()) {
        slot.next = slot.prompt[slot.fed];
        continue;
      }
      const Pick& pick = picks[row];
      bool finished = false;
      if (pick.token == t.eot) {
        slot.result.endLogprob = pick.logprob;
        finished = true;
      } else {
        slot.generated.push_back(pick.token);
        slot.result.tokens.push_back(pick.token);
        slot.result.logprobs.push_back(pick.logprob);
        slot.next = pick.token;
        // Without timestamps a window is one segment: maxTokensPerSegment caps it (at N + 1 tokens,
        // as whisper.cpp counts).
        const size_t cap =
            run.rules.withoutTimestamps && run.rules.maxTokensPerSegment > 0 ? run.rules.maxTokensPerSegment + 1 : maxGenerated;
        finished = slot.generated.size() >= std::min(cap, maxGenerated) || slot.fed + 1 >= static_cast<size_t>(w.hp.nTextCtx);
        if (pick.token < t.eot) {
          slot.text.push_back(pick.token);
          // A sequence caught in a loop would run to the length limit and then fail the
          // compression check anyway: it stops here, marked, and fails it all the same.
          if (!finished && endsInLoop(slot.text)) finished = slot.result.looped = true;
        }
      }
      if (finished) {
        encodings_.finished(live[row], slot.result.looped ? -INFINITY : meanLogprob(slot.result));
        if (run.onRequestDone) run.onRequestDone(slot.request, slot.result);
        results[slot.request] = std::move(slot.result);
        slot.live = false;
      }
    }
    timings_.rules += secondsSince(rulesStart);
  }
  return results;
}

}  // namespace wserve
