// y = W·x on bf16 weights (see bf16_linear.h): C = A·B with A the inputs' rows in bf16, B the
// weights in pairs (16 input pairs × 16 outputs a tile), which each thread packs for the outputs it
// computes, once a call. Each thread converts 32 rows at a time to bf16 itself (zero-padded past
// the last row), so every thread converts every row: still cheaper than ggml's own f32 → bf16 copy
// node before the product, which cost a quarter of the products' time. Then either
// - AMX: four accumulating tiles hold 32 rows × 32 outputs (16 rows × 32 inputs an A tile); or
// - AVX512-BF16 registers (Zen 4, Cooper Lake): 8 rows × 32 outputs in 16 vectors of sums, each
//   input pair of a row broadcast against one row of each of two packed tiles (VDPBF16PS).
#include "bf16_linear.h"

#include <ggml-backend.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "amx_tiles.h"

namespace wserve {

namespace {

constexpr int kTile = 16;          // rows, and 32-bit lanes a row, of a tile
constexpr int kBlock = 2 * kTile;  // rows and outputs a step computes; inputs a tile holds

#ifdef WSERVE_X86

struct Scratch {
  std::vector<uint32_t> weights;  // [output tiles][input steps][16 pairs][16 outputs]
  std::vector<uint16_t> rows;     // the 32 rows at hand, bf16, zero-padded
  alignas(64) float outputs[kBlock][kBlock];
};

thread_local Scratch scratch;

// Outputs [first, last) (multiples of 16) of w → dst, each tile's input pair r, output c at [r][c]:
// the bf16 pair (w[c][2r], w[c][2r + 1]); zeros for outputs past w's last.
void packWeights(const ggml_tensor* w, int first, int last, uint32_t* dst) {
  const int steps = static_cast<int>(w->ne[0]) / kBlock, N = static_cast<int>(w->ne[1]);
  uint32_t* tile = dst;
  for (int n0 = first; n0 < last; n0 += kTile) {
    for (int s = 0; s < steps; s++, tile += kTile * kTile) {
      for (int c = 0; c < kTile; c++) {
        if (n0 + c >= N) {
          for (int r = 0; r < kTile; r++) tile[r * kTile + c] = 0;
          continue;
        }
        const uint32_t* pairs = reinterpret_cast<const uint32_t*>(static_cast<const char*>(w->data) + (n0 + c) * w->nb[1]) + s * kTile;
        for (int r = 0; r < kTile; r++) tile[r * kTile + c] = pairs[r];
      }
    }
  }
}

size_t packedWords(int K, int outputs) { return static_cast<size_t>(outputs) / kTile * (K / kBlock) * kTile * kTile; }

// Rows [m0, m0 + 32) of x (f32, K a row; those past M zero) → scratch.rows in bf16.
WSERVE_BF16_TARGET void convertRows(const float* x, int m0, int M, int K) {
  scratch.rows.resize(static_cast<size_t>(kBlock) * K);
  uint16_t* out = scratch.rows.data();
  const int rows = std::min(kBlock, M - m0);
  for (int r = 0; r < rows; r++) {
    const float* in = x + static_cast<size_t>(m0 + r) * K;
    for (int k = 0; k < K; k += kBlock, out += kBlock) {
      _mm512_storeu_si512(out, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(_mm512_loadu_ps(in + k + kTile), _mm512_loadu_ps(in + k))));
    }
  }
  std::fill(out, scratch.rows.data() + scratch.rows.size(), uint16_t{0});
}

// A thread's share of a product y = W·x: the shapes, and the 32-output blocks [first, last) it
// computes, their weights packed (none when first == last).
struct Share {
  int K, N, M, first, last;
  const float* x;
  float* y;
};

Share takeShare(ggml_tensor* dst, int ith, int nth) {
  const ggml_tensor *w = dst->src[0], *x = dst->src[1];
  const int N = static_cast<int>(w->ne[1]), blocks = N / kBlock;
  const Share s{static_cast<int>(w->ne[0]),    N,
                static_cast<int>(x->ne[1]),    ith * blocks / nth,
                (ith + 1) * blocks / nth,      static_cast<const float*>(x->data),
                static_cast<float*>(dst->data)};
  if (s.first < s.last) {
    scratch.weights.resize(packedWords(s.K, (s.last - s.first) * kBlock));
    packWeights(w, s.first * kBlock, s.last * kBlock, scratch.weights.data());
  }
  return s;
}

constexpr int kRegisterRows = 8;                       // rows a register block sums: 16 of the 32 vectors hold them
using Bf16Pair = uint32_t __attribute__((may_alias));  // two bf16 of scratch.rows, read as one lane

// Rows [0, rows) (of 8; those past `rows` computed, not stored) of a (pairs a row) times the
// packed tiles b0 (outputs 0-15) and b1 (16-31) → out, outStride floats a row.
WSERVE_BF16_TARGET void registerBlock(const Bf16Pair* a, int pairsPerRow, const uint32_t* b0, const uint32_t* b1, float* out, int outStride,
                                      int rows) {
  __m512 acc[kRegisterRows][2];
  for (auto& row : acc) row[0] = row[1] = _mm512_setzero_ps();
  for (int p = 0; p < pairsPerRow; p++) {
    const __m512bh w0 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b0 + p * kTile));
    const __m512bh w1 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b1 + p * kTile));
