// One head's attention on CPUs without AVX512-BF16 (see widened_attention.h). Per head, the keys
// and values are packed once (bf16_kernels.h's layouts, by avx2_kernels.h's plain packers); a
// block of queries then takes its whole score rows, an exact softmax over each, and the product
// with V, 16 dimensions (AVX2) or all 64 (AVX-512) at a time.
#include "widened_attention.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "avx2_kernels.h"

namespace wserve::widened {

#ifdef WSERVE_X86

namespace {

using namespace avx2;

constexpr int kMostQueries = 8;  // a block's queries: AVX-512's 8, AVX2's 6

struct Scratch {
  std::vector<uint32_t> keys;                         // [T/16 groups][kPairs][16 keys]
  std::vector<uint32_t> values;                       // [T/2 key pairs][4 vectors][16 dimensions]
  std::vector<float> scores;                          // [block][padded T]: scores, then probabilities
  alignas(64) float queries[kMostQueries][kHeadDim];  // f32, scaled
};

thread_local Scratch scratch;

// The kernels take their operands as pointers: scratch is thread_local, and its address fetched
// inside their loops (a call, in a shared library) spilled every vector.

// AVX2 + FMA: the scores of 6 queries against every key. Per pair of dimensions, 16 keys widened
// straight from memory, even dimensions first (2 vectors, 12 FMA), then odd (2, 12 FMA): 12 sums,
// 2 keys' vectors and a broadcast fill 15 of the 16 registers. Each sum takes the even FMA before
// the odd one, as before; widening both at once left room for 3 queries only (64 GFLOP/s a Zen 3
// core against 84 now, bench/README.md).
constexpr int kAvx2Block = 6;

WSERVE_AVX2_TARGET void scoreBlockAvx2(const uint32_t* keys, const float (*queries)[kHeadDim], float* scores, int paddedT) {
  for (int g = 0; g < paddedT / kLanes; g++) {
    const uint32_t* k = keys + static_cast<size_t>(g) * kPairs * kLanes;
    __m256 acc[kAvx2Block][2];
    for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
    for (int i = 0; i < kPairs; i++) {
      const uint32_t* pair = k + i * kLanes;
      const __m256 even0 = evenOf(loadWords(pair)), even1 = evenOf(loadWords(pair + 8));
#pragma GCC unroll 6
      for (int q = 0; q < kAvx2Block; q++) {
        const __m256 qe = _mm256_broadcast_ss(&queries[q][2 * i]);
        acc[q][0] = _mm256_fmadd_ps(even0, qe, acc[q][0]);
        acc[q][1] = _mm256_fmadd_ps(even1, qe, acc[q][1]);
      }
      const __m256 odd0 = oddOf(loadWords(pair)), odd1 = oddOf(loadWords(pair + 8));
#pragma GCC unroll 6
      for (int q = 0; q < kAvx2Block; q++) {
        const __m256 qo = _mm256_broadcast_ss(&queries[q][2 * i + 1]);
        acc[q][0] = _mm256_fmadd_ps(odd0, qo, acc[q][0]);
        acc[q][1] = _mm256_fmadd_ps(odd1, qo, acc[q][1]);
      }
    }
    for (int q = 0; q < kAvx2Block; q++) {
      _mm256_storeu_ps(scores + q * paddedT + g * kLanes, acc[q][0]);
      _mm256_storeu_ps(scores + q * paddedT + g * kLanes + 8, acc[q][1]);
    }
  }
}

// The 6 rows of probabilities (f32, paddedT apart) times V, 16 dimensions at a time: per key
// pair, the first key's 2 vectors widened and 12 FMA, then the second's. Normalised into the
// output rows present.
WSERVE_AVX2_TARGET void valueBlockAvx2(const uint32_t* values, const float* probs, int paddedT, const float* inverseSums,
                                       float* const* out) {
  for (int c = 0; c < kHeadDim / kLanes; c++) {
    __m256 acc[kAvx2Block][2];
    for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
    for (int pair = 0; pair < paddedT / 2; pair++) {
      const uint32_t* v = values + static_cast<size_t>(pair) * kPairs * 2 + c * kLanes;
      const __m256 first0 = evenOf(loadWords(v)), first1 = evenOf(loadWords(v + 8));
#pragma GCC unroll 6
      for (int q = 0; q < kAvx2Block; q++) {
        const __m256 p0 = _mm256_broadcast_ss(probs + q * paddedT + 2 * pair);
        acc[q][0] = _mm256_fmadd_ps(first0, p0, acc[q][0]);
        acc[q][1] = _mm256_fmadd_ps(first1, p0, acc[q][1]);
      }
      const __m256 second0 = oddOf(loadWords(v)), second1 = oddOf(loadWords(v + 8));
#pragma GCC unroll 6
      for (int q = 0; q < kAvx2Block; q++) {
        const __m256 p1 = _mm256_broadcast_ss(probs + q * paddedT + 2 * pair + 1);
        acc[q][0] = _mm256_fmadd_ps(second0, p1, acc[q][0]);
        acc[q][1] = _mm256_fmadd_ps(second1, p1, acc[q][1]);
      }
    }
    for (int q = 0; q < kAvx2Block; q++) {
      if (!out[q]) continue;
      const __m256 norm = _mm256_set1_ps(inverseSums[q]);
      _mm256_storeu_ps(out[q] + c * kLanes, _mm256_mul_ps(acc[q][0], norm));
      _mm256_storeu_ps(out[q] + c * kLanes + 8, _mm256_mul_ps(acc[q][1], norm));
    }
  }
}

#define WSERVE_AVX512_TARGET __attribute__((target("avx512f")))

WSERVE_AVX512_TARGET inline __m512 even16(__m512i words) { return _mm512_castsi512_ps(_mm512_slli_epi32(words, 16)); }
WSERVE_AVX512_TARGET inline __m512 odd16(__m512i words) {
  return _mm512_castsi512_ps(_mm512_and_si512(words, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
}

// AVX-512F: the scores of 8 queries against two groups of 16 keys at a time: per pair of
// dimensions, 2 loads, 4 widenings and 32 FMA into 16 of the 32 registers.
constexpr int kAvx512Block = 8;

WSERVE_AVX512_TARGET void scoreBlockAvx512(const uint32_t* keys, const float (*queries)[kHeadDim], float* scores, int paddedT) {
  for (int g = 0; g < paddedT / kLanes; g += 2) {
    const uint32_t* k0 = keys + static_cast<size_t>(g) * kPairs * kLanes;
    const uint32_t* k1 = k0 + kPairs * kLanes;
    __m512 acc[kAvx512Block][2];
    for (auto& a : acc) a[0] = a[1] = _mm512_setzero_ps();
    for (int i = 0; i < kPairs; i++) {
      const __m512i w0 = _mm512_loadu_si512(k0 + i * kLanes), w1 = _mm512_loadu_si512(k1 + i * kLanes);
      const __m512 even0 = even16(w0), odd0 = odd16(w0), even1 = even16(w1), odd1 = odd16(w1);
#pragma GCC unroll 8
      for (int q = 0; q < kAvx512Block; q++) {
        const __m512 qe = _mm512_set1_ps(queries[q][2 * i]), qo = _mm512_set1_ps(queries[q][2 * i + 1]);
        acc[q][0] = _mm512_fmadd_ps(odd0, qo, _mm512_fmadd_ps(even0, qe, acc[q][0]));
        acc[q][1] = _mm512_fmadd_ps(odd1, qo, _mm512_fmadd_ps(even1, qe, acc[q][1]));
      }
    }
    for (int q = 0; q < kAvx512Block; q++) {
      _mm512_storeu_ps(scores + q * paddedT + g * kLanes, acc[q][0]);
      _mm512_storeu_ps(scores + q * paddedT + (g + 1) * kLanes, acc[q][1]);
    }
  }
}

// 4 rows of probabilities (f32, paddedT apart) times V, all 64 dimensions: per key pair, 4 loads,
// 8 widenings and 32 FMA into 16 registers. Normalised into the output rows present.
WSERVE_AVX512_TARGET void valueRowsAvx512(const uint32_t* values, const float* probs, int paddedT, const float* inverseSums,
                                          float* const* out) {
  constexpr int kQueries = 4;
  __m512 acc[kQueries][4];
  for (auto& a : acc)
    for (auto& x : a) x = _mm512_setzero_ps();
  for (int pair = 0; pair < paddedT / 2; pair++) {
    const uint32_t* v = values + static_cast<size_t>(pair) * kPairs * 2;
    __m512 first[4], second[4];
    for (int j = 0; j < 4; j++) {
      const __m512i w = _mm512_loadu_si512(v + j * kLanes);
      first[j] = even16(w);
      second[j] = odd16(w);
    }
#pragma GCC unroll 4
    for (int q = 0; q < kQueries; q++) {
      const __m512 p0 = _mm512_set1_ps(probs[q * paddedT + 2 * pair]), p1 = _mm512_set1_ps(probs[q * paddedT + 2 * pair + 1]);
      for (int j = 0; j < 4; j++) acc[q][j] = _mm512_fmadd_ps(second[j], p1, _mm512_fmadd_ps(first[j], p0, acc[q][j]));
    }
  }
  for (int q = 0; q < kQueries; q++) {
    if (!out[q]) continue;
    const __m512 norm = _mm512_set1_ps(inverseSums[q]);
    for (int j = 0; j < 4; j++) _mm512_storeu_ps(out[q] + j * kLanes, _mm512_mul_ps(acc[q][j], norm));
  }
}

// AVX-512F: the 8 rows of a block, 4 at a time.
WSERVE_AVX512_TARGET void valueBlockAvx512(const uint32_t* values, const float* probs, int paddedT, const float* inverseSums,
                                           float* const* out) {
  for (int q0 = 0; q0 < kAvx512Block; q0 += 4) valueRowsAvx512(values, probs + q0 * paddedT, paddedT, inverseSums + q0, out + q0);
}

// Packs head h of window w's keys and values; returns T.
int packHead(const ggml_tensor* dst, int w, int h) {
  const ggml_tensor *k = dst->src[1], *v = dst->src[2];
  const int state = static_cast<int>(k->ne[0]), T = static_cast<int>(k->ne[1]);
  const size_t from = static_cast<size_t>(w) * T * state + static_cast<size_t>(h) * kHeadDim;
  scratch.keys.resize(bf16::packedWords(T));
  scratch.values.resize(bf16::packedWords(T));
  packKeysAvx2(static_cast<const float*>(k->data) + from, T, state, scratch.keys.data());
  packValuesAvx2(static_cast<const float*>(v->data) + from, T, state, scratch.values.data());
  scratch.scores.resize(static_cast<size_t>(kMostQueries) * paddedKeys(T));
  return T;
}

// Queries [t0, t0 + block) (those from `last` on zero, their rows not written) → scratch.queries,
// scaled by 1/√64, and their output rows → out.
void takeQueries(const ggml_tensor* dst, int w, int h, int t0, int block, int last, float** out) {
  const ggml_tensor* q = dst->src[0];
  const int state = static_cast<int>(q->ne[0]), T = static_cast<int>(q->ne[1]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  for (int i = 0; i < block; i++) {
    const size_t at = (static_cast<size_t>(w) * T + t0 + i) * state + static_cast<size_t>(h) * kHeadDim;
    out[i] = t0 + i < last ? static_cast<float*>(dst->data) + at : nullptr;
    for (int d = 0; d < kHeadDim; d++) scratch.queries[i][d] = out[i] ? static_cast<const float*>(q->data)[at + d] * scale : 0.0f;
  }
}

// Queries [first, last) of head h in window w, `Block` at a time through the width's kernels.
template <int Block>
void attendQueries(const ggml_tensor* dst, int w, int h, int first, int last,
                   void (*score)(const uint32_t*, const float (*)[kHeadDim], float*, int),
                   void (*multiplyValues)(const uint32_t*, const float*, int, const float*, float* const*)) {
  const int T = packHead(dst, w, h), paddedT = paddedKeys(T);
  float* scores = scratch.scores.data();
  for (int t0 = first; t0 < last; t0 += Block) {
    float* out[Block];
    takeQueries(dst, w, h, t0, Block, last, out);
    score(scratch.keys.data(), scratch.queries, scores, paddedT);
    float inverseSums[Block];
    for (int i = 0; i < Block; i++) inverseSums[i] = softmaxRow8(scores + i * paddedT, T, paddedT);
    multiplyValues(scratch.values.data(), scores, paddedT, inverseSums, out);
  }
}

}  // namespace

void attendQueriesAvx2(const ggml_tensor* dst, int w, int h, int first, int last) {
  attendQueries<kAvx2Block>(dst, w, h, first, last, scoreBlockAvx2, valueBlockAvx2);
}

void attendQueriesAvx512(const ggml_tensor* dst, int w, int h, int first, int last) {
  attendQueries<kAvx512Block>(dst, w, h, first, last, scoreBlockAvx512, valueBlockAvx512);
}

#else

void attendQueriesAvx2(const ggml_tensor*, int, int, int, int) { GGML_ABORT("widened attention needs x86-64"); }
void attendQueriesAvx512(const ggml_tensor*, int, int, int, int) { GGML_ABORT("widened attention needs x86-64"); }

#endif  // WSERVE_X86

}  // namespace wserve::widened
