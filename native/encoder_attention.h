// The encoder's self-attention on the CPU as one custom ggml op, softmax(QKᵀ/√d)V with bf16
// products (AVX512-BF16's dot-product instruction, f32 sums; without it, bf16 keys and values
// widened for FMA: widened_attention.h). ggml's own fused attention takes f32 or f16 keys and
// values and multiplies in f32: ~120 GFLOP/s on two Sapphire Rapids cores, a third of f32's peak
// and a sixth of bf16's, and the largest share of the encoder (bench/README.md, "The encoder's
// attention").
#pragma once
#include <ggml.h>

namespace wserve {

// The op's tensor name (op_profile.cc counts its FLOPs as fused attention's: q [state, T, n]
// against T keys, 4·state·T·T·n).
inline constexpr char kBf16AttentionName[] = "bf16 attention";

// Whether this CPU and model can take it (and cross_attention.h's ops): ggml's module built for
// AVX512-BF16 (Intel since Cooper Lake, AMD since Zen 4), else for AVX2 and FMA (the same packed
// bf16 widened to f32), and 64-dimensional heads (every Whisper model).
bool bf16AttentionRuns(int headDim);

// q, k, v: [state, T, n] f32, contiguous, heads of 64 side by side in each row (the products'
// output, before any split); the result has the same layout (heads merged), ready for the
// output projection. The scale is 1/√64. amx: in AMX tiles (only where amx_tiles.h's
// amxBf16Runs), else in AVX512-BF16 registers where ggml's module has them, else widened in
// AVX-512F or AVX2 registers.
ggml_tensor* bf16Attention(ggml_context* ctx, ggml_tensor* q, ggml_tensor* k, ggml_tensor* v, bool amx);

}  // namespace wserve
