// softmax(QKᵀ/8)V for 64-dimensional heads in bf16 (see encoder_attention.h).
//
// Per head: keys and values are packed once into bf16 pairs laid out for VDPBF16PS
// (bf16_kernels.h). The same layouts are AMX's B tiles (16 pairs × 16 columns). A block
// of queries (8 in AVX-512 registers, 16 in an AMX tile) then takes its whole score rows
// (T = 1500 fits in L2), an exact softmax over each, and the product with V, sums in f32.
// Without AVX512-BF16, the same packed head is read widened to f32 (widened_attention.h).
#include "encoder_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "amx_tiles.h"
#include "backends.h"
#include "bf16_kernels.h"
#include "widened_attention.h"

namespace wserve {

namespace {

#ifdef WSERVE_X86

using namespace bf16;

constexpr int kBlock = 8;      // queries whose scores AVX-512 computes together
constexpr int kTileRows = 16;  // queries an AMX tile holds (and the most a block has)

// What one thread packs and computes in; grown to the longest T seen, kept for the next graph.
struct Scratch {
  std::vector<uint32_t> keys;                       // [T/16 groups][kPairs][16 keys]
  std::vector<uint32_t> values;                     // [T/2 key pairs][4 vectors][16 dimensions]
  std::vector<float> scores;                        // [block][padded T]
  std::vector<uint16_t> probs;                      // [block][padded T], bf16
  alignas(64) uint32_t queries[kTileRows][kPairs];  // bf16 rows, scaled
  alignas(64) float outputs[kTileRows][kHeadDim];   // AMX's tiles of P·V
};

thread_local Scratch scratch;

// Keys and values of one head → scratch (bf16_kernels.h's layouts). Rows `stride` floats apart.
WSERVE_BF16_TARGET void packHead(const float* k, const float* v, int T, size_t stride) {
  scratch.keys.resize(packedWords(T));
  scratch.values.resize(packedWords(T));
  packKeys(k, T, stride, scratch.keys.data());
  packValues(v, T, stride, scratch.values.data());
}

// Scores of kBlock queries (scratch.queries) against every key, into scratch.scores.
WSERVE_BF16_TARGET void scoreBlock(int paddedT) {
  const uint32_t* keys = scratch.keys.data();
  float* scores = scratch.scores.data();
  for (int g = 0; g < paddedT / kLanes; g += 2) {
    __m512 acc[kBlock][2];
    for (auto& a : acc) a[0] = a[1] = _mm512_setzero_ps();
    const uint32_t* k0 = keys + static_cast<size_t>(g) * kPairs * kLanes;
    const uint32_t* k1 = k0 + kPairs * kLanes;
    for (int i = 0; i < kPairs; i++) {
      const __m512bh a0 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(k0 + i * kLanes));
      const __m512bh a1 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(k1 + i * kLanes));
      for (int q = 0; q < kBlock; q++) {
        const __m512bh b = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(scratch.queries[q][i])));
        acc[q][0] = _mm512_dpbf16_ps(acc[q][0], a0, b);
        acc[q][1] = _mm512_dpbf16_ps(acc[q][1], a1, b);
      }
    }
    for (int q = 0; q < kBlock; q++) {
      _mm512_storeu_ps(scores + q * paddedT + g * kLanes, acc[q][0]);
      _mm512_storeu_ps(scores + q * paddedT + (g + 1) * kLanes, acc[q][1]);
    }
  }
}

// Each score row → bf16 probabilities (unnormalised) in scratch.probs; returns 1 / their sums.
WSERVE_BF16_TARGET void softmaxBlock(int rows, int T, int paddedT, float* inverseSums) {
  for (int q = 0; q < rows; q++)
    inverseSums[q] = softmaxRow(scratch.scores.data() + q * paddedT, scratch.probs.data() + q * paddedT, T, paddedT);
}

// The probabilities of queries [q0, q0 + 4) times V, normalised, into their output rows.
WSERVE_BF16_TARGET void valueBlock(int q0, int paddedT, const float* inverseSums, float* const* out) {
  constexpr int kQueries = 4;
  __m512 acc[kQueries][4];
  for (auto& a : acc)
    for (auto& x : a) x = _mm512_setzero_ps();
  const uint32_t* values = scratch.values.data();
  const uint32_t* probs[kQueries];
  for (int q = 0; q < kQueries; q++) probs[q] = reinterpret_cast<const uint32_t*>(scratch.probs.data() + (q0 + q) * paddedT);
  for (int pair = 0; pair < paddedT / 2; pair++) {
    const uint32_t* vp = values + static_cast<size_t>(pair) * kPairs * 2;
    __m512bh a[4];
    for (int j = 0; j < 4; j++) a[j] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(vp + j * kLanes));
    for (int q = 0; q < kQueries; q++) {
      const __m512bh b = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(probs[q][pair])));
      for (int j = 0; j < 4; j++) acc[q][j] = _mm512_dpbf16_ps(acc[q][j], a[j], b);
    }
  }
  for (int q = 0; q < kQueries; q++) {
    if (!out[q0 + q]) continue;
    const __m512 scale = _mm512_set1_ps(inverseSums[q0 + q]);
    for (int j = 0; j < 4; j++) _mm512_storeu_ps(out[q0 + q] + j * kLanes, _mm512_mul_ps(acc[q][j], scale));
  }
}