#pragma GCC unroll 8
    for (int r = 0; r < kRegisterRows; r++) {
      const __m512bh x = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(a[r * pairsPerRow + p])));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, w0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, w1);
    }
  }
  for (int r = 0; r < rows; r++) {
    _mm512_storeu_ps(out + static_cast<size_t>(r) * outStride, acc[r][0]);
    _mm512_storeu_ps(out + static_cast<size_t>(r) * outStride + kTile, acc[r][1]);
  }
}

// Blocks [first, last) of y = W·x (N outputs a row, M rows) from their packed tiles (`packed`:
// block first's), in registers; a last block past N is summed whole and stored in part.
WSERVE_BF16_TARGET void registerProduct(const uint32_t* packed, int first, int last, int K, int N, int M, const float* x, float* y) {
  const size_t tileWords = packedWords(K, kTile);  // one output tile's packed input
  for (int m0 = 0; m0 < M; m0 += kBlock) {
    const int rows = std::min(kBlock, M - m0);
    convertRows(x, m0, M, K);
    const Bf16Pair* a = reinterpret_cast<const Bf16Pair*>(scratch.rows.data());
    for (int b = first; b < last; b++) {
      const uint32_t* b0 = packed + 2 * (b - first) * tileWords;
      float* out = y + static_cast<size_t>(m0) * N + b * kBlock;
      const int outputs = std::min(kBlock, N - b * kBlock);
      for (int r0 = 0; r0 < rows; r0 += kRegisterRows) {
        const int blockRows = std::min(kRegisterRows, rows - r0);
        const Bf16Pair* ar = a + static_cast<size_t>(r0) * K / 2;
        if (outputs == kBlock) {
          registerBlock(ar, K / 2, b0, b0 + tileWords, out + static_cast<size_t>(r0) * N, N, blockRows);
          continue;
        }
        registerBlock(ar, K / 2, b0, b0 + tileWords, &scratch.outputs[0][0], kBlock, blockRows);
        for (int r = 0; r < blockRows; r++) std::memcpy(out + static_cast<size_t>(r0 + r) * N, scratch.outputs[r], outputs * sizeof(float));
      }
    }
  }
}

WSERVE_BF16_TARGET void registerLinearOp(ggml_tensor* dst, int ith, int nth, void* /*userdata*/) {
  const auto [K, N, M, first, last, x, y] = takeShare(dst, ith, nth);
  if (first < last) registerProduct(scratch.weights.data(), first, last, K, N, M, x, y);
}

// The same on a matrix packed once (userdata: its Bf16Packs copy), any N: blocks of 32 outputs.
WSERVE_BF16_TARGET void packedLinearOp(ggml_tensor* dst, int ith, int nth, void* userdata) {
  const ggml_tensor *w = dst->src[0], *x = dst->src[1];
  const int K = static_cast<int>(w->ne[0]), N = static_cast<int>(w->ne[1]), blocks = (N + kBlock - 1) / kBlock;
  const int first = ith * blocks / nth, last = (ith + 1) * blocks / nth;
  if (first == last) return;
  const uint32_t* packed = static_cast<const uint32_t*>(userdata) + packedWords(K, first * kBlock);
  registerProduct(packed, first, last, K, N, static_cast<int>(x->ne[1]), static_cast<const float*>(x->data),
                  static_cast<float*>(dst->data));
}

