#include "batch_graphs.h"

#include <cmath>

#include "bf16_linear.h"
#include "cross_attention.h"
#include "encoder_attention.h"
#include "layer_norm.h"

namespace wserve {

namespace {

constexpr float kNormEps = 1e-5f;

ggml_tensor* layerNorm(ggml_context* ctx, ggml_tensor* x, ggml_tensor* w, ggml_tensor* b) {
  return wserve::layerNorm(ctx, x, w, b, kNormEps);
}

// A product over several windows (x 3-D) takes CUDA's batched cuBLAS path, which with
// GGML_PREC_F32 writes f32 straight from the f16 operands (f32 accumulation, at the f16 tensor-core
// rate on sm80 and later) instead of writing f16 and converting it in a kernel of its own (10 % of
// the encoder's GPU time). On one window (2-D) the same flag would send CUDA to an f32 GEMM on
// converted weights, so it stays off there; the CPU ignores it.
// A matrix in ggml's AMX layout takes the windows folded into rows: its kernel reads one 2-D input
// (on a 3-D one it would look for the weights of each window past their end).
ggml_tensor* linear(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, ggml_tensor* b) {
  ggml_tensor* y;
  if (inAmxLayout(w)) {
    ggml_tensor* rows = ggml_reshape_2d(ctx, ggml_is_contiguous(x) ? x : ggml_cont(ctx, x), x->ne[0], ggml_nrows(x));
    y = ggml_reshape_4d(ctx, ggml_mul_mat(ctx, w, rows), w->ne[1], x->ne[1], x->ne[2], x->ne[3]);
  } else {
    y = ggml_mul_mat(ctx, w, x);
    if (x->ne[2] > 1) ggml_mul_mat_set_prec(y, GGML_PREC_F32);
  }
  return b ? ggml_add(ctx, y, b) : y;
}

// weight·in, then `then`: on weight's packed copy where it has one (the epilogue fused where the
// op can), else in our bf16 kernel (tiles with amx) where `bf16Kernel` and weight is bf16 for it,
// else in ggml's.
ggml_tensor* product(ggml_context* ctx, const PackedMatrices* packs, ggml_tensor* weight, ggml_tensor* in, const Epilogue& then,
                     bool bf16Kernel = false, bool amx = false) {
  if (ggml_tensor* y = packs ? packs->product(ctx, weight, in, then) : nullptr) return y;
  ggml_tensor* y = bf16Kernel && bf16LinearTakes(weight) ? bf16Linear(ctx, weight, in, amx) : linear(ctx, weight, in, nullptr);
  return applyEpilogue(ctx, y, then);
}

// [state, n, batch] → [headDim, n, heads, batch]
ggml_tensor* splitHeads(ggml_context* ctx, ggml_tensor* x, int headDim, int heads, int n, int batch) {
  return ggml_permute(ctx, ggml_reshape_4d(ctx, x, headDim, heads, n, batch), 0, 2, 1, 3);
}

// [headDim, n, heads, batch] → [state, n, batch]
ggml_tensor* mergeHeads(ggml_context* ctx, ggml_tensor* x, int state, int n, int batch) {
  return ggml_cont_3d(ctx, ggml_permute(ctx, x, 0, 2, 1, 3), state, n, batch);
}

// Convolution over time with padding 1, for a batch: x [length, channels, batch] → the result
// as [outChannels, outLength, batch], the encoder's layout. (ggml_conv_1d's own reshape mixes
// the batch into time.)
ggml_tensor* conv1d(ggml_context* ctx, ggml_tensor* kernel, ggml_tensor* x, int stride) {
  ggml_tensor* cols = ggml_im2col(ctx, kernel, x, stride, 0, 1, 0, 1, 0, false, GGML_TYPE_F32);  // [in·k, outLength, batch]
  ggml_tensor* y = ggml_mul_mat(ctx, ggml_reshape_2d(ctx, kernel, kernel->ne[0] * kernel->ne[1], kernel->ne[2]),
                                ggml_reshape_2d(ctx, cols, cols->ne[0], cols->ne[1] * cols->ne[2]));
  return ggml_reshape_3d(ctx, y, kernel->ne[2], cols->ne[1], cols->ne[2]);
}

// ggml's attention over the encoder's q, k, v products ([state, T, n]) → [state, T, n].
ggml_tensor* ggmlAttention(ggml_context* ctx, ggml_tensor* qLinear, ggml_tensor* kLinear, ggml_tensor* vLinear, int heads, bool flashAttn,
                           bool headCopies) {
  const int state = static_cast<int>(qLinear->ne[0]), T = static_cast<int>(qLinear->ne[1]), n = static_cast<int>(qLinear->ne[2]);
  const int headDim = state / heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(headDim));
  ggml_tensor* q = splitHeads(ctx, qLinear, headDim, heads, T, n);
  // K and V for the attention. The CPU's fused attention gets contiguous f32 heads: its tiled
  // kernel widens f16 tiles to f32 one element at a time, which cost more than the copy
  // (encoder attention 1.49 -> 1.13 s, tiny.en, 9 windows, Xeon Sapphire Rapids). A GPU gets f16,
  // converted before the split: the strided copy of the per-head view was 11 % of its encoder's
  // time, converting the contiguous product one coalesced kernel. The softmax path multiplies f16.
  auto attentionHeads = [&](ggml_tensor* y) {
    if (!headCopies) return splitHeads(ctx, ggml_cast(ctx, y, GGML_TYPE_F16), headDim, heads, T, n);
    ggml_tensor* split = splitHeads(ctx, y, headDim, heads, T, n);
    return flashAttn ? ggml_cont(ctx, split) : ggml_cast(ctx, split, GGML_TYPE_F16);
  };
  ggml_tensor* k = attentionHeads(kLinear);
  if (flashAttn)
    return ggml_reshape_3d(ctx, ggml_flash_attn_ext(ctx, q, k, attentionHeads(vLinear), nullptr, scale, 0.0f, 0.0f), state, T, n);
  ggml_tensor* kq = ggml_soft_max_ext(ctx, ggml_mul_mat(ctx, k, q), nullptr, scale, 0.0f);
  ggml_tensor* vT = ggml_cast(ctx, ggml_permute(ctx, ggml_reshape_4d(ctx, vLinear, headDim, heads, T, n), 1, 2, 0, 3), GGML_TYPE_F16);
  return mergeHeads(ctx, ggml_mul_mat(ctx, vT, kq), state, T, n);
}

}  // namespace

