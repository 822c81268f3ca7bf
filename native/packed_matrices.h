// Matrices packed once, at load, for one of our product ops (bf16_linear.h, int8_linear.h): the
// graph builders ask for a product and get ggml's where a matrix was not packed.
#pragma once
#include <ggml.h>

#include <cstddef>

namespace wserve {

// What a product's outputs take on their way out: GELU(y + bias) + residual, each part optional
// (bias: f32, one a column; residual: the residual stream, the product's shape). An op that fuses
// them applies them to each register block as it stores it: no node of ggml's, no pass over memory.
struct Epilogue {
  ggml_tensor* bias = nullptr;
  ggml_tensor* residual = nullptr;
  bool gelu = false;
};

// The epilogue as ggml's nodes after y (the graph the unfused products always built).
ggml_tensor* applyEpilogue(ggml_context* ctx, ggml_tensor* y, const Epilogue& then);

class PackedMatrices {
 public:
  virtual ~PackedMatrices() = default;
  // Packs w when the op takes it; false when not (the product stays ggml's).
  virtual bool add(const ggml_tensor* w) = 0;
  // w·x from w's packed copy, then `then`; nullptr when w was not packed.
  virtual ggml_tensor* product(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, const Epilogue& then) const = 0;
  // What the packed copies take.
  virtual size_t bytes() const = 0;
};

// y = w·x as the custom op `op` over x's rows folded into one 2-D input (x f32, K = w->ne[0] a
// row): src[0] is w (its shape; its data too unless the op reads a packed copy from userdata),
// src[1] the rows, src[2] and src[3] a fused epilogue's bias and residual (or null); named `name`
// (op_profile.cc counts a product's FLOPs by it).
ggml_tensor* customProduct(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, ggml_custom_op_t op, void* userdata, const char* name,
                           ggml_tensor* bias = nullptr, ggml_tensor* residual = nullptr);

// Whether t is f32, contiguous, in host memory or not yet allocated (a graph's intermediate): what
// our CPU ops read in place.
bool hostF32(const ggml_tensor* t);

// Whether an op can fuse `then` onto w·x: an f32 bias of w's outputs and a residual of the
// product's shape, both contiguous in host memory.
bool fusableEpilogue(const ggml_tensor* w, const ggml_tensor* x, const Epilogue& then);

}  // namespace wserve
