// What our attention kernels for CPUs without AVX512-BF16 share (widened_attention.cc,
// cross_attention.cc): they read bf16_kernels.h's packed layouts, each 32-bit word's two bf16
// widened to two f32 vectors (the even one shifted up, the odd one masked) for FMA, and keep
// queries and probabilities in f32. The packers here round as ggml's f32 → bf16 rows do.
#pragma once

#include <ggml.h>

#include "bf16_kernels.h"

#ifdef WSERVE_X86
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace wserve::avx2 {

using bf16::kHeadDim;
using bf16::kLanes;
using bf16::kPairs;
using bf16::paddedKeys;

// AVX2 + FMA: the even (low) and odd (high) bf16 of each 32-bit word as f32.
WSERVE_AVX2_TARGET inline __m256 evenOf(__m256i words) { return _mm256_castsi256_ps(_mm256_slli_epi32(words, 16)); }
WSERVE_AVX2_TARGET inline __m256 oddOf(__m256i words) {
  return _mm256_castsi256_ps(_mm256_and_si256(words, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
}
WSERVE_AVX2_TARGET inline __m256i loadWords(const uint32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

WSERVE_AVX2_TARGET inline float sumOf(__m256 x) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

WSERVE_AVX2_TARGET inline float maxOf(__m256 x) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

// e^x for x ≤ 0: bf16_kernels.h's expNonPositive, 2^n made in the exponent's bits (n ≥ −126).
WSERVE_AVX2_TARGET inline __m256 expNonPositive8(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720);
  for (float c : {1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f}) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
  const __m256i twoToN = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(twoToN));
}

// A row of scores (paddedT of them, those past T ignored) → probabilities in place,
// unnormalised (zero past T); returns 1 / their sum.
WSERVE_AVX2_TARGET inline float softmaxRow8(float* s, int T, int paddedT) {
  for (int t = T; t < paddedT; t++) s[t] = -INFINITY;
  __m256 m = _mm256_set1_ps(-INFINITY);
  for (int t = 0; t < paddedT; t += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(s + t));
  const __m256 max = _mm256_set1_ps(maxOf(m));
  __m256 sum = _mm256_setzero_ps();
  for (int t = 0; t < paddedT; t += 8) {
    const __m256 e = expNonPositive8(_mm256_sub_ps(_mm256_loadu_ps(s + t), max));
    sum = _mm256_add_ps(sum, e);
    _mm256_storeu_ps(s + t, e);
  }
  for (int t = T; t < paddedT; t++) s[t] = 0;  // exp(−87) is not quite 0
  return 1.0f / sumOf(sum);
}

// 8 floats → bf16 as ggml_compute_fp32_to_bf16 rounds them (to nearest even; a NaN kept, made
// quiet): the same bits as ggml's rows for every f32 bit pattern, 8 at a time where ggml's base
// library converts one at a time (2.8 % of a tiny.en run on a Zen 3 went there).
WSERVE_AVX2_TARGET inline __m128i bf16Of8(__m256 x) {
  const __m256i bits = _mm256_castps_si256(x), high = _mm256_srli_epi32(bits, 16);
  const __m256i even = _mm256_add_epi32(_mm256_and_si256(high, _mm256_set1_epi32(1)), _mm256_set1_epi32(0x7FFF));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(bits, even), 16);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7FFFFFFF)), _mm256_set1_epi32(0x7F800000));
  const __m256i words = _mm256_blendv_epi8(rounded, _mm256_or_si256(high, _mm256_set1_epi32(64)), nan);
  return _mm_packus_epi32(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
}

// One head's row of 64 floats → 64 bf16 (32 words of two); zeros past T.
WSERVE_AVX2_TARGET inline void headRowBf16(const float* row, bool present, __m128i out[kHeadDim / 8]) {
  for (int i = 0; i < kHeadDim / 8; i++) out[i] = present ? bf16Of8(_mm256_loadu_ps(row + 8 * i)) : _mm_setzero_si128();
}

// bf16_kernels.h's packKeys and packValues without AVX-512 (once a window and layer).
WSERVE_AVX2_TARGET inline void packKeysAvx2(const float* k, int T, size_t stride, uint32_t* keys) {
  alignas(16) uint32_t row[kPairs];  // word i: dimensions 2i (low) and 2i + 1 (high)
  for (int t = 0; t < paddedKeys(T); t++) {
    headRowBf16(k + t * stride, t < T, reinterpret_cast<__m128i*>(row));
    uint32_t* group = keys + static_cast<size_t>(t / kLanes) * kPairs * kLanes + t % kLanes;
    for (int i = 0; i < kPairs; i++) group[i * kLanes] = row[i];
  }
}

WSERVE_AVX2_TARGET inline void packValuesAvx2(const float* v, int T, size_t stride, uint32_t* values) {
  __m128i first[kHeadDim / 8], second[kHeadDim / 8];
  for (int t = 0; t < paddedKeys(T); t += 2) {
    headRowBf16(v + t * stride, t < T, first);
    headRowBf16(v + (t + 1) * stride, t + 1 < T, second);
    // Word d: dimension d of key t (low) and of key t + 1 (high).
    __m128i* out = reinterpret_cast<__m128i*>(values + static_cast<size_t>(t / 2) * kPairs * 2);
    for (int i = 0; i < kHeadDim / 8; i++) {
      _mm_storeu_si128(out + 2 * i, _mm_unpacklo_epi16(first[i], second[i]));
      _mm_storeu_si128(out + 2 * i + 1, _mm_unpackhi_epi16(first[i], second[i]));
    }
  }
}

}  // namespace wserve::avx2

#endif  // WSERVE_X86