void EngineCaches::allocate(ggml_backend_t backend, const WhisperHparams& hp, int count, int keptEncodings, bool transposedValues,
                            ggml_type crossCacheType) {
  release();
  vTransposed = transposedValues;
  crossType = transposedValues ? GGML_TYPE_F16 : crossCacheType;
  packedCross = crossType == GGML_TYPE_BF16;
  const int64_t crossRows =
      packedCross ? static_cast<int64_t>(packedCrossElements(hp.nTextState, hp.nAudioCtx) / hp.nTextState) : hp.nAudioCtx;
  ggml_init_params params = {ggml_tensor_overhead() * (4 * hp.nTextLayer + 1), nullptr, true};
  ctx = ggml_init(params);
  for (int il = 0; il < hp.nTextLayer; il++) {
    selfK.push_back(ggml_new_tensor_3d(ctx, GGML_TYPE_F16, hp.nTextState, hp.nTextCtx, count));
    selfV.push_back(vTransposed ? ggml_new_tensor_3d(ctx, GGML_TYPE_F16, hp.nTextCtx, hp.nTextState, count)
                                : ggml_new_tensor_3d(ctx, GGML_TYPE_F16, hp.nTextState, hp.nTextCtx, count));
    const int cross = count + keptEncodings;
    crossK.push_back(ggml_new_tensor_3d(ctx, crossType, hp.nTextState, crossRows, cross));
    crossV.push_back(vTransposed ? ggml_new_tensor_3d(ctx, GGML_TYPE_F16, hp.nAudioCtx, hp.nTextState, cross)
                                 : ggml_new_tensor_3d(ctx, crossType, hp.nTextState, crossRows, cross));
  }
  buffer = ggml_backend_alloc_ctx_tensors(ctx, backend);
  if (!buffer) {
    release();
    throw std::runtime_error("cannot allocate the caches of " + std::to_string(count) + " sequences");
  }
  ggml_backend_buffer_clear(buffer, 0);
  slots = count;
  crossSlots = count + keptEncodings;
}

