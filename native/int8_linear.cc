// y = W·x in int8 (see int8_linear.h). Each output's weights are rounded to int8 on a scale of
// their own (max |w| / 127) and packed 16 outputs a tile: lane c of a tile's row q holds output c's
// weights 4q … 4q+3. Each thread takes whole blocks of 32 outputs and, 32 input rows at a time,
// rounds the rows to int8 on a scale per row. VPDPBUSD multiplies unsigned by signed bytes: for it
// 128 is added to the rows, and each output's packed weight sum takes the 128s back out. A register
// block sums each quad of a row, broadcast, against a row of tiles: 8 rows × 32 outputs in AVX-512
// (16 of the 32 vectors), 8 × 8 or 4 × 16 in AVX2 (8 of the 16). Both give the same int32 sums.
#include "int8_linear.h"

#include <ggml-backend.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "amx_tiles.h"
#include "avx2_kernels.h"
#include "backends.h"
#include "ggml_gelu.h"
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

using Quad = uint32_t __attribute__((may_alias));  // four bytes of the rows at hand, read as one lane

// The rows at hand: kBlock of them, int8 (+ 128 for VPDPBUSD), K a row; rows past the input's
// last are zero.
struct Rows {
  uint8_t* bytes;
  float* scales;  // a row's: x ≈ int8 · scale
};

struct Scratch {
  std::vector<uint8_t> rows;
  float rowScales[kBlock];
  alignas(64) float outputs[kRegisterRows][kBlock];  // a last, partial block's sums
};

thread_local Scratch scratch;  // its address taken once an op (in a shared library it is a call)

// The rows after the first `rows`: zero (`zero`: its byte).
void padRows(Rows at, int rows, int K, uint8_t zero) {
  std::fill(at.bytes + static_cast<size_t>(rows) * K, at.bytes + static_cast<size_t>(kBlock) * K, zero);
  std::fill(at.scales + rows, at.scales + kBlock, 0.0f);
}

// VNNI: rows [m0, m0 + 32) of x (f32, K a row) → the rows at hand, each on its own scale (max |x| / 127).
WSERVE_VNNI_TARGET void quantiseRowsVnni(const float* x, int m0, int M, int K, Rows at) {
  const int rows = std::min(kBlock, M - m0);
  for (int r = 0; r < rows; r++) {
    const float* in = x + static_cast<size_t>(m0 + r) * K;
    __m512 max = _mm512_setzero_ps();
    for (int k = 0; k < K; k += kLanes) max = _mm512_max_ps(max, _mm512_abs_ps(_mm512_loadu_ps(in + k)));
    const float m = _mm512_reduce_max_ps(max);
    at.scales[r] = m / 127.0f;
    const __m512 inverse = _mm512_set1_ps(m > 0 ? 127.0f / m : 0.0f);
    uint8_t* out = at.bytes + static_cast<size_t>(r) * K;
    for (int k = 0; k < K; k += kLanes) {
      const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(in + k), inverse)), _mm512_set1_epi32(kOffset));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k), _mm512_cvtepi32_epi8(q));
    }
  }
  padRows(at, rows, K, kOffset);
}

// VNNI: rows [r0, r0 + count) (of 8; the rest summed, not stored) of the rows at hand times
// block b's outputs [n, n + 32) of pack p → out, outStride floats a row.
WSERVE_VNNI_TARGET void registerBlockVnni(const Int8Packs::Pack& p, int K, int n, Rows at, int r0, int count, float* out, int outStride) {
  const int quads = K / 4;
  const uint32_t* b0 = p.quads.data() + packedWords(K, n);
  const uint32_t* b1 = b0 + static_cast<size_t>(quads) * kLanes;
  const Quad* a = reinterpret_cast<const Quad*>(at.bytes + static_cast<size_t>(r0) * K);
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
  for (int r = 0; r < count; r++) {
    const __m512 rowScale = _mm512_set1_ps(at.scales[r0 + r]);
    float* y = out + static_cast<size_t>(r) * outStride;
    _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][0], offset0)), _mm512_mul_ps(scale0, rowScale)));
    _mm512_storeu_ps(y + kLanes, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][1], offset1)), _mm512_mul_ps(scale1, rowScale)));
  }
}

// AVX2: as quantiseRowsVnni but signed (no 128 added), 16 floats → 16 bytes through two saturating packs.
WSERVE_AVX2_TARGET void quantiseRowsAvx2(const float* x, int m0, int M, int K, Rows at) {
  const int rows = std::min(kBlock, M - m0);
  const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  for (int r = 0; r < rows; r++) {
    const float* in = x + static_cast<size_t>(m0 + r) * K;
    __m256 max = _mm256_setzero_ps();
    for (int k = 0; k < K; k += 8) max = _mm256_max_ps(max, _mm256_and_ps(_mm256_loadu_ps(in + k), absMask));
    const float m = avx2::maxOf(max);
    at.scales[r] = m / 127.0f;
    const __m256 inverse = _mm256_set1_ps(m > 0 ? 127.0f / m : 0.0f);
    uint8_t* out = at.bytes + static_cast<size_t>(r) * K;
    for (int k = 0; k < K; k += kLanes) {
      const __m256i lo = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(in + k), inverse));
      const __m256i hi = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(in + k + 8), inverse));
      // packs interleaves the 128-bit halves (lo 0-3, hi 0-3, lo 4-7, hi 4-7): the permute restores the order.
      const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xD8);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k),
                       _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1)));
    }
  }
  padRows(at, rows, K, 0);
}

