// How the batched engine loads a model: the file, the backend, and the forms of its matrices. The
// model handle keeps it for the engine's first use.
#pragma once
#include <string>

namespace wserve {

struct EngineSpec {
  std::string path;
  bool useGpu;  // weights and graphs on the first GPU backend ggml offers (CPU when there is none)
  int gpuDevice;
  bool flashAttn;
  // On the CPU: q4_0 and q8_0 matrices in the layout of ggml's own kernels for them (CPU_REPACK for
  // q4_0 on AVX2, AMX for q8_0: WhisperWeights::load).
  bool repackWeights;
  bool q8Matrices;  // on the CPU: the file's f16 matrices (not the convolutions) quantised to q8_0 as they load
  // On the CPU with AVX512-VNNI: the encoder's matrix products (not the convolutions) in our int8
  // op (int8_linear.h), on copies quantised and packed at load; the decoder's too where our bf16
  // kernels do not run.
  bool int8Products;
  // On the CPU with fused attention: the cross-attention keys/values cached as q8_0, not f16. Every
  // decoder step reads all of them (memory-bound): half the bytes.
  bool q8CrossCache;
  // Instead: cached as bf16 packed for our cross-attention op (cross_attention.h) where the CPU has
  // AVX512-BF16 or AVX2; ggml's fused attention over q8_0 costs ~100 cycles a key.
  bool bf16CrossCache;
  // On the CPU with fused attention: the encoder's self-attention and matrix products through our
  // bf16 kernels (encoder_attention.h, bf16_linear.h on bf16 matrices) where the CPU has
  // AVX512-BF16, instead of ggml's f32 attention and its products; where it has AVX2 and FMA
  // instead, the attention alone (widened_attention.h). amxEncoder: those kernels in AMX tiles,
  // where the CPU has AMX-BF16.
  bool bf16Attention;
  bool amxEncoder;
};

}  // namespace wserve
