#include "packed_matrices.h"

namespace wserve {

ggml_tensor* customProduct(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, ggml_custom_op_t op, void* userdata, const char* name) {
  GGML_ASSERT(x->type == GGML_TYPE_F32 && x->ne[0] == w->ne[0]);
  ggml_tensor* rows = ggml_reshape_2d(ctx, ggml_is_contiguous(x) ? x : ggml_cont(ctx, x), x->ne[0], ggml_nrows(x));
  ggml_tensor* args[] = {w, rows};
  ggml_tensor* y = ggml_custom_4d(ctx, GGML_TYPE_F32, w->ne[1], rows->ne[1], 1, 1, args, 2, op, GGML_N_TASKS_MAX, userdata);
  ggml_set_name(y, name);
  return ggml_reshape_4d(ctx, y, w->ne[1], x->ne[1], x->ne[2], x->ne[3]);
}

}  // namespace wserve
