// The decoder's cross-attention in bf16 (see cross_attention.h).
//
// A decoder step has one query per sequence and head against that window's 1500 keys: nothing
// to share between queries, so the work is reading the keys and values once, as fast as the
// instructions go. Packed at encoding time (bf16_kernels.h: a key vector holds one pair of
// dimensions of 16 keys, a value vector 16 dimensions of two keys), a step's scores are 32
// VDPBF16PS per 16 keys, an exact softmax over the whole row, and the product with V 4 per two
// keys, sums in f32, with no per-key overhead; a slot's packed keys and values take twice q8_0's
// bytes, still far under what the step spent computing (L3 reads ~45 GB/s on two cores).
//
// A CPU with AVX2 and FMA but not AVX512-BF16 (Zen 2 and 3, Haswell to Ice Lake) reads the same
// packed caches: a word's even bf16 shifted up and its odd one masked are two f32 vectors for FMA,
// the query and probabilities stay f32. ggml's fused attention there read q8_0 (or f16) caches
// at ~100 cycles a key, like elsewhere.
#include "cross_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "avx2_kernels.h"
#include "backends.h"
#include "bf16_kernels.h"

namespace wserve {

namespace {

#ifdef WSERVE_X86

using namespace bf16;
using namespace avx2;

// The keys were scaled by 64^-¼ as the encoder wrote them (every attention path's convention):
// the query takes the other 64^-¼.
const float kQueryScale = 1.0f / std::sqrt(std::sqrt(static_cast<float>(kHeadDim)));

struct Scratch {
  std::vector<float> scores;    // [padded T]
  std::vector<uint16_t> probs;  // [padded T], bf16
};

thread_local Scratch scratch;

WSERVE_BF16_TARGET inline __m512bh broadcastPair(uint32_t pair) {
  return reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(pair)));
}

WSERVE_BF16_TARGET inline __m512bh loadPairs(const uint32_t* p) { return reinterpret_cast<__m512bh>(_mm512_loadu_si512(p)); }

// One query row of one head (64 floats) against one slot's packed keys and values of that head.
WSERVE_BF16_TARGET void attendOne(const float* queryRow, const uint32_t* keys, const uint32_t* values, int T, float* out) {
  const int paddedT = paddedKeys(T);
  scratch.scores.resize(paddedT);
  scratch.probs.resize(paddedT);
  float* scores = scratch.scores.data();
  alignas(64) uint32_t q[kPairs];
  packQuery(queryRow, kQueryScale, q);
  // Two groups of 16 keys at a time, even and odd pairs summed apart: four independent chains
  // of VDPBF16PS (its latency is several of its issue slots).
  for (int g = 0; g < paddedT / kLanes; g += 2) {
    const uint32_t* k0 = keys + static_cast<size_t>(g) * kPairs * kLanes;
    const uint32_t* k1 = k0 + kPairs * kLanes;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
    for (int i = 0; i < kPairs; i += 2) {
      const __m512bh even = broadcastPair(q[i]), odd = broadcastPair(q[i + 1]);
      a0 = _mm512_dpbf16_ps(a0, loadPairs(k0 + i * kLanes), even);
      a1 = _mm512_dpbf16_ps(a1, loadPairs(k0 + (i + 1) * kLanes), odd);
      b0 = _mm512_dpbf16_ps(b0, loadPairs(k1 + i * kLanes), even);
      b1 = _mm512_dpbf16_ps(b1, loadPairs(k1 + (i + 1) * kLanes), odd);
    }
    _mm512_storeu_ps(scores + g * kLanes, _mm512_add_ps(a0, a1));
    _mm512_storeu_ps(scores + (g + 1) * kLanes, _mm512_add_ps(b0, b1));
  }
  const float inverseSum = softmaxRow(scores, scratch.probs.data(), T, paddedT);
  const uint32_t* probPairs = reinterpret_cast<const uint32_t*>(scratch.probs.data());
  __m512 acc[2][4];
  for (auto& a : acc)
    for (auto& x : a) x = _mm512_setzero_ps();
  for (int pair = 0; pair < paddedT / 2; pair += 2) {
    for (int u = 0; u < 2; u++) {
      const uint32_t* v = values + static_cast<size_t>(pair + u) * kPairs * 2;
      const __m512bh p = broadcastPair(probPairs[pair + u]);
      for (int j = 0; j < 4; j++) acc[u][j] = _mm512_dpbf16_ps(acc[u][j], loadPairs(v + j * kLanes), p);
    }
  }
  const __m512 norm = _mm512_set1_ps(inverseSum);
  for (int j = 0; j < 4; j++) _mm512_storeu_ps(out + j * kLanes, _mm512_mul_ps(_mm512_add_ps(acc[0][j], acc[1][j]), norm));
}

