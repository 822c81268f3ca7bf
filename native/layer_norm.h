// Layer normalisation on the CPU as one op: ggml builds it from three nodes (NORM, MUL, ADD: five
// passes over the rows, its mean a sequential sum in double), 3.5 % of a tiny.en run on a Zen 3.
// Here each row is summed in double four lanes at a time, its variance summed as ggml's AVX2 code
// sums it, then normalised, scaled and shifted in one pass, each step rounded as ggml's nodes
// round it: the same bits as those nodes where ggml's module is built for AVX2 (haswell, as the
// checkout build here and the prebuild's cpu-haswell; 14 M outputs compared). ggml's AVX-512
// modules sum the squares 16 at a time, so there a variance may differ in its last bit.
#pragma once
#include <ggml.h>

namespace wserve {

// (x − mean) / √(variance + eps) · w + b over each row of x (f32 [n, rows…]), w and b [n] f32:
// in our op where it runs (x86-64 with AVX2 in the loaded ggml CPU module, x contiguous, w and b
// in host memory: a CPU engine's graph), else as ggml's nodes.
ggml_tensor* layerNorm(ggml_context* ctx, ggml_tensor* x, ggml_tensor* w, ggml_tensor* b, float eps);

}  // namespace wserve