void EngineCaches::release() {
  if (buffer) ggml_backend_buffer_free(buffer);
  if (ctx) ggml_free(ctx);
  buffer = nullptr;
  ctx = nullptr;
  slots = 0;
  crossSlots = 0;
  selfK.clear();
  selfV.clear();
  crossK.clear();
  crossV.clear();
}

EncoderGraph buildEncoderGraph(ggml_context* ctx, const WhisperWeights& w, const EngineCaches& c, int n, bool flashAttn, bool headCopies,
                               bool bf16Kernel, bool amx, const PackedMatrices* packs) {
  const WhisperHparams& hp = w.hp;
  const int state = hp.nAudioState, heads = hp.nAudioHead, headDim = state / heads, T = hp.nAudioCtx;
  EncoderGraph g;
  g.graph = ggml_new_graph_custom(ctx, kMaxGraphNodes, false);
  g.mel = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, kMelFrames, hp.nMels, n);
  g.rowsK = ggml_new_tensor_1d(ctx, GGML_TYPE_I64, static_cast<int64_t>(T) * n);
  g.rowsV = c.vTransposed ? ggml_new_tensor_1d(ctx, GGML_TYPE_I64, static_cast<int64_t>(state) * n) : nullptr;
  for (ggml_tensor* t : {g.mel, g.rowsK, g.rowsV}) {
    if (t) ggml_set_input(t);
  }

  ggml_tensor* x = ggml_gelu(ctx, ggml_add(ctx, conv1d(ctx, w.conv1W, g.mel, 1), ggml_reshape_1d(ctx, w.conv1B, state)));
  x = ggml_cont(ctx, ggml_transpose(ctx, x));  // [frames, state, n]: the next convolution's input
  x = ggml_gelu(ctx, ggml_add(ctx, conv1d(ctx, w.conv2W, x, 2), ggml_reshape_1d(ctx, w.conv2B, state)));  // [state, T, n]
  x = ggml_add(ctx, x, w.encPos);
  auto encoderProduct = [&](ggml_tensor* weight, ggml_tensor* in, const Epilogue& then) {
    return product(ctx, packs, weight, in, then, bf16Kernel, amx);
  };
  for (const EncoderBlock& b : w.encoder) {
    ggml_tensor* h = layerNorm(ctx, x, b.attn.lnW, b.attn.lnB);
    ggml_tensor* q = encoderProduct(b.attn.qW, h, {b.attn.qB});
    ggml_tensor* k = encoderProduct(b.attn.kW, h, {});
    ggml_tensor* v = encoderProduct(b.attn.vW, h, {b.attn.vB});
    ggml_tensor* attn = bf16Kernel ? bf16Attention(ctx, q, k, v, amx) : ggmlAttention(ctx, q, k, v, heads, flashAttn, headCopies);
    x = encoderProduct(b.attn.outW, attn, {b.attn.outB, x});
    h = layerNorm(ctx, x, b.mlpLnW, b.mlpLnB);
    x = encoderProduct(b.mlp2W, encoderProduct(b.mlp0W, h, {b.mlp0B, nullptr, true}), {b.mlp2B, x});
  }
  ggml_tensor* enc = layerNorm(ctx, x, w.encLnW, w.encLnB);  // [state, T, n]

  const float crossScale = std::pow(static_cast<float>(headDim), -0.25f);
  for (size_t il = 0; il < w.decoder.size(); il++) {
    const AttentionWeights& a = w.decoder[il].cross;
    ggml_tensor* k = ggml_scale(ctx, encoderProduct(a.kW, enc, {}), crossScale);
    if (c.packedCross) {
      ggml_build_forward_expand(g.graph, packCrossCache(ctx, k, encoderProduct(a.vW, enc, {a.vB}), g.rowsK, c.crossK[il], c.crossV[il]));
      continue;
    }
    ggml_build_forward_expand(g.graph, ggml_set_rows(ctx, ggml_reshape_2d(ctx, c.crossK[il], state, static_cast<int64_t>(T) * c.crossSlots),
                                                     ggml_reshape_2d(ctx, k, state, static_cast<int64_t>(T) * n), g.rowsK));
    ggml_tensor* v = encoderProduct(a.vW, enc, {a.vB});  // [state, T, n]
    if (c.vTransposed) {
      ggml_tensor* vT = ggml_cont(ctx, ggml_transpose(ctx, v));  // [T, state, n]
      ggml_build_forward_expand(g.graph,
                                ggml_set_rows(ctx, ggml_reshape_2d(ctx, c.crossV[il], T, static_cast<int64_t>(state) * c.crossSlots),
                                              ggml_reshape_2d(ctx, vT, T, static_cast<int64_t>(state) * n), g.rowsV));
    } else {
      ggml_build_forward_expand(g.graph,
                                ggml_set_rows(ctx, ggml_reshape_2d(ctx, c.crossV[il], state, static_cast<int64_t>(T) * c.crossSlots),
                                              ggml_reshape_2d(ctx, v, state, static_cast<int64_t>(T) * n), g.rowsK));
    }
  }

  return g;
}