// attendOne in AVX2 + FMA over the same packed keys and values: scores two groups of 16 keys at a
// time (8 chains of FMA: group × half × even/odd dimension), an exact softmax in f32, then V's
// rows two keys a step into 8 vectors of 8 dimensions.
WSERVE_AVX2_TARGET void attendOneAvx2(const float* queryRow, const uint32_t* keys, const uint32_t* values, int T, float* out) {
  const int paddedT = paddedKeys(T);
  scratch.scores.resize(paddedT);
  float* scores = scratch.scores.data();
  alignas(32) float q[kHeadDim];
  for (int d = 0; d < kHeadDim; d++) q[d] = queryRow[d] * kQueryScale;
  for (int g = 0; g < paddedT / kLanes; g += 2) {
    const uint32_t* k0 = keys + static_cast<size_t>(g) * kPairs * kLanes;
    __m256 acc[2][2][2];  // [group][half: keys 0-7, 8-15][even, odd dimension]
    for (auto& group : acc)
      for (auto& half : group) half[0] = half[1] = _mm256_setzero_ps();
    for (int i = 0; i < kPairs; i++) {
      const __m256 even = _mm256_broadcast_ss(q + 2 * i), odd = _mm256_broadcast_ss(q + 2 * i + 1);
      for (int group = 0; group < 2; group++) {
        for (int half = 0; half < 2; half++) {
          const __m256i w = loadWords(k0 + (group * kPairs + i) * kLanes + 8 * half);
          acc[group][half][0] = _mm256_fmadd_ps(evenOf(w), even, acc[group][half][0]);
          acc[group][half][1] = _mm256_fmadd_ps(oddOf(w), odd, acc[group][half][1]);
        }
      }
    }
    for (int group = 0; group < 2; group++) {
      for (int half = 0; half < 2; half++) {
        _mm256_storeu_ps(scores + (g + group) * kLanes + 8 * half, _mm256_add_ps(acc[group][half][0], acc[group][half][1]));
      }
    }
  }
  const __m256 norm = _mm256_set1_ps(softmaxRow8(scores, T, paddedT));
  __m256 acc[8];  // dimensions 8j to 8j + 7
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (int t = 0; t < paddedT; t += 2) {
    const uint32_t* v = values + static_cast<size_t>(t / 2) * kPairs * 2;
    const __m256 p0 = _mm256_broadcast_ss(scores + t), p1 = _mm256_broadcast_ss(scores + t + 1);
    for (int j = 0; j < 8; j++) {
      const __m256i w = loadWords(v + 8 * j);
      acc[j] = _mm256_fmadd_ps(oddOf(w), p1, _mm256_fmadd_ps(evenOf(w), p0, acc[j]));
    }
  }
  for (int j = 0; j < 8; j++) _mm256_storeu_ps(out + 8 * j, _mm256_mul_ps(acc[j], norm));
}

// userdata of both ops: this, where the CPU lacks AVX512-BF16; nullptr where it has it.
const bool kInAvx2 = true;

// The words of head h's keys (or values) in one slot's cache.
inline uint32_t* headOf(const ggml_tensor* cache, int slot, int h, int T) {
  return reinterpret_cast<uint32_t*>(static_cast<char*>(cache->data) + static_cast<size_t>(slot) * cache->nb[2]) + h * packedWords(T);
}

// Items (window, head, keys or values) split over ggml's threads.
void packOp(ggml_tensor* dst, int ith, int nth, void* userdata) {
  const ggml_tensor *k = dst->src[0], *v = dst->src[1], *rows = dst->src[2], *cacheK = dst->src[3], *cacheV = dst->src[4];
  const int state = static_cast<int>(k->ne[0]), T = static_cast<int>(k->ne[1]), windows = static_cast<int>(k->ne[2]);
  const int heads = state / kHeadDim, items = windows * heads * 2;
  for (int item = ith * items / nth; item < (ith + 1) * items / nth; item++) {
    const int w = item / (heads * 2), h = item / 2 % heads;
    const bool isKey = item % 2 == 0;
    const int slot = static_cast<int>(static_cast<const int64_t*>(rows->data)[static_cast<size_t>(w) * T] / T);
    const float* from = static_cast<const float*>((isKey ? k : v)->data) + static_cast<size_t>(w) * T * state + h * kHeadDim;
    uint32_t* to = headOf(isKey ? cacheK : cacheV, slot, h, T);
    if (userdata) {
      (isKey ? packKeysAvx2 : packValuesAvx2)(from, T, state, to);
    } else {
      (isKey ? packKeys : packValues)(from, T, state, to);
    }
  }
}

