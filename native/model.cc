#include "model.h"

#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

#include "batch_engine.h"
#include "batch_job.h"
#include "errors.h"
#include "js_options.h"
#include "log.h"
#include "transcribe_job.h"
#include "whisper.h"

namespace wserve {

namespace {

// The Model constructor of this env (each worker thread that loads the addon has its own).
struct ModelClass {
  Napi::FunctionReference ctor;
};

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, whisper_context_params params, EngineSpec spec, int poolSize)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        params_(params),
        spec_(std::move(spec)),
        poolSize_(poolSize) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    clearLastNativeError();
    ctx_ = whisper_init_from_file_with_params_no_state(spec_.path.c_str(), params_);
    std::error_code ec;
    const auto size = std::filesystem::file_size(spec_.path, ec);
    bytes_ = ec ? 0 : static_cast<int64_t>(size);
    if (ctx_ == nullptr) {
      std::string why = lastNativeError();
      SetError(why.empty() ? "whisper.cpp could not load the model" : why);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    auto* handle = new std::shared_ptr<ModelHandle>(std::make_shared<ModelHandle>(ctx_, poolSize_, spec_));
    ctx_ = nullptr;
    Napi::Object model = env.GetInstanceData<ModelClass>()->ctor.New({Napi::External<std::shared_ptr<ModelHandle>>::New(env, handle)});
    delete handle;
    Model::Unwrap(model)->reportExternalMemory(env, bytes_);
    deferred_.Resolve(model);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(makeError(Env(), "MODEL_LOAD_FAILED", e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  whisper_context_params params_;
  EngineSpec spec_;
  int poolSize_;
  whisper_context* ctx_ = nullptr;
  int64_t bytes_ = 0;
};

// Loads the batched engine's weights off the main thread (a model's cold start includes them).
class EngineLoadWorker : public Napi::AsyncWorker {
 public:
  EngineLoadWorker(Napi::Env env, std::shared_ptr<ModelHandle> handle, Napi::Object model)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), handle_(std::move(handle)), model_(Napi::Persistent(model)) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      std::lock_guard<std::mutex> lock(handle_->engineMutex);
      BatchEngine& engine = handle_->engine();
      backend_ = engine.backendName();
      attention_ = engine.attention();
      bytes_ = static_cast<double>(engine.weightBytes());
      repacked_ = engine.weights().repackedMatrices;
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  void OnOK() override {
    // The engine's own copy of the weights counts toward what V8 is told the model holds.
    Model::Unwrap(model_.Value())->addExternalMemory(Env(), static_cast<int64_t>(bytes_));
    Napi::Object o = Napi::Object::New(Env());
    o.Set("backend", backend_);
    o.Set("attention", attention_);
    o.Set("weightBytes", bytes_);
    o.Set("repackedMatrices", repacked_);
    deferred_.Resolve(o);
    handle_.reset();
  }

  void OnError(const Napi::Error& e) override {
    deferred_.Reject(makeError(Env(), "MODEL_LOAD_FAILED", "the batched engine could not load the model: " + e.Message()).Value());
    handle_.reset();
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<ModelHandle> handle_;
  Napi::ObjectReference model_;  // keeps the JS model alive until the load settles
  std::string backend_;
  std::string attention_;
  double bytes_ = 0;
  int repacked_ = 0;
};

}  // namespace

ModelHandle::ModelHandle(whisper_context* c, int poolCapacity, EngineSpec spec)
    : owner{c}, ctx(c), pool(c, poolCapacity), spec_(std::move(spec)) {}

ModelHandle::~ModelHandle() { pool.close(); }

BatchEngine& ModelHandle::engine() {
  if (!engine_) engine_ = std::make_unique<BatchEngine>(spec_);
  return *engine_;
}

ModelHandle::ContextOwner::~ContextOwner() { whisper_free(ctx); }

Napi::Object Model::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Model",
                                    {
                                        InstanceMethod("info", &Model::Info),
                                        InstanceMethod("transcribeWindows", &Model::TranscribeWindows),
                                        InstanceMethod("decodeBatch", &Model::DecodeBatch),
                                        InstanceMethod("loadEngine", &Model::LoadEngine),
                                        InstanceMethod("vocabulary", &Model::Vocabulary),
                                        InstanceMethod("specialTokens", &Model::SpecialTokenIds),
                                        InstanceMethod("dispose", &Model::Dispose),
                                        InstanceAccessor("disposed", &Model::IsDisposed, nullptr),
                                    });
  env.SetInstanceData<ModelClass>(new ModelClass{Napi::Persistent(ctor)});
  exports.Set("Model", ctor);
  exports.Set("loadModel", Napi::Function::New(env, &Model::Load, "loadModel"));
  return exports;
}

