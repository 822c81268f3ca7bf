#include "vad.h"

#include <string>
#include <vector>

#include "errors.h"
#include "log.h"
#include "whisper.h"

namespace wserve {

namespace {

struct Region {
  double start, end;
};

class DetectWorker : public Napi::AsyncWorker {
 public:
  DetectWorker(Napi::Env env, std::shared_ptr<VadHandle> vad, Napi::Float32Array pcm, whisper_vad_params params)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        vad_(std::move(vad)),
        pcmRef_(Napi::Persistent(pcm.As<Napi::Object>())),
        pcm_(pcm.Data()),
        n_(pcm.ElementLength()),
        params_(params) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    std::lock_guard<std::mutex> lock(vad_->mutex);
    if (vad_->ctx == nullptr) return SetError("the VAD model has been disposed");
    whisper_vad_segments* segs = whisper_vad_segments_from_samples(vad_->ctx, params_, pcm_, static_cast<int>(n_));
    if (segs == nullptr) return SetError("voice activity detection failed: " + lastNativeError());
    const int count = whisper_vad_segments_n_segments(segs);
    for (int i = 0; i < count; ++i) {
      // whisper.cpp reports VAD times in centiseconds
      regions_.push_back({whisper_vad_segments_get_segment_t0(segs, i) / 100.0, whisper_vad_segments_get_segment_t1(segs, i) / 100.0});
    }
    whisper_vad_free_segments(segs);
  }

  void OnOK() override {
    Napi::Env env = Env();
    pcmRef_.Reset();
    Napi::Array out = Napi::Array::New(env, regions_.size());
    for (size_t i = 0; i < regions_.size(); ++i) {
      Napi::Object r = Napi::Object::New(env);
      r.Set("start", regions_[i].start);
      r.Set("end", regions_[i].end);
      out.Set(i, r);
    }
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override {
    pcmRef_.Reset();
    deferred_.Reject(makeError(Env(), "VAD_FAILED", e.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<VadHandle> vad_;
  Napi::ObjectReference pcmRef_;
  const float* pcm_;
  size_t n_;
  whisper_vad_params params_;
  std::vector<Region> regions_;
};

}  // namespace

VadHandle::~VadHandle() {
  if (ctx != nullptr) whisper_vad_free(ctx);
}

Napi::Object VadModel::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor =
      DefineClass(env, "VadModel", {InstanceMethod("detect", &VadModel::Detect), InstanceMethod("dispose", &VadModel::Dispose)});
  exports.Set("VadModel", ctor);
  return exports;
}

// new VadModel(path, { threads }) — loading a Silero model (~1 MB) is quick enough to do inline.
VadModel::VadModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VadModel>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throwInvalid(env, "new VadModel(path, options)");
  whisper_vad_context_params cp = whisper_vad_default_context_params();
  cp.use_gpu = false;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Value t = info[1].As<Napi::Object>().Get("threads");
    if (t.IsNumber()) cp.n_threads = std::max(1, t.As<Napi::Number>().Int32Value());
  }
  clearLastNativeError();
  whisper_vad_context* ctx = whisper_vad_init_from_file_with_params(info[0].As<Napi::String>().Utf8Value().c_str(), cp);
  if (ctx == nullptr) {
    std::string why = lastNativeError();
    throw makeError(env, "MODEL_LOAD_FAILED", "could not load the VAD model" + (why.empty() ? std::string() : ": " + why));
  }
  handle_ = std::make_shared<VadHandle>(ctx);
}

Napi::Value VadModel::Detect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!handle_) throw makeError(env, "MODEL_DISPOSED", "the VAD model has been disposed");
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throwInvalid(env, "detect(pcm: Float32Array, params)");
  }
  Napi::Float32Array pcm = info[0].As<Napi::Float32Array>();
  if (pcm.ElementLength() == 0) throw makeError(env, "EMPTY_AUDIO", "pcm holds no samples");
  whisper_vad_params p = whisper_vad_default_params();
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    auto num = [&](const char* k, double d) {
      Napi::Value v = o.Get(k);
      if (v.IsUndefined()) return d;
      if (!v.IsNumber()) throwInvalid(env, std::string(k) + " must be a number");
      return v.As<Napi::Number>().DoubleValue();
    };
    p.threshold = static_cast<float>(num("threshold", p.threshold));
    p.min_speech_duration_ms = static_cast<int>(num("minSpeechMs", p.min_speech_duration_ms));
    p.min_silence_duration_ms = static_cast<int>(num("minSilenceMs", p.min_silence_duration_ms));
    p.max_speech_duration_s = static_cast<float>(num("maxSpeechSeconds", p.max_speech_duration_s));
    p.speech_pad_ms = static_cast<int>(num("speechPadMs", p.speech_pad_ms));
    p.samples_overlap = static_cast<float>(num("samplesOverlap", p.samples_overlap));
  }
  auto* worker = new DetectWorker(env, handle_, pcm, p);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value VadModel::Dispose(const Napi::CallbackInfo& info) {
  handle_.reset();
  return info.Env().Undefined();
}

}  // namespace wserve
