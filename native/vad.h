// Silero voice-activity detection through whisper.cpp's VAD: PCM in, speech regions out.
// Which regions become which windows is decided in TypeScript (lib/vad.ts).
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>

struct whisper_vad_context;

namespace wserve {

struct VadHandle {
  explicit VadHandle(whisper_vad_context* c) : ctx(c) {}
  ~VadHandle();
  whisper_vad_context* ctx;
  std::mutex mutex;  // one VAD context runs one detection at a time
};

class VadModel : public Napi::ObjectWrap<VadModel> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports);
  explicit VadModel(const Napi::CallbackInfo& info);

 private:
  // detect(pcm: Float32Array, params): Promise<{start: number, end: number}[]> (seconds)
  Napi::Value Detect(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  std::shared_ptr<VadHandle> handle_;
};

}  // namespace wserve
