// Matrix products on bf16 weights as one custom ggml op (the encoder's; the decoder's on packs), in
// AMX-BF16 tiles or in AVX512-BF16 registers: ggml's CPU backend multiplies bf16 one dot product per
// row pair or with llamafile's AVX512-BF16 GEMM (~210-230 GFLOP/s on two Zen 4 cores against
// ~330-350 here), and its AMX kernels take quantised weights only (q8_0 there ran at ~290-395
// GFLOP/s on two Sapphire Rapids cores, a fraction of what the tiles do: bench/README.md).
#pragma once
#include <ggml.h>

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "packed_matrices.h"

namespace wserve {

// The op's tensor name (op_profile.cc counts its FLOPs as a product's: 2·K per output).
inline constexpr char kBf16ProductName[] = "bf16 product";

// Whether the op takes this matrix: bf16 in plain layout, its rows (inputs) and outputs in 32s.
bool bf16LinearTakes(const ggml_tensor* w);

// w [K, N] bf16, x [K, …] f32 → [N, …] f32 (x rounded to bf16, sums in f32); in AMX tiles with
// amx (only where amxBf16Runs(), amx_tiles.h), else in registers (only where the CPU has AVX512-BF16).
ggml_tensor* bf16Linear(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, bool amx);

// bf16 matrices packed once, at load, in the layout each bf16Linear call's threads pack their share
// into: for products that read each weight once a call (the decoder's, 8 rows a step), where ggml's
// bf16 path reached 60-70 GFLOP/s on two Zen 4 cores and packing every call would read the
// matrix twice. Any number of outputs (the logits' vocabulary): the last block is zero-padded.
class Bf16Packs : public PackedMatrices {
 public:
  // Packs w when the op takes it (bf16, host, contiguous, its rows in 32s); false when not.
  bool add(const ggml_tensor* w) override;
  // w·x in registers (AVX512-BF16) from w's packed copy, the epilogue as ggml's nodes after it;
  // nullptr when w was not packed.
  ggml_tensor* product(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, const Epilogue& then) const override;
  size_t bytes() const override { return bytes_; }

 private:
  std::unordered_map<const ggml_tensor*, std::vector<uint32_t>> packs_;
  size_t bytes_ = 0;
};

}  // namespace wserve