// Items (sequence, head) split over ggml's threads.
void attentionOp(ggml_tensor* dst, int ith, int nth, void* userdata) {
  const ggml_tensor *q = dst->src[0], *cacheK = dst->src[1], *cacheV = dst->src[2];
  const int state = static_cast<int>(q->ne[0]), S = static_cast<int>(q->ne[1]), heads = state / kHeadDim;
  const int T = static_cast<int>(cacheK->ne[1]);
  const int items = S * heads;
  for (int item = ith * items / nth; item < (ith + 1) * items / nth; item++) {
    const int s = item / heads, h = item % heads;
    const float* row = static_cast<const float*>(q->data) + static_cast<size_t>(s) * (q->nb[1] / sizeof(float)) + h * kHeadDim;
    float* out = static_cast<float*>(dst->data) + static_cast<size_t>(s) * state + h * kHeadDim;
    (userdata ? attendOneAvx2 : attendOne)(row, headOf(cacheK, s, h, T), headOf(cacheV, s, h, T), T, out);
  }
}

// The ops see a cache as [state, T, slots] (a view of its padded rows): T for the softmax's
// mask, and for the profile's FLOP count.
ggml_tensor* keysOf(ggml_context* ctx, ggml_tensor* cache, int T) {
  return ggml_view_3d(ctx, cache, cache->ne[0], T, cache->ne[2], cache->nb[1], cache->nb[2], 0);
}

// Which kernels the ops run: AVX-512's where ggml's module has AVX512-BF16.
void* kernelChoice() { return cpuHasFeature("AVX512_BF16") ? nullptr : const_cast<bool*>(&kInAvx2); }

#endif  // WSERVE_X86

}  // namespace

size_t packedCrossElements(int state, int T) {
#ifdef WSERVE_X86
  return static_cast<size_t>(state) * bf16::paddedKeys(T);
#else
  (void)state, (void)T;
  return 0;
#endif
}

ggml_tensor* packCrossCache(ggml_context* ctx, ggml_tensor* k, ggml_tensor* v, ggml_tensor* rows, ggml_tensor* cacheK,
                            ggml_tensor* cacheV) {
#ifdef WSERVE_X86
  const int T = static_cast<int>(k->ne[1]);
  GGML_ASSERT(k->type == GGML_TYPE_F32 && v->type == GGML_TYPE_F32 && ggml_is_contiguous(k) && ggml_is_contiguous(v));
  GGML_ASSERT(cacheK->ne[1] == bf16::paddedKeys(T) && cacheK->ne[0] == k->ne[0]);
  ggml_tensor* args[] = {k, v, rows, keysOf(ctx, cacheK, T), keysOf(ctx, cacheV, T)};
  ggml_tensor* out = ggml_custom_4d(ctx, GGML_TYPE_F32, 1, 1, 1, 1, args, 5, packOp, GGML_N_TASKS_MAX, kernelChoice());
  return ggml_set_name(out, kCrossPackName);
#else
  (void)ctx, (void)k, (void)v, (void)rows, (void)cacheK, (void)cacheV;
  GGML_ABORT("packCrossCache needs x86-64 with AVX512-BF16 or AVX2 (bf16AttentionRuns)");
#endif
}

ggml_tensor* bf16CrossAttention(ggml_context* ctx, ggml_tensor* q, ggml_tensor* cacheK, ggml_tensor* cacheV, int T) {
#ifdef WSERVE_X86
  GGML_ASSERT(q->type == GGML_TYPE_F32 && q->nb[0] == sizeof(float) && q->ne[0] % bf16::kHeadDim == 0 && q->ne[0] == cacheK->ne[0]);
  GGML_ASSERT(cacheK->ne[1] == bf16::paddedKeys(T));
  ggml_tensor* args[] = {q, keysOf(ctx, cacheK, T), keysOf(ctx, cacheV, T)};
  ggml_tensor* out = ggml_custom_4d(ctx, GGML_TYPE_F32, q->ne[0], q->ne[1], 1, 1, args, 3, attentionOp, GGML_N_TASKS_MAX, kernelChoice());
  return ggml_set_name(out, kCrossAttentionName);
#else
  (void)ctx, (void)q, (void)cacheK, (void)cacheV, (void)T;
  GGML_ABORT("bf16CrossAttention needs x86-64 with AVX512-BF16 or AVX2 (bf16AttentionRuns)");
#endif
}

}  // namespace wserve
