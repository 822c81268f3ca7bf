// y = W·x in int8 (see int8_linear.h). Each output's weights are rounded to int8 on a scale of
// their own (max |w| / 127) and packed 16 outputs a tile: lane c of a tile's row q holds output c's
// weights 4q … 4q+3. Each thread takes whole blocks of 32 outputs and, 32 input rows at a time,
// rounds the rows to int8 on a scale per row and adds 128 (VPDPBUSD multiplies unsigned by signed
// bytes; the packed sums of the weights take the 128s back out). A register block is 8 rows × 32
// outputs in 16 vectors of int32 sums: each quad of a row broadcast against one row of two tiles.
#include "int8_linear.h"

#include <ggml-backend.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "amx_tiles.h"
#include "backends.h"
#include "parallel.h"

namespace wserve {

namespace {

constexpr int kLanes = 16;          // 32-bit lanes a vector: outputs a tile
constexpr int kBlock = 2 * kLanes;  // outputs a register block; rows quantised at a time
constexpr int kRegisterRows = 8;    // rows a register block sums: 16 of the 32 vectors hold them
constexpr int kOffset = 128;        // added to an input's int8 to make it VPDPBUSD's unsigned byte

size_t packedWords(int K, int outputs) { return static_cast<size_t>(outputs) * (K / 4); }

// A matrix the op takes: f32, f16 or bf16, 2-D, contiguous, in host memory, its rows in 16s.
bool packable(const ggml_tensor* w) {
  const bool typed = w->type == GGML_TYPE_F32 || w->type == GGML_TYPE_F16 || w->type == GGML_TYPE_BF16;
  return typed && ggml_n_dims(w) == 2 && w->ne[0] % kLanes == 0 && ggml_is_contiguous(w) &&
         (!w->buffer || ggml_backend_buffer_is_host(w->buffer));
}

// Output n of w → its pack (row: K floats of scratch).
void quantiseOutput(const ggml_tensor* w, int n, std::vector<float>& row, Int8Packs::Pack& p) {
  const int K = static_cast<int>(w->ne[0]);
  const void* src = static_cast<const char*>(w->data) + n * w->nb[1];
  if (w->type == GGML_TYPE_F32) {
    std::memcpy(row.data(), src, K * sizeof(float));
  } else {
    ggml_get_type_traits(w->type)->to_float(src, row.data(), K);
  }
  float max = 0;
  for (float v : row) max = std::max(max, std::fabs(v));
  const float inverse = max > 0 ? 127.0f / max : 0.0f;
  int8_t* tile = reinterpret_cast<int8_t*>(p.quads.data() + static_cast<size_t>(n / kLanes) * (K / 4) * kLanes);
  int sum = 0;
  for (int k = 0; k < K; k++) {
    const int q = static_cast<int>(std::lrintf(row[k] * inverse));
    tile[(static_cast<size_t>(k / 4) * kLanes + n % kLanes) * 4 + k % 4] = static_cast<int8_t>(q);
    sum += q;
  }
  p.offsets[n] = sum * kOffset;
  p.scales[n] = max / 127.0f;
}

// w → its pack: outputs past w's last (to a multiple of 32) zero with scale 0. A tile's 16
// outputs an item over the cores (each writes its own tile only): on one core it nearly doubled
// tiny.en's cold start (0.29 → 0.51 s, emulated Ice Lake).
void quantiseMatrix(const ggml_tensor* w, Int8Packs::Pack& p) {
  const int K = static_cast<int>(w->ne[0]), N = static_cast<int>(w->ne[1]), outputs = (N + kBlock - 1) / kBlock * kBlock;
  p.quads.assign(packedWords(K, outputs), 0);
  p.offsets.assign(outputs, 0);
  p.scales.assign(outputs, 0.0f);
  parallelFor(static_cast<size_t>((N + kLanes - 1) / kLanes), static_cast<int>(std::thread::hardware_concurrency()), [&](size_t tile) {
    std::vector<float> row(K);
    for (int n = static_cast<int>(tile) * kLanes; n < std::min(N, static_cast<int>(tile + 1) * kLanes); n++) quantiseOutput(w, n, row, p);
  });
}

#ifdef WSERVE_X86
#define WSERVE_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

struct Scratch {
  std::vector<uint8_t> rows;  // the 32 rows at hand, int8 + 128; rows past the input's last 128 (zero)
  float rowScales[kBlock];
  alignas(64) float outputs[kRegisterRows][kBlock];
};

thread_local Scratch scratch;

// Rows [m0, m0 + 32) of x (f32, K a row) → scratch: each on its own scale, max |x| / 127.
WSERVE_VNNI_TARGET void quantiseRows(const float* x, int m0, int M, int K) {
  scratch.rows.resize(static_cast<size_t>(kBlock) * K);
  const int rows = std::min(kBlock, M - m0);
  for (int r = 0; r < rows; r++) {
    const float* in = x + static_cast<size_t>(m0 + r) * K;
    __m512 max = _mm512_setzero_ps();
    for (int k = 0; k < K; k += kLanes) max = _mm512_max_ps(max, _mm512_abs_ps(_mm512_loadu_ps(in + k)));
    const float m = _mm512_reduce_max_ps(max);
    scratch.rowScales[r] = m / 127.0f;
    const __m512 inverse = _mm512_set1_ps(m > 0 ? 127.0f / m : 0.0f);
    uint8_t* out = scratch.rows.data() + static_cast<size_t>(r) * K;
    for (int k = 0; k < K; k += kLanes) {
      const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(in + k), inverse)), _mm512_set1_epi32(kOffset));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k), _mm512_cvtepi32_epi8(q));
    }
  }
  std::fill(scratch.rows.begin() + static_cast<size_t>(rows) * K, scratch.rows.end(), uint8_t{kOffset});
  std::fill(scratch.rowScales + rows, scratch.rowScales + kBlock, 0.0f);
}