WSERVE_AMX_TARGET void amxLinearOp(ggml_tensor* dst, int ith, int nth, void* /*userdata*/) {
  const auto [K, N, M, first, last, x, y] = takeShare(dst, ith, nth);
  if (first == last) return;
  const int steps = K / kBlock;
  const long rowStride = static_cast<long>(K) * sizeof(uint16_t), outStride = static_cast<long>(N) * sizeof(float);
  TileShapes tiles;
  for (int m0 = 0; m0 < M; m0 += kBlock) {
    const int rows = std::min(kBlock, M - m0);
    convertRows(x, m0, M, K);
    const uint16_t* a = scratch.rows.data();
    storesBeforeTileLoads();
    for (int b = first; b < last; b++) {
      const uint32_t* b0 = scratch.weights.data() + static_cast<size_t>(2 * (b - first)) * steps * kTile * kTile;
      const uint32_t* b1 = b0 + static_cast<size_t>(steps) * kTile * kTile;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int s = 0; s < steps; s++) {
        _tile_loadd(4, a + s * kBlock, rowStride);
        _tile_loadd(5, a + kTile * K + s * kBlock, rowStride);
        _tile_loadd(6, b0 + s * kTile * kTile, kTile * sizeof(uint32_t));
        _tile_loadd(7, b1 + s * kTile * kTile, kTile * sizeof(uint32_t));
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      float* out = y + static_cast<size_t>(m0) * N + b * kBlock;
      if (rows == kBlock) {
        _tile_stored(0, out, outStride);
        _tile_stored(1, out + kTile, outStride);
        _tile_stored(2, out + kTile * N, outStride);
        _tile_stored(3, out + kTile * N + kTile, outStride);
      } else {
        _tile_stored(0, &scratch.outputs[0][0], kBlock * sizeof(float));
        _tile_stored(1, &scratch.outputs[0][kTile], kBlock * sizeof(float));
        _tile_stored(2, &scratch.outputs[kTile][0], kBlock * sizeof(float));
        _tile_stored(3, &scratch.outputs[kTile][kTile], kBlock * sizeof(float));
        for (int r = 0; r < rows; r++) std::memcpy(out + static_cast<size_t>(r) * N, scratch.outputs[r], sizeof(scratch.outputs[r]));
      }
    }
  }
}

#endif  // WSERVE_X86

// A bf16 matrix in plain layout in host memory, its rows (inputs) in 32s.
bool packable(const ggml_tensor* w) {
  return w->type == GGML_TYPE_BF16 && ggml_n_dims(w) == 2 && w->ne[0] % kBlock == 0 && ggml_is_contiguous(w) &&
         (!w->buffer || ggml_backend_buffer_is_host(w->buffer));
}

}  // namespace

bool bf16LinearTakes(const ggml_tensor* w) { return packable(w) && w->ne[1] % kBlock == 0; }

ggml_tensor* bf16Linear(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, bool amx) {
#ifdef WSERVE_X86
  GGML_ASSERT(bf16LinearTakes(w));
  return customProduct(ctx, w, x, amx ? amxLinearOp : registerLinearOp, nullptr, kBf16ProductName);
#else
  (void)ctx, (void)w, (void)x, (void)amx;
  GGML_ABORT("bf16Linear needs x86-64 with AVX512-BF16");
#endif
}

bool Bf16Packs::add(const ggml_tensor* w) {
#ifdef WSERVE_X86
  if (!packable(w)) return false;
  const int outputs = static_cast<int>((w->ne[1] + kBlock - 1) / kBlock * kBlock);
  std::vector<uint32_t>& words = packs_[w];
  words.resize(packedWords(static_cast<int>(w->ne[0]), outputs));
  packWeights(w, 0, outputs, words.data());
  bytes_ += words.size() * sizeof(uint32_t);
  return true;
#else
  (void)w;
  return false;
#endif
}

ggml_tensor* Bf16Packs::product(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, const Epilogue& then) const {
  const auto it = packs_.find(w);
  if (it == packs_.end()) return nullptr;
#ifdef WSERVE_X86
  return applyEpilogue(ctx, customProduct(ctx, w, x, packedLinearOp, const_cast<uint32_t*>(it->second.data()), kBf16ProductName), then);
#else
  (void)ctx, (void)x, (void)then;
  return nullptr;
#endif
}

}  // namespace wserve
