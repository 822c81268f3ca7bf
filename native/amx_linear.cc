// y = W·x in AMX tiles (see amx_linear.h). C = A·B with A the inputs' rows in bf16 (16 rows × 32
// inputs a tile), B the weights in pairs (16 input pairs × 16 outputs a tile), which each thread
// packs for the outputs it computes, once a call; four accumulating tiles hold 32 rows × 32
// outputs. Each thread converts the 32 rows at hand to bf16 itself (AVX512-BF16, zero-padded past
// the last row), so every thread converts every row: still cheaper than ggml's own f32 → bf16
// copy node before the product, which cost a quarter of the products' time.
#include "amx_linear.h"

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

// Outputs [first, last) (multiples of 16) of w → scratch.weights, each tile's input pair r,
// output c at [r][c]: the bf16 pair (w[c][2r], w[c][2r + 1]).
void packWeights(const ggml_tensor* w, int first, int last) {
  const int steps = static_cast<int>(w->ne[0]) / kBlock;
  scratch.weights.resize(static_cast<size_t>(last - first) / kTile * steps * kTile * kTile);
  uint32_t* tile = scratch.weights.data();
  for (int n0 = first; n0 < last; n0 += kTile) {
    for (int s = 0; s < steps; s++, tile += kTile * kTile) {
      for (int c = 0; c < kTile; c++) {
        const uint32_t* pairs = reinterpret_cast<const uint32_t*>(static_cast<const char*>(w->data) + (n0 + c) * w->nb[1]) + s * kTile;
        for (int r = 0; r < kTile; r++) tile[r * kTile + c] = pairs[r];
      }
    }
  }
}

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

WSERVE_AMX_TARGET void linearOp(ggml_tensor* dst, int ith, int nth, void* /*userdata*/) {
  const ggml_tensor *w = dst->src[0], *x = dst->src[1];
  const int K = static_cast<int>(w->ne[0]), N = static_cast<int>(w->ne[1]), M = static_cast<int>(x->ne[1]);
  const int blocks = N / kBlock, first = ith * blocks / nth, last = (ith + 1) * blocks / nth;
  if (first == last) return;
  packWeights(w, first * kBlock, last * kBlock);
  const int steps = K / kBlock;
  const long rowStride = static_cast<long>(K) * sizeof(uint16_t), outStride = static_cast<long>(N) * sizeof(float);
  TileShapes tiles;
  for (int m0 = 0; m0 < M; m0 += kBlock) {
    const int rows = std::min(kBlock, M - m0);
    convertRows(static_cast<const float*>(x->data), m0, M, K);
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
      float* out = static_cast<float*>(dst->data) + static_cast<size_t>(m0) * N + b * kBlock;
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

}  // namespace

bool amxLinearTakes(const ggml_tensor* w) {
  return w->type == GGML_TYPE_BF16 && ggml_n_dims(w) == 2 && w->ne[0] % kBlock == 0 && w->ne[1] % kBlock == 0 && ggml_is_contiguous(w) &&
         (!w->buffer || ggml_backend_buffer_is_host(w->buffer));
}

ggml_tensor* amxLinear(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x) {
#ifdef WSERVE_X86
  GGML_ASSERT(amxLinearTakes(w) && x->type == GGML_TYPE_F32 && x->ne[0] == w->ne[0]);
  ggml_tensor* rows = ggml_reshape_2d(ctx, ggml_is_contiguous(x) ? x : ggml_cont(ctx, x), x->ne[0], ggml_nrows(x));
  ggml_tensor* args[] = {w, rows};
  ggml_tensor* y = ggml_custom_4d(ctx, GGML_TYPE_F32, w->ne[1], rows->ne[1], 1, 1, args, 2, linearOp, GGML_N_TASKS_MAX, nullptr);
  ggml_set_name(y, kAmxProductName);
  return ggml_reshape_4d(ctx, y, w->ne[1], x->ne[1], x->ne[2], x->ne[3]);
#else
  (void)ctx, (void)w, (void)x;
  GGML_ABORT("amxLinear needs x86-64 with AMX-BF16");
#endif
}

}  // namespace wserve