// AVX2: Rows rows of the rows at hand (from a; `count` of them stored) times 8 · Vectors outputs
// from n. VPMADDUBSW multiplies unsigned by signed bytes and adds each pair in 16 bits: the
// weights' magnitudes by the inputs given the weights' signs (VPSIGNB), at most 2 · 127² (no
// saturation, both in int8 as VNNI has them); VPMADDWD adds the pairs into the int32 sums.
template <int Rows, int Vectors>
WSERVE_AVX2_TARGET void avx2Block(const Int8Packs::Pack& p, int K, int n, const Quad* a, const float* rowScales, int count, float* out,
                                  int outStride) {
  const int quads = K / 4;
  const uint32_t* w = p.quads.data() + packedWords(K, n - n % kLanes) + n % kLanes;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[Rows][Vectors];
  for (auto& row : acc)
    for (auto& sums : row) sums = _mm256_setzero_si256();
  for (int q = 0; q < quads; q++) {
    __m256i weights[Vectors], magnitudes[Vectors];
#pragma GCC unroll 2
    for (int v = 0; v < Vectors; v++) {
      weights[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + q * kLanes + 8 * v));
      magnitudes[v] = _mm256_abs_epi8(weights[v]);
    }
#pragma GCC unroll 8
    for (int r = 0; r < Rows; r++) {
      const __m256i x = _mm256_set1_epi32(static_cast<int>(a[r * quads + q]));
#pragma GCC unroll 2
      for (int v = 0; v < Vectors; v++) {
        const __m256i products = _mm256_maddubs_epi16(magnitudes[v], _mm256_sign_epi8(x, weights[v]));
        acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(products, ones));
      }
    }
  }
  for (int v = 0; v < Vectors; v++) {
    const __m256 scale = _mm256_loadu_ps(p.scales.data() + n + 8 * v);
#pragma GCC unroll 8
    for (int r = 0; r < Rows; r++) {
      if (r >= count) break;
      const __m256 rowScale = _mm256_mul_ps(scale, _mm256_set1_ps(rowScales[r]));
      _mm256_storeu_ps(out + static_cast<size_t>(r) * outStride + 8 * v, _mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][v]), rowScale));
    }
  }
}

// AVX2: rows [r0, r0 + count) (of 8) times the 16 outputs of tile n / 16. Eight rows take each
// half tile in turn (8 sums in 16 registers: each half's weights loaded once for 8 rows); four or
// fewer (a decoder step's few rows) the whole tile, so that no padded rows are summed.
constexpr int kAvx2Rows = 8;

WSERVE_AVX2_TARGET void registerBlockAvx2(const Int8Packs::Pack& p, int K, int n, Rows at, int r0, int count, float* out, int outStride) {
  const Quad* a = reinterpret_cast<const Quad*>(at.bytes + static_cast<size_t>(r0) * K);
  if (count <= kAvx2Rows / 2) {
    avx2Block<kAvx2Rows / 2, 2>(p, K, n, a, at.scales + r0, count, out, outStride);
    return;
  }
  avx2Block<kAvx2Rows, 1>(p, K, n, a, at.scales + r0, count, out, outStride);
  avx2Block<kAvx2Rows, 1>(p, K, n + 8, a, at.scales + r0, count, out + 8, outStride);
}

bool vnniRuns() { return cpuHasFeature("AVX512_VNNI") && cpuHasFeature("AVX512"); }

// How one instruction set runs the op: its row quantiser and register block (rows × outputs).
struct Kernel {
  void (*quantiseRows)(const float* x, int m0, int M, int K, Rows at);
  void (*registerBlock)(const Int8Packs::Pack& p, int K, int n, Rows at, int r0, int count, float* out, int outStride);
  int rows, outputs;
};
constexpr Kernel kVnni{quantiseRowsVnni, registerBlockVnni, kRegisterRows, kBlock};
constexpr Kernel kAvx2{quantiseRowsAvx2, registerBlockAvx2, kAvx2Rows, kLanes};

