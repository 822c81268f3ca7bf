// The batched engine's two ggml graphs and the per-sequence caches they read and write.
// Encoder: the mel of n windows → n encoder outputs → each decoder layer's cross-attention keys
// and values, written into the windows' slots. Decoder step: one token for every slot → the next
// token's logits of the live ones. Backend-agnostic (CPU and CUDA run the same graphs).
#pragma once
#include <ggml-backend.h>
#include <ggml.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "batch_mel.h"
#include "batch_weights.h"
#include "packed_matrices.h"

namespace wserve {

constexpr int kMaxGraphNodes = 16384;

// Per slot: self-attention K [state, textCtx] and V; cross-attention K [state, audioCtx] and V.
// V is transposed ([textCtx, state], [audioCtx, state]) for the softmax(QKᵀ)V graphs, whose
// product with the attention weights then reads rows; laid out as K for ggml's fused attention.
// F16, one tensor per decoder layer with a slot dimension; the cross-attention ones in K's layout
// may be q8_0 instead (crossType): ggml's CPU fused attention reads them directly; or bf16
// packed for our cross-attention op (cross_attention.h: [state, padded T] a slot, its own layout).
struct EngineCaches {
  int slots = 0;       // sequences: self-attention caches, and the first `slots` cross-attention ones
  int crossSlots = 0;  // cross-attention caches: the slots', then kept encodings (BatchEngine's store)
  bool vTransposed = true;
  ggml_type crossType = GGML_TYPE_F16;  // crossK's and crossV's (f16 whenever V is transposed)
  bool packedCross = false;             // crossType bf16: packed for bf16CrossAttention
  std::vector<ggml_tensor*> selfK, selfV, crossK, crossV;
  ggml_context* ctx = nullptr;
  ggml_backend_buffer_t buffer = nullptr;

  // Throws std::runtime_error when the backend cannot hold them. crossCacheType applies to K-layout
  // cross caches only (transposed ones stay f16); GGML_TYPE_BF16 means packed.
  void allocate(ggml_backend_t backend, const WhisperHparams& hp, int count, int keptEncodings, bool transposedValues,
                ggml_type crossCacheType = GGML_TYPE_F16);
  void release();
  ~EngineCaches() { release(); }
};

struct EncoderGraph {
  ggml_cgraph* graph;
  ggml_tensor* mel;    // [3000, mels, n]
  ggml_tensor* rowsK;  // I64 [audioCtx · n]: cross K rows (slot · audioCtx + t)
  ggml_tensor* rowsV;  // I64 [state · n]: transposed cross V rows (slot · state + j); null otherwise
};

struct DecoderGraph {
  ggml_cgraph* graph;
  ggml_tensor* tokens;     // I32 [span]
  ggml_tensor* positions;  // I32 [span]
  ggml_tensor* rowsK;      // I64 [span]: self K rows (slot · textCtx + position)
  ggml_tensor* rowsV;      // I64 [state · span]: transposed self V elements ((slot · state + j) · textCtx + position), or null
  ggml_tensor* mask;       // F32 [nKv, 1, 1, span]: 0 up to each slot's position, -inf after
  ggml_tensor* liveRows;   // I32 [live]: the slots whose logits are wanted
  ggml_tensor* logits;     // F32 [vocab, live]
};

// flashAttn: ggml's fused attention in the encoder (CPU); else softmax(QKᵀ)V, which every
// backend supports whatever the length. The decoder's attention follows the caches' layout.
// headCopies: K and V copied per head for the attention, in f32 for the fused kernel (the CPU's
// layout: see the encoder block); else converted to f16 in place and read strided (a GPU's).
// bf16Kernel (with flashAttn, on the CPU): our bf16 attention op instead (encoder_attention.h),
// and our products on bf16 matrices (bf16_linear.h); both in AMX tiles with amx. The products on
// matrices in `packs` (packed_matrices.h) before any of those.
EncoderGraph buildEncoderGraph(ggml_context* ctx, const WhisperWeights& w, const EngineCaches& c, int windows, bool flashAttn,
                               bool headCopies, bool bf16Kernel, bool amx, const PackedMatrices* packs);
// The decoder step over the first `span` slots (the rest of the caches untouched), logits for `live`
// of them; the products on matrices in `packs` in our op for them, the rest in ggml's.
DecoderGraph buildDecoderGraph(ggml_context* ctx, const WhisperWeights& w, const EngineCaches& c, int nKv, int span, int live,
                               const PackedMatrices* packs);

}  // namespace wserve