DecoderGraph buildDecoderGraph(ggml_context* ctx, const WhisperWeights& w, const EngineCaches& c, int nKv, int span, int live,
                               const PackedMatrices* packs) {
  const WhisperHparams& hp = w.hp;
  const int S = span;
  const int64_t cacheRows = static_cast<int64_t>(hp.nTextCtx) * c.slots;
  const int state = hp.nTextState, heads = hp.nTextHead, headDim = state / heads, ctxLen = hp.nTextCtx, T = hp.nAudioCtx;
  DecoderGraph g;
  g.graph = ggml_new_graph_custom(ctx, kMaxGraphNodes, false);
  g.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, S);
  g.positions = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, S);
  g.rowsK = ggml_new_tensor_1d(ctx, GGML_TYPE_I64, S);
  g.rowsV = c.vTransposed ? ggml_new_tensor_1d(ctx, GGML_TYPE_I64, static_cast<int64_t>(state) * S) : nullptr;
  g.mask = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, nKv, 1, 1, S);
  for (ggml_tensor* t : {g.tokens, g.positions, g.rowsK, g.rowsV, g.mask}) {
    if (t) ggml_set_input(t);
  }

  const size_t es = ggml_type_size(GGML_TYPE_F16);
  const size_t crossRow = ggml_row_size(c.crossType, state), crossHead = ggml_row_size(c.crossType, headDim);
  const float scale = std::pow(static_cast<float>(headDim), -0.25f);
  ggml_tensor* maskF16 = c.vTransposed ? nullptr : ggml_cast(ctx, g.mask, GGML_TYPE_F16);
  ggml_tensor* x = ggml_add(ctx, ggml_get_rows(ctx, w.tokenEmbedding, g.tokens), ggml_get_rows(ctx, w.decPos, g.positions));
  auto decoderProduct = [&](ggml_tensor* weight, ggml_tensor* in, const Epilogue& then) { return product(ctx, packs, weight, in, then); };
  for (size_t il = 0; il < w.decoder.size(); il++) {
    const DecoderBlock& b = w.decoder[il];
    ggml_tensor* h = layerNorm(ctx, x, b.attn.lnW, b.attn.lnB);
    ggml_tensor* q = ggml_scale(ctx, decoderProduct(b.attn.qW, h, {b.attn.qB}), scale);
    ggml_tensor* k = ggml_scale(ctx, decoderProduct(b.attn.kW, h, {}), scale);
    ggml_tensor* v = decoderProduct(b.attn.vW, h, {b.attn.vB});
    ggml_build_forward_expand(g.graph, ggml_set_rows(ctx, ggml_reshape_2d(ctx, c.selfK[il], state, cacheRows), k, g.rowsK));
    ggml_tensor* kv =
        ggml_view_4d(ctx, c.selfK[il], headDim, nKv, heads, S, state * es, headDim * es, static_cast<size_t>(state) * ctxLen * es, 0);
    ggml_tensor* attn;
    if (c.vTransposed) {
      ggml_build_forward_expand(g.graph, ggml_set_rows(ctx, ggml_reshape_2d(ctx, c.selfV[il], 1, cacheRows * state),
                                                       ggml_reshape_2d(ctx, v, 1, static_cast<int64_t>(state) * S), g.rowsV));
      ggml_tensor* vv = ggml_view_4d(ctx, c.selfV[il], nKv, headDim, heads, S, ctxLen * es, static_cast<size_t>(ctxLen) * headDim * es,
                                     static_cast<size_t>(ctxLen) * state * es, 0);
      ggml_tensor* kq = ggml_soft_max_ext(ctx, ggml_mul_mat(ctx, kv, splitHeads(ctx, q, headDim, heads, 1, S)), g.mask, 1.0f, 0.0f);
      attn = ggml_reshape_2d(ctx, mergeHeads(ctx, ggml_mul_mat(ctx, vv, kq), state, 1, S), state, S);
    } else {
      ggml_build_forward_expand(g.graph, ggml_set_rows(ctx, ggml_reshape_2d(ctx, c.selfV[il], state, cacheRows), v, g.rowsK));
      ggml_tensor* vv =
          ggml_view_4d(ctx, c.selfV[il], headDim, nKv, heads, S, state * es, headDim * es, static_cast<size_t>(state) * ctxLen * es, 0);
      attn = ggml_reshape_2d(ctx, ggml_flash_attn_ext(ctx, splitHeads(ctx, q, headDim, heads, 1, S), kv, vv, maskF16, 1.0f, 0.0f, 0.0f),
                             state, S);
    }
    x = decoderProduct(b.attn.outW, attn, {b.attn.outB, x});

    h = layerNorm(ctx, x, b.cross.lnW, b.cross.lnB);
    if (c.packedCross) {
      attn = bf16CrossAttention(ctx, decoderProduct(b.cross.qW, h, {b.cross.qB}), c.crossK[il], c.crossV[il], T);
    } else {
      ggml_tensor* cq = splitHeads(ctx, decoderProduct(b.cross.qW, h, {b.cross.qB}), headDim, heads, 1, S);
      ggml_tensor* ck = ggml_view_4d(ctx, c.crossK[il], headDim, T, heads, S, crossRow, crossHead, crossRow * T, 0);
      if (c.vTransposed) {
        ggml_tensor* cv = ggml_view_4d(ctx, c.crossV[il], T, headDim, heads, S, T * es, static_cast<size_t>(T) * headDim * es,
                                       static_cast<size_t>(T) * state * es, 0);
        ggml_tensor* ckq = ggml_soft_max_ext(ctx, ggml_mul_mat(ctx, ck, cq), nullptr, scale, 0.0f);
        attn = ggml_reshape_2d(ctx, mergeHeads(ctx, ggml_mul_mat(ctx, cv, ckq), state, 1, S), state, S);
      } else {
        ggml_tensor* cv = ggml_view_4d(ctx, c.crossV[il], headDim, T, heads, S, crossRow, crossHead, crossRow * T, 0);
        attn = ggml_reshape_2d(ctx, ggml_flash_attn_ext(ctx, cq, ck, cv, nullptr, scale, 0.0f, 0.0f), state, S);
      }
    }
    x = decoderProduct(b.cross.outW, attn, {b.cross.outB, x});

    h = layerNorm(ctx, x, b.mlpLnW, b.mlpLnB);
    x = decoderProduct(b.mlp2W, decoderProduct(b.mlp0W, h, {b.mlp0B, nullptr, true}), {b.mlp2B, x});
  }
  // Logits (the step's largest product) only for the live slots: the batch drains at the end of a run.
  g.liveRows = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, live);
  ggml_set_input(g.liveRows);
  g.logits = decoderProduct(w.tokenEmbedding, layerNorm(ctx, ggml_get_rows(ctx, x, g.liveRows), w.decLnW, w.decLnB), {});  // [vocab, live]
  ggml_set_output(g.logits);
  ggml_build_forward_expand(g.graph, g.logits);
  return g;
}

}  // namespace wserve