// The fused epilogue (packed_matrices.h) on a stored block: `count` rows of `outputs` columns from
// column n, `stride` apart (the residual's rows likewise); GELU as ggml's node gives it
// (ggml_gelu.h). In AVX2, which every VNNI CPU has too.
template <bool Gelu>
WSERVE_F16C_TARGET void finishBlock(float* out, int stride, int count, int n, int outputs, const float* bias, const float* residual,
                                    const float* geluTable) {
  for (int r = 0; r < count; r++) {
    float* y = out + static_cast<size_t>(r) * stride;
    const float* add = residual ? residual + static_cast<size_t>(r) * stride : nullptr;
    int j = 0;
    for (; j + 8 <= outputs; j += 8) {
      __m256 v = _mm256_loadu_ps(y + j);
      if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + n + j));
      if (Gelu) v = ggmlGelu8(v, geluTable);
      if (add) v = _mm256_add_ps(_mm256_loadu_ps(add + j), v);
      _mm256_storeu_ps(y + j, v);
    }
    for (; j < outputs; j++) {
      float v = bias ? y[j] + bias[n + j] : y[j];
      if (Gelu) v = ggmlGelu1(v, geluTable);
      y[j] = add ? add[j] + v : v;
    }
  }
}

// A thread's share of GELU?(W·x + src[2]) + src[3] (those present): whole blocks of 32 outputs;
// a last block past N summed whole and stored in part.
template <const Kernel& kernel, bool Gelu>
void int8LinearOp(ggml_tensor* dst, int ith, int nth, void* userdata) {
  const Int8Packs::Pack& p = *static_cast<const Int8Packs::Pack*>(userdata);
  const ggml_tensor *w = dst->src[0], *xt = dst->src[1], *bias = dst->src[2], *residual = dst->src[3];
  const int K = static_cast<int>(w->ne[0]), N = static_cast<int>(w->ne[1]), M = static_cast<int>(xt->ne[1]);
  const int blocks = (N + kBlock - 1) / kBlock, first = ith * blocks / nth, last = (ith + 1) * blocks / nth;
  if (first == last) return;
  Scratch& s = scratch;
  s.rows.resize(static_cast<size_t>(kBlock) * K);
  const Rows at{s.rows.data(), s.rowScales};
  const float* x = static_cast<const float*>(xt->data);
  float* y = static_cast<float*>(dst->data);
  const float* biasData = bias ? static_cast<const float*>(bias->data) : nullptr;
  const bool epilogue = bias || residual || Gelu;
  for (int m0 = 0; m0 < M; m0 += kBlock) {
    const int rows = std::min(kBlock, M - m0);
    kernel.quantiseRows(x, m0, M, K, at);
    for (int n = first * kBlock; n < std::min(N, last * kBlock); n += kernel.outputs) {
      const int outputs = std::min(kernel.outputs, N - n);
      const size_t corner = static_cast<size_t>(m0) * N + n;
      for (int r0 = 0; r0 < rows; r0 += kernel.rows) {
        const int count = std::min(kernel.rows, rows - r0);
        float* out = y + corner + static_cast<size_t>(r0) * N;
        if (outputs == kernel.outputs) {
          kernel.registerBlock(p, K, n, at, r0, count, out, N);
        } else {
          kernel.registerBlock(p, K, n, at, r0, count, &s.outputs[0][0], kBlock);
          for (int r = 0; r < count; r++) std::memcpy(out + static_cast<size_t>(r) * N, s.outputs[r], outputs * sizeof(float));
        }
        if (epilogue) {
          const float* add = residual ? static_cast<const float*>(residual->data) + corner + static_cast<size_t>(r0) * N : nullptr;
          finishBlock<Gelu>(out, N, count, n, outputs, biasData, add, p.geluTable);
        }
      }
    }
  }
}
#endif  // WSERVE_X86

}  // namespace

bool int8LinearRuns() {
#ifdef WSERVE_X86
  return vnniRuns() || cpuHasFeature("AVX2");
#else
  return false;
#endif
}

bool Int8Packs::add(const ggml_tensor* w) {
  if (!packable(w)) return false;
  Pack& p = packs_[w];
  quantiseMatrix(w, p);
  p.geluTable = geluTable_;
  bytes_ += p.quads.size() * sizeof(uint32_t) + p.offsets.size() * sizeof(int32_t) + p.scales.size() * sizeof(float);
  return true;
}

ggml_tensor* Int8Packs::product(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, const Epilogue& then) const {
  const auto it = packs_.find(w);
  if (it == packs_.end()) return nullptr;
#ifdef WSERVE_X86
  const bool vnni = vnniRuns(), fused = fusableEpilogue(w, x, then), gelu = fused && then.gelu;
  ggml_custom_op_t op = vnni ? (gelu ? int8LinearOp<kVnni, true> : int8LinearOp<kVnni, false>)
                             : (gelu ? int8LinearOp<kAvx2, true> : int8LinearOp<kAvx2, false>);
  void* pack = const_cast<Pack*>(&it->second);
  if (fused) return customProduct(ctx, w, x, op, pack, kInt8ProductName, then.bias, then.residual);
  return applyEpilogue(ctx, customProduct(ctx, w, x, op, pack, kInt8ProductName), then);
#else
  (void)ctx, (void)x, (void)then;
  return nullptr;
#endif
}

}  // namespace wserve
