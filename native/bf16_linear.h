// The encoder's matrix products on bf16 weights as one custom ggml op, in AMX-BF16 tiles or in
// AVX512-BF16 registers: ggml's CPU backend multiplies bf16 one dot product per row pair or with
// llamafile's AVX512-BF16 GEMM (~210-230 GFLOP/s on two Zen 4 cores against ~330-350 here), and its
// AMX kernels take quantised weights only (q8_0 there ran at ~290-395 GFLOP/s on two Sapphire
// Rapids cores, a fraction of what the tiles do: bench/README.md).
#pragma once
#include <ggml.h>

namespace wserve {

// The op's tensor name (op_profile.cc counts its FLOPs as a product's: 2·K per output).
inline constexpr char kBf16ProductName[] = "bf16 product";

// Whether the op takes this matrix: bf16 in plain layout, its rows (inputs) and outputs in 32s.
bool bf16LinearTakes(const ggml_tensor* w);

// w [K, N] bf16, x [K, …] f32 → [N, …] f32 (x rounded to bf16, sums in f32); in AMX tiles with
// amx (only where amxBf16Runs(), amx_tiles.h), else in registers (only where the CPU has AVX512-BF16).
ggml_tensor* bf16Linear(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, bool amx);

}  // namespace wserve