// AMX (Sapphire Rapids on): the same products in tiles of 16 × 16 f32, each instruction 16 × 32
// bf16 by 32 × 16 (pairs, the layouts packHead makes). Tiles 0-3 accumulate, 4-5 hold A, 6-7 B.
WSERVE_AMX_TARGET void scoreTile(int paddedT) {
  storesBeforeTileLoads();
  const uint32_t* keys = scratch.keys.data();
  float* scores = scratch.scores.data();
  const long scoreStride = static_cast<long>(paddedT) * sizeof(float);
  _tile_loadd(4, scratch.queries, kPairs * sizeof(uint32_t));
  _tile_loadd(5, &scratch.queries[0][kLanes], kPairs * sizeof(uint32_t));
  for (int g = 0; g < paddedT / kLanes; g += 2) {
    const uint32_t* k0 = keys + static_cast<size_t>(g) * kPairs * kLanes;
    const uint32_t* k1 = k0 + kPairs * kLanes;
    _tile_zero(0);
    _tile_zero(1);
    _tile_loadd(6, k0, kLanes * sizeof(uint32_t));
    _tile_loadd(7, k0 + kLanes * kLanes, kLanes * sizeof(uint32_t));
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(0, 5, 7);
    _tile_loadd(2, k1, kLanes * sizeof(uint32_t));
    _tile_loadd(3, k1 + kLanes * kLanes, kLanes * sizeof(uint32_t));
    _tile_dpbf16ps(1, 4, 2);
    _tile_dpbf16ps(1, 5, 3);
    _tile_stored(0, scores + g * kLanes, scoreStride);
    _tile_stored(1, scores + (g + 1) * kLanes, scoreStride);
  }
}

WSERVE_AMX_TARGET void valueTile(int paddedT) {
  storesBeforeTileLoads();
  const uint32_t* values = scratch.values.data();
  const long probStride = static_cast<long>(paddedT) * sizeof(uint16_t), valueStride = 2 * kPairs * sizeof(uint32_t);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int m = 0; m < paddedT / (2 * kLanes); m++) {
    const uint32_t* v = values + static_cast<size_t>(m) * kLanes * 2 * kPairs;  // pairs 16m … 16m + 15
    _tile_loadd(4, scratch.probs.data() + m * 2 * kLanes, probStride);
    _tile_loadd(6, v, valueStride);
    _tile_dpbf16ps(0, 4, 6);
    _tile_loadd(7, v + kLanes, valueStride);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(6, v + 2 * kLanes, valueStride);
    _tile_dpbf16ps(2, 4, 6);
    _tile_loadd(7, v + 3 * kLanes, valueStride);
    _tile_dpbf16ps(3, 4, 7);
  }
  _tile_stored(0, &scratch.outputs[0][0], kHeadDim * sizeof(float));
  _tile_stored(1, &scratch.outputs[0][kLanes], kHeadDim * sizeof(float));
  _tile_stored(2, &scratch.outputs[0][2 * kLanes], kHeadDim * sizeof(float));
  _tile_stored(3, &scratch.outputs[0][3 * kLanes], kHeadDim * sizeof(float));
}

