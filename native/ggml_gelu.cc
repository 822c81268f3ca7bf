#include "ggml_gelu.h"

#include <mutex>
#include <stdexcept>
#include <vector>

namespace wserve {

const float* ggmlGeluTable(ggml_backend_t cpu) {
  static std::vector<float> table;
  static std::once_flag once;
  std::call_once(once, [cpu] {
    constexpr int kPatterns = 1 << 16;
    ggml_init_params params = {ggml_tensor_overhead() * 2 + ggml_graph_overhead(), nullptr, true};
    ggml_context* ctx = ggml_init(params);
    ggml_tensor* x = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, kPatterns);
    ggml_tensor* y = ggml_gelu(ctx, x);
    ggml_cgraph* graph = ggml_new_graph(ctx);
    ggml_build_forward_expand(graph, y);
    ggml_backend_buffer_t buffer = ggml_backend_alloc_ctx_tensors(ctx, cpu);
    if (!buffer) {
      ggml_free(ctx);
      throw std::runtime_error("no memory for ggml's GELU table");
    }
    std::vector<float> in(kPatterns);
    for (int i = 0; i < kPatterns; i++) in[i] = ggml_fp16_to_fp32(static_cast<ggml_fp16_t>(i));
    ggml_backend_tensor_set(x, in.data(), 0, sizeof(float) * kPatterns);
    const bool computed = ggml_backend_graph_compute(cpu, graph) == GGML_STATUS_SUCCESS;
    if (computed) {
      table.resize(kPatterns);
      ggml_backend_tensor_get(y, table.data(), 0, sizeof(float) * kPatterns);
    }
    ggml_backend_buffer_free(buffer);
    ggml_free(ctx);
    if (!computed) throw std::runtime_error("ggml's GELU over every f16 value could not be computed");
  });
  return table.data();
}

}  // namespace wserve
