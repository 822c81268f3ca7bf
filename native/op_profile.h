// Where a graph's time goes, op by op (WHISPER_SERVE_PROFILE=1, bench/profile.mjs). The CPU
// backend calls its abort hook on its first thread once a node, after that thread's share of the
// node: the time from one call to the next is charged to the node (the wait for the other threads
// at the barrier included). Other backends compute a graph at once: charged to the whole graph.
#pragma once
#include <ggml.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace wserve {

struct OpCost {
  double seconds = 0;
  double flop = 0;  // matrix products' multiply-adds × 2; 0 for the rest
  int nodes = 0;
};

class OpProfile {
 public:
  // A graph of `stage` ("encoder", "decoder", "copy") about to be computed.
  void start(const ggml_cgraph* graph, const char* stage);
  void nodeDone();  // from the abort hook
  void stop();      // the graph returned: whatever was not charged yet goes to its last node
  void clear() { costs_.clear(); }
  // By "stage op" (products also by weight type: "encoder MUL_MAT bf16").
  const std::map<std::string, OpCost>& costs() const { return costs_; }

 private:
  void charge();
  std::vector<std::string> keys_;  // the graph's computed nodes, in order
  std::vector<double> flops_;
  size_t next_ = 0;
  std::chrono::steady_clock::time_point last_;
  std::map<std::string, OpCost> costs_;
};

}  // namespace wserve
