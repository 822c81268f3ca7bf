// What our attention kernels for CPUs without AVX512-BF16 share (widened_attention.cc,
// cross_attention.cc): they read bf16_kernels.h's packed layouts, each 32-bit word's two bf16
// widened to two f32 vectors (the even one shifted up, the odd one masked) for FMA, and keep
// queries and probabilities in f32. The packers here round with ggml's f32 → bf16 rows (no
// AVX-512 to rely on).
#pragma once

#include <ggml.h>

#include "bf16_kernels.h"

#ifdef WSERVE_X86
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

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

// One head's row of 64 floats → bf16 (ggml's rounding, to nearest even); zeros past T.
inline void headRowBf16(const float* row, bool present, ggml_bf16_t* out) {
  if (present) {
    ggml_fp32_to_bf16_row(row, out, kHeadDim);
  } else {
    std::memset(out, 0, kHeadDim * sizeof(ggml_bf16_t));
  }
}

// bf16_kernels.h's packKeys and packValues without AVX-512 (once a window and layer: a few ms).
inline void packKeysPortable(const float* k, int T, size_t stride, uint32_t* keys) {
  ggml_bf16_t row[kHeadDim];
  for (int t = 0; t < paddedKeys(T); t++) {
    headRowBf16(k + t * stride, t < T, row);
    uint32_t* group = keys + static_cast<size_t>(t / kLanes) * kPairs * kLanes + t % kLanes;
    for (int i = 0; i < kPairs; i++) group[i * kLanes] = row[2 * i].bits | static_cast<uint32_t>(row[2 * i + 1].bits) << 16;
  }
}

inline void packValuesPortable(const float* v, int T, size_t stride, uint32_t* values) {
  ggml_bf16_t first[kHeadDim], second[kHeadDim];
  for (int t = 0; t < paddedKeys(T); t += 2) {
    headRowBf16(v + t * stride, t < T, first);
    headRowBf16(v + (t + 1) * stride, t + 1 < T, second);
    uint32_t* out = values + static_cast<size_t>(t / 2) * kPairs * 2;
    for (int d = 0; d < kHeadDim; d++) out[d] = first[d].bits | static_cast<uint32_t>(second[d].bits) << 16;
  }
}

}  // namespace wserve::avx2

#endif  // WSERVE_X86
