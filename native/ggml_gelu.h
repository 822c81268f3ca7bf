// ggml's GELU, for the products that fuse it (int8_linear.cc's epilogue): the same values as a
// ggml_gelu node, bit for bit. ggml's CPU GELU is the tanh approximation looked up in an f16
// table (x rounded to f16; 0 at or below −10, x at or above 10); the table is read back from
// ggml itself, so that the build's flags and libm decide it alike for both.
#pragma once
#include <ggml-backend.h>

#include "amx_tiles.h"

namespace wserve {

// ggml_gelu's result for each f16 bit pattern, as f32 (65,536 of them), computed once on `cpu`
// (a CPU backend) by a ggml_gelu node; the same table for every later call.
const float* ggmlGeluTable(ggml_backend_t cpu);

#ifdef WSERVE_X86
// ggml_vec_gelu_f32 on 8 floats: x rounded to f16 as ggml rounds it (to nearest even), looked up.
WSERVE_F16C_TARGET inline __m256 ggmlGelu8(__m256 x, const float* table) {
  const __m256i index = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
  const __m256 y = _mm256_blendv_ps(_mm256_i32gather_ps(table, index, 4), x, _mm256_cmp_ps(x, _mm256_set1_ps(10.0f), _CMP_GE_OQ));
  return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-10.0f), _CMP_LE_OQ), y);
}

WSERVE_F16C_TARGET inline float ggmlGelu1(float x, const float* table) {
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x;
  return table[_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT)];
}
#endif

}  // namespace wserve
