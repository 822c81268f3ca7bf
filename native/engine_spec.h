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
};

}  // namespace wserve