Napi::Value Model::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throwInvalid(env, "loadModel(path, options): path must be a string");
  Napi::Object opts = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  whisper_context_params params = whisper_context_default_params();
  params.use_gpu = boolField(env, opts, "useGpu");
  params.gpu_device = intField(env, opts, "gpuDevice", 0, 64);
  params.flash_attn = boolField(env, opts, "flashAttn");
  EngineSpec spec{info[0].As<Napi::String>().Utf8Value(),
                  params.use_gpu,
                  params.gpu_device,
                  params.flash_attn,
                  boolField(env, opts, "repackWeights"),
                  boolField(env, opts, "q8Matrices"),
                  boolField(env, opts, "int8Products"),
                  boolField(env, opts, "q8CrossCache"),
                  boolField(env, opts, "bf16CrossCache"),
                  boolField(env, opts, "bf16Attention"),
                  boolField(env, opts, "amxEncoder")};
  const int poolSize = intField(env, opts, "poolSize", 1, 4096);
  auto* worker = new LoadWorker(env, params, std::move(spec), poolSize);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Model::Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {
  if (info.Length() < 1 || !info[0].IsExternal()) {
    throwInvalid(info.Env(), "Model cannot be constructed directly: use loadModel()");
  }
  handle_ = *info[0].As<Napi::External<std::shared_ptr<ModelHandle>>>().Data();
}

Model::~Model() {
  if (handle_) handle_->disposed = true;
  if (externalBytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(Env(), -externalBytes_);
}

// The weights live outside V8's heap: say how big they are, so that its GC weighs a Model right
// (node-llama-cpp does the same); taken back when the model is disposed or collected.
void Model::reportExternalMemory(Napi::Env env, int64_t bytes) {
  externalBytes_ = bytes;
  if (bytes != 0) Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
}

// Once per engine load (repeat loads find it loaded and add nothing).
void Model::addExternalMemory(Napi::Env env, int64_t bytes) {
  if (engineReported_ || bytes == 0 || !handle_) return;
  engineReported_ = true;
  externalBytes_ += bytes;
  Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
}

Napi::Value Model::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!handle_) throw makeError(env, "MODEL_DISPOSED", "the model has been disposed");
  whisper_context* ctx = handle_->ctx;
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", whisper_model_type_readable(ctx));
  o.Set("nVocab", whisper_model_n_vocab(ctx));
  o.Set("nAudioCtx", whisper_model_n_audio_ctx(ctx));
  o.Set("nAudioState", whisper_model_n_audio_state(ctx));
  o.Set("nAudioHead", whisper_model_n_audio_head(ctx));
  o.Set("nAudioLayer", whisper_model_n_audio_layer(ctx));
  o.Set("nTextCtx", whisper_model_n_text_ctx(ctx));
  o.Set("nTextState", whisper_model_n_text_state(ctx));
  o.Set("nTextHead", whisper_model_n_text_head(ctx));
  o.Set("nTextLayer", whisper_model_n_text_layer(ctx));
  o.Set("nMels", whisper_model_n_mels(ctx));
  o.Set("ftype", whisper_model_ftype(ctx));
  o.Set("multilingual", whisper_is_multilingual(ctx) != 0);
  o.Set("poolSize", handle_->pool.capacity());
  o.Set("statesCreated", handle_->pool.created());
  o.Set("externalBytes", static_cast<double>(externalBytes_));
  return o;
}

