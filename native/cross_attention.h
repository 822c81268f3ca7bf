// The decoder's cross-attention on the CPU as two custom ggml ops over caches of bf16 pairs
// (bf16_kernels.h's layouts): the encoder packs each window's keys and values once, and every
// decoder step reads them with VDPBF16PS (or, without AVX512-BF16, widened to f32 for AVX2's
// FMA). ggml's fused attention spends ~100 cycles a key on one query (a q8_0 dot of 64, an
// online-softmax update, a dequantised row of V): 5 GFLOP/s, two thirds of base's decoder step on
// two Emerald Rapids cores (bench/README.md, "The decoder's cross-attention").
#pragma once
#include <ggml.h>

#include <cstddef>

namespace wserve {

// The ops' tensor names (op_profile.cc counts the attention's FLOPs as fused attention's).
inline constexpr char kCrossPackName[] = "bf16 cross pack";
inline constexpr char kCrossAttentionName[] = "bf16 cross attention";

// Whether this CPU and model can take them: encoder_attention.h's bf16AttentionRuns.

// The bf16 elements one slot's packed keys (or values) take for one layer: every head's T keys
// padded to a multiple of 32.
size_t packedCrossElements(int state, int T);

// A layer's packed cache: [state, paddedT, slots] bf16 (packedCrossElements a slot; the layout
// within a slot is bf16_kernels.h's per head, not rows of `state`).
//
// k, v: [state, T, n] f32 (k already scaled by 64^-¼); rows: I64 [T · n], the encoder's
// cross-cache rows (slot · T + t): window w goes to slot rows[w · T] / T of cacheK and cacheV.
// Returns the node to expand into the graph (its value is nothing: the op writes the caches).
ggml_tensor* packCrossCache(ggml_context* ctx, ggml_tensor* k, ggml_tensor* v, ggml_tensor* rows, ggml_tensor* cacheK, ggml_tensor* cacheV);

// q: [state, S] f32 (unscaled: 64^-¼ here, the keys carry the rest of 1/√64), row s attending to
// slot s's T keys and values. Returns [state, S] f32, heads merged.
ggml_tensor* bf16CrossAttention(ggml_context* ctx, ggml_tensor* q, ggml_tensor* cacheK, ggml_tensor* cacheV, int T);

}  // namespace wserve
