// Module entry: registers the native surface declared in lib/native/binding.ts.
#include <napi.h>

#include "backends.h"
#include "log.h"
#include "memory.h"
#include "model.h"
#include "quantize.h"
#include "system_info.h"
#include "vad.h"

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  wserve::installLogCallback();
  wserve::Model::Init(env, exports);
  wserve::VadModel::Init(env, exports);
  exports.Set("loadBackends", Napi::Function::New(env, wserve::LoadBackends, "loadBackends"));
  exports.Set("loadBackend", Napi::Function::New(env, wserve::LoadBackend, "loadBackend"));
  exports.Set("systemInfo", Napi::Function::New(env, wserve::SystemInfo, "systemInfo"));
  exports.Set("quantize", Napi::Function::New(env, wserve::Quantize, "quantize"));
  exports.Set("setLogger", Napi::Function::New(env, wserve::SetLogger, "setLogger"));
  exports.Set("trimMemory", Napi::Function::New(env, wserve::TrimMemory, "trimMemory"));
  return exports;
}
}  // namespace

NODE_API_MODULE(whisper_serve, Init)
