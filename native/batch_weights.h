// The weights of a whisper ggml file, read by us (not by whisper.cpp) into ggml tensors on one
// backend, for the batched engine's own graphs: whisper.cpp keeps its tensors private, and its
// graphs decode one sequence per state. Only what the graphs and the decoding rules need.
#pragma once
#include <ggml-backend.h>
#include <ggml.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wserve {

struct WhisperHparams {
  int32_t nVocab, nAudioCtx, nAudioState, nAudioHead, nAudioLayer;
  int32_t nTextCtx, nTextState, nTextHead, nTextLayer, nMels, ftype;
};

// Special token ids; they shift with the number of languages (as whisper.cpp's vocab does).
struct SpecialTokens {
  bool multilingual;
  int nLanguages;
  int eot, sot, translate, transcribe, solm, prev, nosp, noTimestamps, timestampBegin;
  int language(int index) const { return sot + 1 + index; }
  // From the vocabulary's size, as whisper.cpp numbers them (model.cc's specialTokens() shows
  // both side by side, for the test that checks each id against its string).
  static SpecialTokens forVocabulary(int nVocab);
};

struct AttentionWeights {
  ggml_tensor *lnW, *lnB, *qW, *qB, *kW, *vW, *vB, *outW, *outB;
};

struct EncoderBlock {
  AttentionWeights attn;
  ggml_tensor *mlpLnW, *mlpLnB, *mlp0W, *mlp0B, *mlp2W, *mlp2B;
};

struct DecoderBlock {
  AttentionWeights attn, cross;
  ggml_tensor *mlpLnW, *mlpLnB, *mlp0W, *mlp0B, *mlp2W, *mlp2B;
};

class WhisperWeights {
 public:
  // Throws std::runtime_error naming what is wrong with the file. bf16Matrices: the file's f16
  // matrices are held as bf16.
  static std::unique_ptr<WhisperWeights> load(const std::string& path, ggml_backend_t backend, bool bf16Matrices, bool repackQ4);
  ~WhisperWeights();
  WhisperWeights(const WhisperWeights&) = delete;
  WhisperWeights& operator=(const WhisperWeights&) = delete;

  WhisperHparams hp{};
  SpecialTokens tokens{};
  int nFftBins = 0;                // rows of melFilters: 1 + n_fft / 2
  std::vector<float> melFilters;   // nMels × nFftBins
  std::vector<std::string> vocab;  // token text by id (special tokens as whisper.cpp names them)
  size_t bytes = 0;
  int repackedMatrices = 0;  // in ggml's CPU_REPACK layout

  ggml_tensor *encPos, *conv1W, *conv1B, *conv2W, *conv2B, *encLnW, *encLnB;
  std::vector<EncoderBlock> encoder;
  ggml_tensor *decPos, *tokenEmbedding, *decLnW, *decLnB;
  std::vector<DecoderBlock> decoder;

 private:
  WhisperWeights() = default;
  ggml_context* ctx_ = nullptr;
  ggml_backend_buffer_t buffer_ = nullptr;
  ggml_context* repackedCtx_ = nullptr;  // matrices in ggml's CPU_REPACK layout (see repackBufferType)
  ggml_backend_buffer_t repackedBuffer_ = nullptr;
};

}  // namespace wserve
