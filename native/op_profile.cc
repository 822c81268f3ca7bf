#include "op_profile.h"

#include <cstring>

#include "bf16_linear.h"
#include "encoder_attention.h"
#include "int8_linear.h"

namespace wserve {

namespace {

// The ops ggml's CPU backend skips (no abort-hook call): layout only.
bool layoutOnly(const ggml_tensor* t) {
  switch (t->op) {
    case GGML_OP_NONE:
    case GGML_OP_RESHAPE:
    case GGML_OP_TRANSPOSE:
    case GGML_OP_VIEW:
    case GGML_OP_PERMUTE:
      return true;
    default:
      return false;
  }
}

}  // namespace

void OpProfile::start(const ggml_cgraph* graph, const char* stage) {
  keys_.clear();
  flops_.clear();
  ggml_cgraph* g = const_cast<ggml_cgraph*>(graph);
  for (int i = 0; i < ggml_graph_n_nodes(g); i++) {
    const ggml_tensor* t = ggml_graph_node(g, i);
    if (layoutOnly(t)) continue;
    // A custom op by the name its builder gave it (encoder_attention.cc's).
    std::string key = std::string(stage) + " " + (t->op == GGML_OP_CUSTOM && t->name[0] ? t->name : ggml_op_desc(t));
    double flop = 0;
    const bool custom = t->op == GGML_OP_CUSTOM;
    if (t->op == GGML_OP_MUL_MAT ||
        (custom && (std::strcmp(t->name, kBf16ProductName) == 0 || std::strcmp(t->name, kInt8ProductName) == 0))) {
      if (!custom) key += std::string(" ") + ggml_type_name(t->src[0]->type);
      flop = 2.0 * static_cast<double>(t->src[0]->ne[0]) * static_cast<double>(ggml_nelements(t));
    } else if (t->op == GGML_OP_FLASH_ATTN_EXT || (custom && std::strcmp(t->name, kBf16AttentionName) == 0)) {
      const ggml_tensor *q = t->src[0], *k = t->src[1];  // QKᵀ and the product with V: 2 × 2·d·n_q·n_kv per head
      flop = 4.0 * static_cast<double>(q->ne[0]) * q->ne[1] * q->ne[2] * q->ne[3] * k->ne[1];
    }
    keys_.push_back(std::move(key));
    flops_.push_back(flop);
  }
  next_ = 0;
  last_ = std::chrono::steady_clock::now();
}

void OpProfile::charge() {
  const auto now = std::chrono::steady_clock::now();
  if (next_ < keys_.size()) {
    OpCost& c = costs_[keys_[next_]];
    c.seconds += std::chrono::duration<double>(now - last_).count();
    c.flop += flops_[next_];
    c.nodes++;
    next_++;
  }
  last_ = now;
}

void OpProfile::nodeDone() { charge(); }

void OpProfile::stop() {
  if (next_ == 0 && !keys_.empty()) {
    // No hook calls (a GPU backend): the whole graph under one name.
    const std::string stage = keys_[0].substr(0, keys_[0].find(' '));
    OpCost& c = costs_[stage + " graph"];
    c.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - last_).count();
    for (double f : flops_) c.flop += f;
    c.nodes += static_cast<int>(keys_.size());
  }
  keys_.clear();
}

}  // namespace wserve
