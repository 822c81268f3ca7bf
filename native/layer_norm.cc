#include "layer_norm.h"

#include <cmath>
#include <cstring>

#include "amx_tiles.h"
#include "backends.h"
#include "packed_matrices.h"

namespace wserve {

namespace {

#ifdef WSERVE_X86

// ggml_vec_cvar_f32's AVX2 branch: each 8 squares summed in float in its order, then in double;
// the rest one at a time.
WSERVE_AVX2_TARGET double squaredDeviations(const float* x, int n, float mean) {
  double sum = 0;
  int i = 0;
  for (; i + 7 < n; i += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(mean)), s = _mm256_mul_ps(d, d);
    __m128 h = _mm_add_ps(_mm256_extractf128_ps(s, 1), _mm256_castps256_ps128(s));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    sum += static_cast<double>(_mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h))));
  }
  for (; i < n; i++) sum += static_cast<double>((x[i] - mean) * (x[i] - mean));
  return sum;
}

WSERVE_AVX2_TARGET void normaliseRow(const float* x, const float* w, const float* b, int n, float eps, float* y) {
  __m256d lanes[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
  int i = 0;
  for (; i + 7 < n; i += 8) {
    lanes[0] = _mm256_add_pd(lanes[0], _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
    lanes[1] = _mm256_add_pd(lanes[1], _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
  }
  alignas(32) double parts[4];
  _mm256_store_pd(parts, _mm256_add_pd(lanes[0], lanes[1]));
  double total = (parts[0] + parts[1]) + (parts[2] + parts[3]);
  for (; i < n; i++) total += x[i];
  const float mean = static_cast<float>(total) / static_cast<float>(n);
  const float variance = static_cast<float>(squaredDeviations(x, n, mean) / n);
  const float scale = 1.0f / std::sqrt(variance + eps);
  // ggml's order: (x − mean), × scale, × w, + b, each rounded. The empty asm keeps the product a
  // value of its own: GCC would otherwise fuse it and the addition into one FMA (C++ builds
  // contract by default), which rounds once.
  const __m256 m = _mm256_set1_ps(mean), s = _mm256_set1_ps(scale);
  i = 0;
  for (; i + 7 < n; i += 8) {
    __m256 scaled = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), m), s), _mm256_loadu_ps(w + i));
    asm("" : "+x"(scaled));
    _mm256_storeu_ps(y + i, _mm256_add_ps(scaled, _mm256_loadu_ps(b + i)));
  }
  for (; i < n; i++) {
    float scaled = (x[i] - mean) * scale * w[i];
    asm("" : "+x"(scaled));
    y[i] = scaled + b[i];
  }
}

// Rows split over ggml's threads; userdata: eps.
void layerNormOp(ggml_tensor* dst, int ith, int nth, void* userdata) {
  const ggml_tensor *x = dst->src[0], *w = dst->src[1], *b = dst->src[2];
  float eps;
  std::memcpy(&eps, &userdata, sizeof eps);
  const int n = static_cast<int>(x->ne[0]);
  const int64_t rows = ggml_nrows(x);
  for (int64_t r = ith * rows / nth; r < (ith + 1) * rows / nth; r++) {
    normaliseRow(static_cast<const float*>(x->data) + r * n, static_cast<const float*>(w->data), static_cast<const float*>(b->data), n, eps,
                 static_cast<float*>(dst->data) + r * n);
  }
}

#endif  // WSERVE_X86

}  // namespace

ggml_tensor* layerNorm(ggml_context* ctx, ggml_tensor* x, ggml_tensor* w, ggml_tensor* b, float eps) {
#ifdef WSERVE_X86
  static const bool runs = cpuHasFeature("AVX2");
  if (runs && x->type == GGML_TYPE_F32 && ggml_is_contiguous(x) && w->buffer && b->buffer && hostF32(w) && hostF32(b) &&
      ggml_nelements(w) == x->ne[0] && ggml_nelements(b) == x->ne[0]) {
    ggml_tensor* args[] = {x, w, b};
    void* userdata = nullptr;
    std::memcpy(&userdata, &eps, sizeof eps);
    ggml_tensor* y =
        ggml_custom_4d(ctx, GGML_TYPE_F32, x->ne[0], x->ne[1], x->ne[2], x->ne[3], args, 3, layerNormOp, GGML_N_TASKS_MAX, userdata);
    ggml_set_name(y, "layer norm");
    return y;
  }
#endif
  return ggml_add(ctx, ggml_mul(ctx, ggml_norm(ctx, x, eps), w), b);
}

}  // namespace wserve
