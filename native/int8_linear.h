// Matrix products in int8, as faster-whisper's int8 does them: each matrix quantised once at load,
// a scale per output; each input row quantised as the op runs, a scale per row; sums exact in
// int32. With AVX512-VNNI (VPDPBUSD: 64 byte products a vector, 4 a 32-bit lane); else with AVX2
// (VPSIGNB, VPMADDUBSW, VPMADDWD: 32 a vector in 4 instructions, the same sums). Where the CPU has
// no AVX512-BF16, ggml multiplies f16 in f32 (bench/README.md: "int8 products", "A real AVX2 CPU").
// A product's bias, GELU and residual addition are applied to each register block as it is
// stored (packed_matrices.h's Epilogue): no ggml node and no pass over the output for them.
#pragma once
#include <ggml.h>

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "ggml_gelu.h"
#include "packed_matrices.h"

namespace wserve {

// The op's tensor name (op_profile.cc counts its FLOPs as a product's: 2·K per output).
inline constexpr char kInt8ProductName[] = "int8 product";

// Whether the op runs here: x86-64 and AVX512-VNNI or AVX2 in the ggml CPU module loaded (its
// build, not just the CPU, so that a module picked for an older CPU leaves it off as it leaves off
// its own).
bool int8LinearRuns();

class Int8Packs : public PackedMatrices {
 public:
  // cpu: the CPU backend that computes ggml's GELU table once (ggml_gelu.h) for the fused epilogue.
  explicit Int8Packs(ggml_backend_t cpu) : geluTable_(ggmlGeluTable(cpu)) {}
  // Quantises and packs w (f32, f16 or bf16 in host memory, contiguous, its rows in 16s).
  bool add(const ggml_tensor* w) override;
  // W·x with the epilogue fused (GELU and the additions as each block is stored) where it can be.
  ggml_tensor* product(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, const Epilogue& then) const override;
  size_t bytes() const override { return bytes_; }

  struct Pack {
    std::vector<uint32_t> quads;   // [outputs / 16][K / 4][16 outputs]: 4 of an output's int8 weights a lane
    std::vector<int32_t> offsets;  // an output's weights summed, × 128: what the inputs' +128 adds
    std::vector<float> scales;     // an output's weights: w ≈ q · scale
    const float* geluTable;        // ggmlGeluTable's
  };

 private:
  const float* geluTable_;
  std::unordered_map<const ggml_tensor*, Pack> packs_;
  size_t bytes_ = 0;
};

}  // namespace wserve
