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
  // The forms the matrices take (each only where it applies).
  struct Forms {
    bool bf16;                 // the file's f16 matrices held as bf16
    bool repack;               // q4_0 and q8_0 in the layout of the CPU's own kernels for them (extraBufferType)
    bool q8;                   // the file's f16 matrices (not the convolutions) quantised to q8_0 (before bf16)
    bool bf16EncoderProducts;  // ... but for those only the encoder graph multiplies: bf16 for bf16_linear.h
  };
  // Throws std::runtime_error naming what is wrong with the file.
  static std::unique_ptr<WhisperWeights> load(const std::string& path, ggml_backend_t backend, Forms forms);
  ~WhisperWeights();
  WhisperWeights(const WhisperWeights&) = delete;
  WhisperWeights& operator=(const WhisperWeights&) = delete;

  WhisperHparams hp{};
  SpecialTokens tokens{};
  int nFftBins = 0;                // rows of melFilters: 1 + n_fft / 2
  std::vector<float> melFilters;   // nMels × nFftBins
  std::vector<std::string> vocab;  // token text by id (special tokens as whisper.cpp names them)
  size_t bytes = 0;
  int repackedMatrices = 0;  // in ggml's CPU_REPACK or AMX layout

  ggml_tensor *encPos, *conv1W, *conv1B, *conv2W, *conv2B, *encLnW, *encLnB;
  std::vector<EncoderBlock> encoder;
  ggml_tensor *decPos, *tokenEmbedding, *decLnW, *decLnB;
  std::vector<DecoderBlock> decoder;

 private:
  WhisperWeights() = default;
  ggml_context* ctx_ = nullptr;
  ggml_backend_buffer_t buffer_ = nullptr;
  struct Layout {  // matrices held in one of ggml's extra buffer types (extraBufferType)
    ggml_backend_buffer_type_t type;
    ggml_context* ctx;
    ggml_backend_buffer_t buffer;
  };
  std::vector<Layout> repacked_;
};

// Whether a matrix is held in ggml's AMX layout, whose kernel runs only products that read it as
// src[0] of a contiguous 2-D f32 input (BatchEngine::unsupportedNode checks each graph).
bool inAmxLayout(const ggml_tensor* t);

}  // namespace wserve