// Queries [first, last) of head h in window w.
WSERVE_AMX_TARGET void attendQueries(const ggml_tensor* dst, int w, int h, int first, int last, bool amx) {
  const ggml_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2];
  const int state = static_cast<int>(q->ne[0]), T = static_cast<int>(k->ne[1]);
  const int paddedT = paddedKeys(T);
  const size_t window = static_cast<size_t>(w) * T * state, head = static_cast<size_t>(h) * kHeadDim;
  packHead(static_cast<const float*>(k->data) + window + head, static_cast<const float*>(v->data) + window + head, T, state);
  scratch.scores.resize(static_cast<size_t>(kTileRows) * paddedT);
  scratch.probs.resize(static_cast<size_t>(kTileRows) * paddedT);
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  const int block = amx ? kTileRows : kBlock;
  std::optional<TileShapes> tiles;
  if (amx) tiles.emplace();
  for (int t0 = first; t0 < last; t0 += block) {
    float* out[kTileRows];
    for (int i = 0; i < block; i++) {
      const int t = t0 + i;
      out[i] = t < last ? static_cast<float*>(dst->data) + window + static_cast<size_t>(t) * state + head : nullptr;
      if (!out[i]) {
        std::memset(scratch.queries[i], 0, sizeof(scratch.queries[i]));
        continue;
      }
      packQuery(static_cast<const float*>(q->data) + window + static_cast<size_t>(t) * state + head, scale, scratch.queries[i]);
    }
    float inverseSums[kTileRows];
    if (amx) {
      scoreTile(paddedT);
      softmaxBlock(block, T, paddedT, inverseSums);
      valueTile(paddedT);
      for (int i = 0; i < block; i++) {
        if (!out[i]) continue;
        const __m512 norm = _mm512_set1_ps(inverseSums[i]);
        for (int j = 0; j < kHeadDim; j += kLanes)
          _mm512_storeu_ps(out[i] + j, _mm512_mul_ps(_mm512_load_ps(&scratch.outputs[i][j]), norm));
      }
    } else {
      scoreBlock(paddedT);
      softmaxBlock(block, T, paddedT, inverseSums);
      valueBlock(0, paddedT, inverseSums, out);
      valueBlock(4, paddedT, inverseSums, out);
    }
  }
}

// ggml's threads split (window, head, query range) items in order: each thread packs the keys
// and values of the few heads it touches.
// userdata: the kernel (null: AVX512-BF16 registers).
enum class Kernel { kAmx, kAvx2, kAvx512 };
constexpr Kernel kInAmxTiles = Kernel::kAmx, kInAvx2 = Kernel::kAvx2, kInAvx512 = Kernel::kAvx512;

void attentionOp(ggml_tensor* dst, int ith, int nth, void* userdata) {
  const ggml_tensor* k = dst->src[1];
  const int heads = static_cast<int>(k->ne[0]) / kHeadDim, T = static_cast<int>(k->ne[1]), windows = static_cast<int>(k->ne[2]);
  const int perHead = std::max(1, (2 * nth + windows * heads - 1) / (windows * heads));  // ≥ 2 items a thread
  const int blocks = (T + kBlock - 1) / kBlock, blocksPerItem = (blocks + perHead - 1) / perHead;
  const int items = windows * heads * perHead;
  for (int item = ith * items / nth; item < (ith + 1) * items / nth; item++) {
    const int part = item % perHead, wh = item / perHead;
    const int first = part * blocksPerItem * kBlock, last = std::min(T, (part + 1) * blocksPerItem * kBlock);
    if (first >= last) continue;
    if (userdata == &kInAvx2) {
      widened::attendQueriesAvx2(dst, wh / heads, wh % heads, first, last);
    } else if (userdata == &kInAvx512) {
      widened::attendQueriesAvx512(dst, wh / heads, wh % heads, first, last);
    } else {
      attendQueries(dst, wh / heads, wh % heads, first, last, userdata == &kInAmxTiles);
    }
  }
}

// The kernel for ggml's module here: AMX where asked, AVX512-BF16's, else AVX-512's or AVX2's
// widened.
const Kernel* kernel(bool amx) {
  if (amx) return &kInAmxTiles;
  if (cpuHasFeature("AVX512_BF16")) return nullptr;
  return cpuHasFeature("AVX512") ? &kInAvx512 : &kInAvx2;
}

#endif  // WSERVE_X86

}  // namespace

bool bf16AttentionRuns(int headDim) {
#ifdef WSERVE_X86
  return headDim == bf16::kHeadDim && (cpuHasFeature("AVX512_BF16") || (cpuHasFeature("AVX2") && cpuHasFeature("FMA")));
#else
  (void)headDim;
  return false;
#endif
}

ggml_tensor* bf16Attention(ggml_context* ctx, ggml_tensor* q, ggml_tensor* k, ggml_tensor* v, bool amx) {
#ifdef WSERVE_X86
  GGML_ASSERT(q->type == GGML_TYPE_F32 && k->type == GGML_TYPE_F32 && v->type == GGML_TYPE_F32);
  GGML_ASSERT(ggml_is_contiguous(q) && ggml_is_contiguous(k) && ggml_is_contiguous(v) && q->ne[0] % bf16::kHeadDim == 0);
  ggml_tensor* args[] = {q, k, v};
  ggml_tensor* out = ggml_custom_4d(ctx, GGML_TYPE_F32, q->ne[0], q->ne[1], q->ne[2], 1, args, 3, attentionOp, GGML_N_TASKS_MAX,
                                    const_cast<Kernel*>(kernel(amx)));
  return ggml_set_name(out, kBf16AttentionName);
#else
  (void)ctx, (void)q, (void)k, (void)v, (void)amx;
  GGML_ABORT("bf16Attention needs x86-64 with AVX512-BF16 or AVX2 (bf16AttentionRuns)");
#endif
}

}  // namespace wserve