using Quad = uint32_t __attribute__((may_alias));  // four bytes of scratch.rows, read as one lane

// Rows [r0, r0 + rows) (of 8; the rest summed, not stored) of the rows at hand times block b's
// outputs [n, n + 32) of pack p → out, outStride floats a row.
WSERVE_VNNI_TARGET void registerBlock(const Int8Packs::Pack& p, int K, int n, int r0, int rows, float* out, int outStride) {
  const int quads = K / 4;
  const uint32_t* b0 = p.quads.data() + packedWords(K, n);
  const uint32_t* b1 = b0 + static_cast<size_t>(quads) * kLanes;
  const Quad* a = reinterpret_cast<const Quad*>(scratch.rows.data() + static_cast<size_t>(r0) * K);
  __m512i acc[kRegisterRows][2];
  for (auto& row : acc) row[0] = row[1] = _mm512_setzero_si512();
  for (int q = 0; q < quads; q++) {
    const __m512i w0 = _mm512_loadu_si512(b0 + q * kLanes);
    const __m512i w1 = _mm512_loadu_si512(b1 + q * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < kRegisterRows; r++) {
      const __m512i x = _mm512_set1_epi32(static_cast<int>(a[r * quads + q]));
      acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], x, w0);
      acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], x, w1);
    }
  }
  const __m512i offset0 = _mm512_loadu_si512(p.offsets.data() + n), offset1 = _mm512_loadu_si512(p.offsets.data() + n + kLanes);
  const __m512 scale0 = _mm512_loadu_ps(p.scales.data() + n), scale1 = _mm512_loadu_ps(p.scales.data() + n + kLanes);
  for (int r = 0; r < rows; r++) {
    const __m512 rowScale = _mm512_set1_ps(scratch.rowScales[r0 + r]);
    float* y = out + static_cast<size_t>(r) * outStride;
    _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][0], offset0)), _mm512_mul_ps(scale0, rowScale)));
    _mm512_storeu_ps(y + kLanes, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][1], offset1)), _mm512_mul_ps(scale1, rowScale)));
  }
}

// A thread's share of y = W·x: whole blocks of 32 outputs; a last block past N summed whole and
// stored in part.
WSERVE_VNNI_TARGET void int8LinearOp(ggml_tensor* dst, int ith, int nth, void* userdata) {
  const Int8Packs::Pack& p = *static_cast<const Int8Packs::Pack*>(userdata);
  const ggml_tensor *w = dst->src[0], *xt = dst->src[1];
  const int K = static_cast<int>(w->ne[0]), N = static_cast<int>(w->ne[1]), M = static_cast<int>(xt->ne[1]);
  const int blocks = (N + kBlock - 1) / kBlock, first = ith * blocks / nth, last = (ith + 1) * blocks / nth;
  if (first == last) return;
  const float* x = static_cast<const float*>(xt->data);
  float* y = static_cast<float*>(dst->data);
  for (int m0 = 0; m0 < M; m0 += kBlock) {
    const int rows = std::min(kBlock, M - m0);
    quantiseRows(x, m0, M, K);
    for (int b = first; b < last; b++) {
      const int n = b * kBlock, outputs = std::min(kBlock, N - n);
      float* out = y + static_cast<size_t>(m0) * N + n;
      for (int r0 = 0; r0 < rows; r0 += kRegisterRows) {
        const int blockRows = std::min(kRegisterRows, rows - r0);
        if (outputs == kBlock) {
          registerBlock(p, K, n, r0, blockRows, out + static_cast<size_t>(r0) * N, N);
          continue;
        }
        registerBlock(p, K, n, r0, blockRows, &scratch.outputs[0][0], kBlock);
        for (int r = 0; r < blockRows; r++) std::memcpy(out + static_cast<size_t>(r0 + r) * N, scratch.outputs[r], outputs * sizeof(float));
      }
    }
  }
}
#endif  // WSERVE_X86

}  // namespace

bool int8LinearRuns() {
#ifdef WSERVE_X86
  return cpuHasFeature("AVX512_VNNI") && cpuHasFeature("AVX512");
#else
  return false;
#endif
}

bool Int8Packs::add(const ggml_tensor* w) {
  if (!packable(w)) return false;
  Pack& p = packs_[w];
  quantiseMatrix(w, p);
  bytes_ += p.quads.size() * sizeof(uint32_t) + p.offsets.size() * sizeof(int32_t) + p.scales.size() * sizeof(float);
  return true;
}

ggml_tensor* Int8Packs::product(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x) const {
  const auto it = packs_.find(w);
  if (it == packs_.end()) return nullptr;
#ifdef WSERVE_X86
  return customProduct(ctx, w, x, int8LinearOp, const_cast<Pack*>(&it->second), kInt8ProductName);
#else
  (void)ctx, (void)x;
  return nullptr;
#endif
}

}  // namespace wserve
