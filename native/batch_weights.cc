#include "batch_weights.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <thread>

#include "backends.h"
#include "parallel.h"

namespace wserve {

// English-only models have 51864 tokens and no language tokens; multilingual ones 51865 (99
// languages) or 51866 (large-v3's 100: Cantonese added), and every special token after the
// languages shifts with their count.
SpecialTokens SpecialTokens::forVocabulary(int nVocab) {
  SpecialTokens t{};
  t.multilingual = nVocab >= 51865;
  t.nLanguages = nVocab - 51765 - (t.multilingual ? 1 : 0);
  t.eot = 50256 + (t.multilingual ? 1 : 0);
  t.sot = 50257 + (t.multilingual ? 1 : 0);
  const int shift = t.multilingual ? t.nLanguages - 98 : 0;
  t.translate = 50357 + shift;
  t.transcribe = 50358 + shift;
  t.solm = 50359 + shift;
  t.prev = 50360 + shift;
  t.nosp = 50361 + shift;
  t.noTimestamps = 50362 + shift;
  t.timestampBegin = 50363 + shift;
  return t;
}

namespace {

constexpr uint32_t kGgmlMagic = 0x67676d6c;  // "ggml", the legacy whisper format
constexpr int32_t kQuantVersionFactor = 1000;

struct TensorRecord {
  std::string name;
  ggml_type type;
  int nDims;
  int64_t ne[4];
  std::streamoff offset;
};

template <typename T>
T readValue(std::ifstream& in, const char* what) {
  T v{};
  in.read(reinterpret_cast<char*>(&v), sizeof v);
  if (!in) throw std::runtime_error(std::string("model file ends inside its ") + what);
  return v;
}

std::string format(const char* pattern, int i) {
  char buf[128];
  std::snprintf(buf, sizeof buf, pattern, i);
  return buf;
}

}  // namespace

WhisperWeights::~WhisperWeights() {
  if (buffer_) ggml_backend_buffer_free(buffer_);
  if (ctx_) ggml_free(ctx_);
  for (const Layout& l : repacked_) {
    if (l.buffer) ggml_backend_buffer_free(l.buffer);
    ggml_free(l.ctx);
  }
}

namespace {

// One of the CPU's extra buffer types by name, or null. Matrices there are stored in the layout
// of ggml's own kernel for them, which then runs every product that reads them:
// - CPU_REPACK: q4_0 as interleaved rows for its AVX2/AVX-512 GEMM (2.1× the products' rate of
//   plain q4_0 on Zen 4). Only q4_0: ggml repacks it on any AVX2 CPU (q4_0_8x8), while q8_0 and
//   q5_0 have no x86 layout there, and a tensor it cannot repack would abort the process.
// - AMX: q8_0 in the tiles of Intel's AMX int8 unit (present only where the addon was built with
//   ggml's AMX kernels and Linux granted the process the tile state). Its kernel reads the input
//   as one f32 matrix and writes outputs in 32s: linear() folds windows into rows, and the engine
//   checks every graph for a product it could not run (unsupportedNode) before it computes one.
ggml_backend_buffer_type_t extraBufferType(ggml_backend_t backend, const char* name) {
  ggml_backend_dev_t dev = ggml_backend_get_device(backend);
  if (!dev || ggml_backend_dev_type(dev) != GGML_BACKEND_DEVICE_TYPE_CPU) return nullptr;
  auto extra = reinterpret_cast<ggml_backend_dev_get_extra_bufts_t>(
      ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(dev), "ggml_backend_dev_get_extra_bufts"));
  for (ggml_backend_buffer_type_t* b = extra ? extra(dev) : nullptr; b && *b; b++) {
    if (std::strcmp(ggml_backend_buft_name(*b), name) == 0) return *b;
  }
  return nullptr;
}

// A tensor's f16 data as bf16 or q8_0, in blocks of rows spread over the cores: on one core a
// large model's matrices take seconds, all of them part of the cold start.
std::vector<char> convertF16(const std::vector<char>& f16, const ggml_tensor* to) {
  const int64_t rowLen = to->ne[0], rows = ggml_nelements(to) / rowLen, block = 64;
  std::vector<float> f(static_cast<size_t>(rowLen * rows));
  std::vector<char> out(ggml_nbytes(to));
  const auto* in = reinterpret_cast<const ggml_fp16_t*>(f16.data());
  parallelFor(static_cast<size_t>((rows + block - 1) / block), static_cast<int>(std::thread::hardware_concurrency()), [&](size_t b) {
    const int64_t first = static_cast<int64_t>(b) * block * rowLen, n = std::min(block, rows - static_cast<int64_t>(b) * block) * rowLen;
    ggml_fp16_to_fp32_row(in + first, f.data() + first, n);
    if (to->type == GGML_TYPE_BF16) {
      ggml_fp32_to_bf16_row(f.data() + first, reinterpret_cast<ggml_bf16_t*>(out.data()) + first, n);
    } else {
      ggml_quantize_chunk(to->type, f.data(), out.data(), first, n / rowLen, rowLen, nullptr);
    }
  });
  return out;
}

// The length of the rows a matrix product reads: all dimensions but the last (a convolution's
// kernel is multiplied as [kernel · channels, outputs]).
int64_t rowLength(const std::vector<int64_t>& ne) {
  int64_t n = 1;
  for (size_t d = 0; d + 1 < ne.size(); d++) n *= ne[d];
  return n;
}

}  // namespace

