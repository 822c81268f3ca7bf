// What our bf16 attention ops share (encoder_attention.cc, cross_attention.cc): 64-dimensional
// heads packed into the layouts AVX512-BF16's VDPBF16PS (and AMX's tiles) multiply, and an exact
// softmax over whole score rows. VDPBF16PS adds a 32-bit lane's two bf16 products into an f32:
// a key vector holds the same pair of dimensions of 16 keys (one instruction: 16 scores' partial
// sums for one query), a value vector the same 16 dimensions of two keys.
#pragma once

#include "amx_tiles.h"

#ifdef WSERVE_X86
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace wserve::bf16 {

constexpr int kHeadDim = 64;
constexpr int kPairs = kHeadDim / 2;  // bf16 pairs in a row of a head: one 32-bit lane each
constexpr int kLanes = 16;            // 32-bit lanes in a 512-bit vector

// Keys padded to a multiple of 32: whole pairs of 16-key groups, whole pairs of keys for values.
constexpr int paddedKeys(int T) { return (T + 2 * kLanes - 1) / (2 * kLanes) * (2 * kLanes); }
// uint32 words a head's packed keys (or values) take.
constexpr size_t packedWords(int T) { return static_cast<size_t>(paddedKeys(T)) * kPairs; }

WSERVE_BF16_TARGET inline __m512i bf16Row32(const float* row) {
  // 32 floats → 32 bf16 (round to nearest even), in order.
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + 16), _mm512_loadu_ps(row)));
}

// e^x for x ≤ 0 (scores minus their maximum): 2^n·p(r), r = x − n·ln 2, |r| ≤ ln 2 / 2, a
// degree-6 Taylor polynomial (relative error ~2e-7); below −87 it is 0 in f32 anyway.
WSERVE_BF16_TARGET inline __m512 expNonPositive(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-6f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  for (float c : {1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f}) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
  return _mm512_scalef_ps(p, n);
}

// One head's T keys (rows `stride` floats apart) → [paddedKeys(T)/16 groups][kPairs][16 keys],
// the keys past T zero (their scores are masked).
WSERVE_BF16_TARGET inline void packKeys(const float* k, int T, size_t stride, uint32_t* keys) {
  const int paddedT = paddedKeys(T);
  alignas(64) uint32_t row[kPairs];
  for (int t = 0; t < paddedT; t++) {
    if (t < T) {
      _mm512_store_si512(row, bf16Row32(k + t * stride));
      _mm512_store_si512(row + kLanes, bf16Row32(k + t * stride + 32));
    } else {
      _mm512_store_si512(row, _mm512_setzero_si512());
      _mm512_store_si512(row + kLanes, _mm512_setzero_si512());
    }
    uint32_t* group = keys + static_cast<size_t>(t / kLanes) * kPairs * kLanes + t % kLanes;
    for (int i = 0; i < kPairs; i++) group[i * kLanes] = row[i];
  }
}

// One head's T values → [paddedKeys(T)/2 key pairs][4 vectors][16 dimensions]: lane d of vector
// j holds (v[t][16j + d], v[t + 1][16j + d]); zero past T.
WSERVE_BF16_TARGET inline void packValues(const float* v, int T, size_t stride, uint32_t* values) {
  const __m512i firstHalf = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37, 5, 36, 4, 35,
                                             3, 34, 2, 33, 1, 32, 0);
  const __m512i secondHalf = _mm512_add_epi16(firstHalf, _mm512_set1_epi16(16));
  const __m512i zero = _mm512_setzero_si512();
  for (int t = 0; t < paddedKeys(T); t += 2) {
    for (int half = 0; half < 2; half++) {
      const __m512i a = t < T ? bf16Row32(v + t * stride + 32 * half) : zero;
      const __m512i b = t + 1 < T ? bf16Row32(v + (t + 1) * stride + 32 * half) : zero;
      uint32_t* out = values + static_cast<size_t>(t / 2) * kPairs * 2 + 32 * half;
      _mm512_storeu_si512(out, _mm512_permutex2var_epi16(a, firstHalf, b));
      _mm512_storeu_si512(out + kLanes, _mm512_permutex2var_epi16(a, secondHalf, b));
    }
  }
}

// A row of scores (paddedT of them, those past T ignored) → bf16 probabilities, unnormalised;
// returns 1 / their sum.
WSERVE_BF16_TARGET inline float softmaxRow(float* s, uint16_t* p, int T, int paddedT) {
  for (int t = T; t < paddedT; t++) s[t] = -INFINITY;
  __m512 m = _mm512_set1_ps(-INFINITY);
  for (int t = 0; t < paddedT; t += kLanes) m = _mm512_max_ps(m, _mm512_loadu_ps(s + t));
  const __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(m));
  __m512 sum = _mm512_setzero_ps();
  for (int t = 0; t < paddedT; t += 2 * kLanes) {
    const __m512 e0 = expNonPositive(_mm512_sub_ps(_mm512_loadu_ps(s + t), max));
    const __m512 e1 = expNonPositive(_mm512_sub_ps(_mm512_loadu_ps(s + t + kLanes), max));
    sum = _mm512_add_ps(sum, _mm512_add_ps(e0, e1));
    _mm512_storeu_si512(p + t, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(e1, e0)));
  }
  for (int t = T; t < paddedT; t++) p[t] = 0;  // exp(−87) is not quite 0
  return 1.0f / _mm512_reduce_add_ps(sum);
}

// A query row of a head (64 floats) times `scale` → bf16 pairs.
WSERVE_BF16_TARGET inline void packQuery(const float* row, float scale, uint32_t* pairs) {
  const __m512 s = _mm512_set1_ps(scale);
  for (int half = 0; half < 2; half++) {
    const __m512bh b =
        _mm512_cvtne2ps_pbh(_mm512_mul_ps(_mm512_loadu_ps(row + 32 * half + 16), s), _mm512_mul_ps(_mm512_loadu_ps(row + 32 * half), s));
    _mm512_storeu_si512(pairs + kLanes * half, reinterpret_cast<__m512i>(b));
  }
}

}  // namespace wserve::bf16

#endif  // WSERVE_X86
