// The encoder's self-attention (encoder_attention.h's op) on CPUs without AVX512-BF16: one head's
// keys and values packed as bf16 pairs (bf16_kernels.h's layouts), each 32-bit word widened to
// two f32 vectors for FMA (avx2_kernels.h), queries and probabilities in f32. ggml's fused
// attention there multiplies f32 keys and values one query at a time: 68 GFLOP/s on two Xeon
// cores of its haswell module against 84–88 here in AVX2, 76 against 155–167 in AVX-512F under
// its icelake module (bench/README.md, "A real CPU without AVX512-BF16").
#pragma once
#include <ggml.h>

namespace wserve::widened {

// Queries [first, last) of head h in window w of encoder_attention.cc's op (dst: its node; src
// q, k, v [state, T, n] f32), in AVX2 + FMA or in AVX-512F (twice the lanes, twice the registers).
void attendQueriesAvx2(const ggml_tensor* dst, int w, int h, int first, int last);
void attendQueriesAvx512(const ggml_tensor* dst, int w, int h, int first, int last);

}  // namespace wserve::widened