bool inAmxLayout(const ggml_tensor* t) { return t->buffer && std::strcmp(ggml_backend_buffer_name(t->buffer), "AMX") == 0; }

std::unique_ptr<WhisperWeights> WhisperWeights::load(const std::string& path, ggml_backend_t backend, Forms forms) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  if (readValue<uint32_t>(in, "magic") != kGgmlMagic) throw std::runtime_error(path + " is not a whisper ggml model");
  std::unique_ptr<WhisperWeights> w(new WhisperWeights());
  WhisperHparams& hp = w->hp;
  for (int32_t* field : {&hp.nVocab, &hp.nAudioCtx, &hp.nAudioState, &hp.nAudioHead, &hp.nAudioLayer, &hp.nTextCtx, &hp.nTextState,
                         &hp.nTextHead, &hp.nTextLayer, &hp.nMels, &hp.ftype}) {
    *field = readValue<int32_t>(in, "header");
  }
  hp.ftype %= kQuantVersionFactor;
  if (hp.nAudioState != hp.nTextState || hp.nAudioState % hp.nAudioHead != 0 || hp.nTextState % hp.nTextHead != 0) {
    throw std::runtime_error("unsupported model shape");
  }

  const int32_t nMel = readValue<int32_t>(in, "mel filters");
  w->nFftBins = readValue<int32_t>(in, "mel filters");
  if (nMel != hp.nMels || w->nFftBins != 201) throw std::runtime_error("unexpected mel filter bank shape");
  w->melFilters.resize(static_cast<size_t>(nMel) * w->nFftBins);
  in.read(reinterpret_cast<char*>(w->melFilters.data()), static_cast<std::streamsize>(w->melFilters.size() * sizeof(float)));

  const int32_t nWords = readValue<int32_t>(in, "vocabulary");
  w->vocab.assign(hp.nVocab > nWords ? hp.nVocab : nWords, std::string());
  for (int32_t i = 0; i < nWords; i++) {
    const uint32_t len = readValue<uint32_t>(in, "vocabulary");
    w->vocab[i].resize(len);
    if (len > 0) in.read(w->vocab[i].data(), len);
  }
  if (!in) throw std::runtime_error("model file ends inside its vocabulary");

  w->tokens = SpecialTokens::forVocabulary(hp.nVocab);
  const SpecialTokens& t = w->tokens;
  // Tokens past the file's word list get the names whisper.cpp gives them, so that a
  // suppressRegex means the same on both decoders (e.g. "^\[_EOT_\]$").
  for (int32_t i = nWords; i < hp.nVocab; i++) {
    const std::pair<int, const char*> named[] = {
        {t.eot, "[_EOT_]"},   {t.sot, "[_SOT_]"},   {t.translate, "[_TRANSLATE_]"}, {t.transcribe, "[_TRANSCRIBE_]"}, {t.solm, "[_SOLM_]"},
        {t.prev, "[_PREV_]"}, {t.nosp, "[_NOSP_]"}, {t.noTimestamps, "[_NOT_]"},    {t.timestampBegin, "[_BEG_]"}};
    std::string name =
        i > t.timestampBegin ? "[_TT_" + std::to_string(i - t.timestampBegin) + "]" : "[_extra_token_" + std::to_string(i) + "]";
    for (const auto& [id, text] : named) {
      if (id == i) name = text;
    }
    w->vocab[i] = name;
  }

  // Tensor table first (so the whole set is allocated in one backend buffer), data second.
  std::vector<TensorRecord> records;
  while (true) {
    int32_t nDims = 0;
    in.read(reinterpret_cast<char*>(&nDims), sizeof nDims);
    if (in.eof()) break;
    const int32_t nameLen = readValue<int32_t>(in, "tensor header");
    const int32_t type = readValue<int32_t>(in, "tensor header");
    if (nDims < 1 || nDims > 4 || nameLen <= 0 || nameLen > 256 || type < 0 || type >= GGML_TYPE_COUNT) {
      throw std::runtime_error("corrupt tensor header in model file");
    }
    TensorRecord r{std::string(), static_cast<ggml_type>(type), nDims, {1, 1, 1, 1}, 0};
    for (int i = 0; i < nDims; i++) r.ne[i] = readValue<int32_t>(in, "tensor header");
    r.name.resize(nameLen);
    in.read(r.name.data(), nameLen);
    r.offset = in.tellg();
    const size_t nbytes = ggml_row_size(r.type, r.ne[0]) * r.ne[1] * r.ne[2] * r.ne[3];
    in.seekg(static_cast<std::streamoff>(nbytes), std::ios::cur);
    if (!in) throw std::runtime_error("model file ends inside tensor " + r.name);
    records.push_back(std::move(r));
  }

  // Every tensor the graphs use, with the shape the hyper-parameters give it: a file's tensor of
  // another shape is refused here, not found out by ggml (which aborts the process). A file with
  // no tensors at all (whisper.cpp's test models) runs on zeros, as whisper.cpp runs it.
  const int64_t as = hp.nAudioState, ts = hp.nTextState;
  struct Expected {
    std::string name;
    std::vector<int64_t> ne;
    ggml_type type;  // when the file has no tensors
  };
  std::vector<Expected> expected = {
      {"encoder.positional_embedding", {as, hp.nAudioCtx}, GGML_TYPE_F32},
      {"encoder.conv1.weight", {3, hp.nMels, as}, GGML_TYPE_F16},
      {"encoder.conv1.bias", {1, as}, GGML_TYPE_F32},
      {"encoder.conv2.weight", {3, as, as}, GGML_TYPE_F16},
      {"encoder.conv2.bias", {1, as}, GGML_TYPE_F32},
      {"encoder.ln_post.weight", {as}, GGML_TYPE_F32},
      {"encoder.ln_post.bias", {as}, GGML_TYPE_F32},
      {"decoder.positional_embedding", {ts, hp.nTextCtx}, GGML_TYPE_F32},
      {"decoder.token_embedding.weight", {ts, hp.nVocab}, GGML_TYPE_F16},
      {"decoder.ln.weight", {ts}, GGML_TYPE_F32},
      {"decoder.ln.bias", {ts}, GGML_TYPE_F32},
  };
  auto block = [&](const std::string& b, int64_t s, bool cross) {
    std::vector<std::string> attentions = {"attn"};
    if (cross) attentions.push_back("cross_attn");
    for (const std::string& a : attentions) {
      expected.push_back({b + "." + a + "_ln.weight", {s}, GGML_TYPE_F32});
      expected.push_back({b + "." + a + "_ln.bias", {s}, GGML_TYPE_F32});
      for (const char* m : {".query", ".key", ".value", ".out"}) expected.push_back({b + "." + a + m + ".weight", {s, s}, GGML_TYPE_F16});
      for (const char* m : {".query", ".value", ".out"}) expected.push_back({b + "." + a + m + ".bias", {s}, GGML_TYPE_F32});
    }
    expected.push_back({b + ".mlp_ln.weight", {s}, GGML_TYPE_F32});
    expected.push_back({b + ".mlp_ln.bias", {s}, GGML_TYPE_F32});
    expected.push_back({b + ".mlp.0.weight", {s, 4 * s}, GGML_TYPE_F16});
    expected.push_back({b + ".mlp.0.bias", {4 * s}, GGML_TYPE_F32});
    expected.push_back({b + ".mlp.2.weight", {4 * s, s}, GGML_TYPE_F16});
    expected.push_back({b + ".mlp.2.bias", {s}, GGML_TYPE_F32});
  };
  for (int i = 0; i < hp.nAudioLayer; i++) block(format("encoder.blocks.%d", i), as, false);
  for (int i = 0; i < hp.nTextLayer; i++) block(format("decoder.blocks.%d", i), ts, true);

  std::map<std::string, const TensorRecord*> inFile;
  for (const TensorRecord& r : records) inFile[r.name] = &r;
  if (!records.empty() && records.size() != expected.size()) {
    throw std::runtime_error("model file has " + std::to_string(records.size()) + " tensors, expected " + std::to_string(expected.size()));
  }
  ggml_init_params params = {ggml_tensor_overhead() * (expected.size() + 1), nullptr, true};
  ggml_backend_buffer_type_t q4Layout = forms.repack && cpuHasFeature("AVX2") ? extraBufferType(backend, "CPU_REPACK") : nullptr;
  ggml_backend_buffer_type_t q8Layout = forms.repack ? extraBufferType(backend, "AMX") : nullptr;
  std::map<std::string, ggml_tensor*> byName;
  for (const Expected& e : expected) {
    ggml_type type = e.type;
    auto it = inFile.find(e.name);
    if (!records.empty()) {
      if (it == inFile.end()) throw std::runtime_error("model file lacks tensor " + e.name);
      const TensorRecord& r = *it->second;
      bool same = r.nDims == static_cast<int>(e.ne.size());
      for (size_t d = 0; same && d < e.ne.size(); d++) same = r.ne[d] == e.ne[d];
      if (!same) throw std::runtime_error("tensor " + e.name + " has the wrong shape for this model's hyper-parameters");
      type = r.type;
      // bf16 matrices where the CPU multiplies them natively (AVX512-BF16: a third less time in
      // the encoder's products than f16, same transcripts on the bench speech); f16 elsewhere, and
      // where the rows are no multiple of 32 (conv1's 3 × 80), which llamafile's bf16 GEMM leaves
      // to ggml's dot product per row (~10× slower than its f16 GEMM there: bench/README.md).
      // q8_0 (asked for): the products in int8, as faster-whisper's int8 compute type, and as
      // whisper.cpp's quantiser writes them: the layers' matrices and the token embedding (the
      // logits product of every decoder step: as bf16 it cost a q8_0 run 10-20 %); the
      // convolutions keep f16.
      const bool matrix = (e.name.find("blocks.") != std::string::npos || e.name == "decoder.token_embedding.weight") && e.ne.size() == 2;
      // The encoder graph's own products (its blocks', and the cross-attention keys and values it
      // writes for the decoder) stay bf16 for our bf16 kernel where it runs (bf16_linear.h).
      const bool encoderProduct = e.name.rfind("encoder.blocks.", 0) == 0 || e.name.find("cross_attn.key.") != std::string::npos ||
                                  e.name.find("cross_attn.value.") != std::string::npos;
      if (forms.q8 && type == GGML_TYPE_F16 && matrix && e.ne[0] % 32 == 0 && !(forms.bf16EncoderProducts && encoderProduct)) {
        type = GGML_TYPE_Q8_0;  // blocks of 32
      }
      if (forms.bf16 && type == GGML_TYPE_F16 && rowLength(e.ne) % 32 == 0) type = GGML_TYPE_BF16;
    }
    // Only the products' matrices: the token embedding is also read by GET_ROWS, which neither
    // layout serves. q4_0_8x8 takes rows in eights; AMX takes rows and outputs in 32s.
    ggml_backend_buffer_type_t layout = nullptr;
    if (e.ne.size() == 2 && e.name != "decoder.token_embedding.weight") {
      if (type == GGML_TYPE_Q4_0 && e.ne[1] % 8 == 0) layout = q4Layout;
      if (type == GGML_TYPE_Q8_0 && e.ne[0] % 32 == 0 && e.ne[1] % 32 == 0) layout = q8Layout;
    }
    ggml_context** ctx = &w->ctx_;
    if (layout) {
      auto held = std::find_if(w->repacked_.begin(), w->repacked_.end(), [&](const Layout& l) { return l.type == layout; });
      if (held == w->repacked_.end()) held = w->repacked_.insert(held, Layout{layout, nullptr, nullptr});
      ctx = &held->ctx;
    }
    if (!*ctx) *ctx = ggml_init(params);
    ggml_tensor* tensor = ggml_new_tensor(*ctx, type, static_cast<int>(e.ne.size()), e.ne.data());
    w->repackedMatrices += layout ? 1 : 0;
    ggml_set_name(tensor, e.name.c_str());
    byName[e.name] = tensor;
  }
  w->buffer_ = ggml_backend_alloc_ctx_tensors(w->ctx_, backend);
  if (!w->buffer_) throw std::runtime_error("cannot allocate the model's weights on the backend");
  for (Layout& l : w->repacked_) {
    l.buffer = ggml_backend_alloc_ctx_tensors_from_buft(l.ctx, l.type);
    if (!l.buffer)
      throw std::runtime_error(std::string("cannot allocate the model's weights in ggml's ") + ggml_backend_buft_name(l.type) + " layout");
    ggml_backend_buffer_set_usage(l.buffer, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
  }
  ggml_backend_buffer_set_usage(w->buffer_, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
  if (records.empty()) ggml_backend_buffer_clear(w->buffer_, 0);
  std::vector<char> data;
  in.clear();
  for (const TensorRecord& r : records) {
    ggml_tensor* tensor = byName.at(r.name);
    data.resize(ggml_row_size(r.type, r.ne[0]) * r.ne[1] * r.ne[2] * r.ne[3]);
    in.seekg(r.offset);
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    if (!in) throw std::runtime_error("model file ends inside tensor " + r.name);
    if (tensor->type != r.type) data = convertF16(data, tensor);  // bf16 or q8_0 from f16
    ggml_backend_tensor_set(tensor, data.data(), 0, data.size());
    w->bytes += data.size();
  }

  auto get = [&](const std::string& name) {
    auto it = byName.find(name);
    if (it == byName.end()) throw std::runtime_error("model file lacks tensor " + name);
    return it->second;
  };
  auto attention = [&](const std::string& prefix, const std::string& ln) {
    return AttentionWeights{get(ln + ".weight"),         get(ln + ".bias"),           get(prefix + ".query.weight"),
                            get(prefix + ".query.bias"), get(prefix + ".key.weight"), get(prefix + ".value.weight"),
                            get(prefix + ".value.bias"), get(prefix + ".out.weight"), get(prefix + ".out.bias")};
  };
  w->encPos = get("encoder.positional_embedding");
  w->conv1W = get("encoder.conv1.weight");
  w->conv1B = get("encoder.conv1.bias");
  w->conv2W = get("encoder.conv2.weight");
  w->conv2B = get("encoder.conv2.bias");
  w->encLnW = get("encoder.ln_post.weight");
  w->encLnB = get("encoder.ln_post.bias");
  for (int i = 0; i < hp.nAudioLayer; i++) {
    const std::string b = format("encoder.blocks.%d", i);
    w->encoder.push_back(EncoderBlock{attention(b + ".attn", b + ".attn_ln"), get(b + ".mlp_ln.weight"), get(b + ".mlp_ln.bias"),
                                      get(b + ".mlp.0.weight"), get(b + ".mlp.0.bias"), get(b + ".mlp.2.weight"), get(b + ".mlp.2.bias")});
  }
  w->decPos = get("decoder.positional_embedding");
  w->tokenEmbedding = get("decoder.token_embedding.weight");
  w->decLnW = get("decoder.ln.weight");
  w->decLnB = get("decoder.ln.bias");
  for (int i = 0; i < hp.nTextLayer; i++) {
    const std::string b = format("decoder.blocks.%d", i);
    w->decoder.push_back(DecoderBlock{attention(b + ".attn", b + ".attn_ln"), attention(b + ".cross_attn", b + ".cross_attn_ln"),
                                      get(b + ".mlp_ln.weight"), get(b + ".mlp_ln.bias"), get(b + ".mlp.0.weight"), get(b + ".mlp.0.bias"),
                                      get(b + ".mlp.2.weight"), get(b + ".mlp.2.bias")});
  }
  return w;
}

}  // namespace wserve
