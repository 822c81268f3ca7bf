// The encoder's matrix products on bf16 weights in AMX-BF16 tiles, as one custom ggml op: ggml's
// CPU backend multiplies bf16 one dot product per row pair (or with llamafile's AVX512-BF16 GEMM),
// and its AMX kernels take quantised weights only (q8_0 there ran at ~290-395 GFLOP/s on two
// Sapphire Rapids cores, a fraction of what the tiles do: bench/README.md).
#pragma once
#include <ggml.h>

namespace wserve {

// The op's tensor name (op_profile.cc counts its FLOPs as a product's: 2·K per output).
inline constexpr char kAmxProductName[] = "amx bf16 product";

// Whether the op takes this matrix: bf16 in plain layout, its rows (inputs) and outputs in 32s.
bool amxLinearTakes(const ggml_tensor* w);

// w [K, N] bf16, x [K, …] f32 → [N, …] f32 (x rounded to bf16, sums in f32).
// Only where amxBf16Runs() (amx_tiles.h).
ggml_tensor* amxLinear(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x);

}  // namespace wserve
