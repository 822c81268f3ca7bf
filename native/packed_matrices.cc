#include "packed_matrices.h"

#include <ggml-backend.h>

namespace wserve {

ggml_tensor* applyEpilogue(ggml_context* ctx, ggml_tensor* y, const Epilogue& then) {
  if (then.bias) y = ggml_add(ctx, y, then.bias);
  if (then.gelu) y = ggml_gelu(ctx, y);
  return then.residual ? ggml_add(ctx, then.residual, y) : y;
}

ggml_tensor* customProduct(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, ggml_custom_op_t op, void* userdata, const char* name,
                           ggml_tensor* bias, ggml_tensor* residual) {
  GGML_ASSERT(x->type == GGML_TYPE_F32 && x->ne[0] == w->ne[0]);
  ggml_tensor* rows = ggml_reshape_2d(ctx, ggml_is_contiguous(x) ? x : ggml_cont(ctx, x), x->ne[0], ggml_nrows(x));
  ggml_tensor* args[] = {w, rows, bias, residual};
  ggml_tensor* y =
      ggml_custom_4d(ctx, GGML_TYPE_F32, w->ne[1], rows->ne[1], 1, 1, args, bias || residual ? 4 : 2, op, GGML_N_TASKS_MAX, userdata);
  ggml_set_name(y, name);
  return ggml_reshape_4d(ctx, y, w->ne[1], x->ne[1], x->ne[2], x->ne[3]);
}

bool hostF32(const ggml_tensor* t) {
  return t->type == GGML_TYPE_F32 && ggml_is_contiguous(t) && (!t->buffer || ggml_backend_buffer_is_host(t->buffer));
}

bool fusableEpilogue(const ggml_tensor* w, const ggml_tensor* x, const Epilogue& then) {
  if (then.bias && !(hostF32(then.bias) && ggml_nelements(then.bias) == w->ne[1])) return false;
  return !then.residual || (hostF32(then.residual) && ggml_nelements(then.residual) == w->ne[1] * ggml_nrows(x));
}

}  // namespace wserve