Napi::Value Model::TranscribeWindows(const Napi::CallbackInfo& info) {
  if (!handle_) throw makeError(info.Env(), "MODEL_DISPOSED", "the model has been disposed");
  return TranscribeJob::Start(info, handle_);
}

Napi::Value Model::LoadEngine(const Napi::CallbackInfo& info) {
  if (!handle_) throw makeError(info.Env(), "MODEL_DISPOSED", "the model has been disposed");
  auto* worker = new EngineLoadWorker(info.Env(), handle_, info.This().As<Napi::Object>());
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value Model::DecodeBatch(const Napi::CallbackInfo& info) {
  if (!handle_) throw makeError(info.Env(), "MODEL_DISPOSED", "the model has been disposed");
  return BatchJob::Start(info, handle_);
}

// Token id → its bytes (a token can hold part of a UTF-8 character), and the special ids the
// batched engine's output is read with.
Napi::Value Model::Vocabulary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!handle_) throw makeError(env, "MODEL_DISPOSED", "the model has been disposed");
  whisper_context* ctx = handle_->ctx;
  const int eot = whisper_token_eot(ctx);
  Napi::Array tokens = Napi::Array::New(env, eot);
  for (int id = 0; id < eot; id++) {
    const char* text = whisper_token_to_str(ctx, id);
    tokens.Set(id, Napi::Buffer<char>::Copy(env, text, std::strlen(text)));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("tokens", tokens);
  o.Set("eot", eot);
  o.Set("timestampBegin", whisper_token_beg(ctx));
  return o;
}

// The special token ids whisper.cpp's decoder uses and those the batched engine derives, side by
// side: test/languages.test.ts checks both against the strings in the model file's vocabulary.
Napi::Value Model::SpecialTokenIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!handle_) throw makeError(env, "MODEL_DISPOSED", "the model has been disposed");
  whisper_context* ctx = handle_->ctx;
  const auto ids = [&](int eot, int sot, int translate, int transcribe, int solm, int prev, int nosp, int noTimestamps, int beg,
                       int firstLanguage) {
    Napi::Object o = Napi::Object::New(env);
    const std::pair<const char*, int> named[] = {
        {"eot", eot},   {"sot", sot},   {"translate", translate},       {"transcribe", transcribe}, {"solm", solm},
        {"prev", prev}, {"nosp", nosp}, {"noTimestamps", noTimestamps}, {"timestampBegin", beg},    {"firstLanguage", firstLanguage}};
    for (const auto& [key, id] : named) o.Set(key, id);
    return o;
  };
  Napi::Object o = Napi::Object::New(env);
  o.Set("whisper", ids(whisper_token_eot(ctx), whisper_token_sot(ctx), whisper_token_translate(ctx), whisper_token_transcribe(ctx),
                       whisper_token_solm(ctx), whisper_token_prev(ctx), whisper_token_nosp(ctx), whisper_token_not(ctx),
                       whisper_token_beg(ctx), whisper_token_lang(ctx, 0)));
  const SpecialTokens t = SpecialTokens::forVocabulary(whisper_model_n_vocab(ctx));
  o.Set("engine", ids(t.eot, t.sot, t.translate, t.transcribe, t.solm, t.prev, t.nosp, t.noTimestamps, t.timestampBegin, t.language(0)));
  o.Set("languages", whisper_is_multilingual(ctx) ? t.nLanguages : 0);
  return o;
}

Napi::Value Model::Dispose(const Napi::CallbackInfo& info) {
  if (handle_) {
    handle_->disposed = true;
    handle_->pool.close();
    handle_.reset();  // running jobs hold their own reference; memory goes with the last one
  }
  if (externalBytes_ != 0) {
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -externalBytes_);
    externalBytes_ = 0;
  }
  return info.Env().Undefined();
}

Napi::Value Model::IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !handle_); }

}  // namespace wserve
