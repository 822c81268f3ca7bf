// Matrices packed once, at load, for one of our product ops (bf16_linear.h, int8_linear.h): the
// graph builders ask for a product and get ggml's where a matrix was not packed.
#pragma once
#include <ggml.h>

#include <cstddef>

namespace wserve {

class PackedMatrices {
 public:
  virtual ~PackedMatrices() = default;
  // Packs w when the op takes it; false when not (the product stays ggml's).
  virtual bool add(const ggml_tensor* w) = 0;
  // w·x from w's packed copy; nullptr when w was not packed.
  virtual ggml_tensor* product(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x) const = 0;
  // What the packed copies take.
  virtual size_t bytes() const = 0;
};

// y = w·x as the custom op `op` over x's rows folded into one 2-D input (x f32, K = w->ne[0] a
// row): src[0] is w (its shape; its data too unless the op reads a packed copy from userdata),
// src[1] the rows; named `name` (op_profile.cc counts a product's FLOPs by it).
ggml_tensor* customProduct(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, ggml_custom_op_t op, void* userdata, const char* name);

}  // namespace wserve
