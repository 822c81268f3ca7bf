#include "system_info.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "backends.h"
#include "ggml-backend.h"
#include "whisper.h"

#ifdef WHISPER_SERVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace wserve {

namespace {
const char* deviceTypeName(enum ggml_backend_dev_type t) {
  switch (t) {
    case GGML_BACKEND_DEVICE_TYPE_CPU:
      return "cpu";
    case GGML_BACKEND_DEVICE_TYPE_GPU:
      return "gpu";
    case GGML_BACKEND_DEVICE_TYPE_ACCEL:
      return "accel";
    default:
      return "other";
  }
}
}  // namespace

Napi::Value SystemInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("whisperVersion", whisper_version());
  o.Set("features", whisper_print_system_info());
#ifdef WHISPER_SERVE_CUDA
  o.Set("cudaBuild", true);
  // Why there is no CUDA device, in the runtime's words (no driver, driver too old, no device),
  // for the CUDA_NOT_AVAILABLE message; versions as the runtime encodes them (13000 = 13.0, 0 = none).
  Napi::Object cuda = Napi::Object::New(env);
  int count = 0, driverVersion = 0, runtimeVersion = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  cudaDriverGetVersion(&driverVersion);
  cudaRuntimeGetVersion(&runtimeVersion);
  cuda.Set("deviceCount", err == cudaSuccess ? count : 0);
  if (err != cudaSuccess) cuda.Set("error", cudaGetErrorString(err));
  cuda.Set("driverVersion", driverVersion);
  cuda.Set("runtimeVersion", runtimeVersion);
  o.Set("cuda", cuda);
#else
  // A prebuild has CUDA once its CUDA variant is loaded (lib/native/variants.ts).
  o.Set("cudaBuild", ggml_backend_reg_by_name("CUDA") != nullptr);
#endif
  Napi::Array backends = Napi::Array::New(env);
  for (size_t i = 0; i < ggml_backend_reg_count(); ++i) {
    ggml_backend_reg_t reg = ggml_backend_reg_get(i);
    Napi::Object b = Napi::Object::New(env);
    b.Set("name", ggml_backend_reg_name(reg));
    b.Set("file", backendFile(reg));
    backends.Set(i, b);
  }
  o.Set("backends", backends);
  Napi::Array devices = Napi::Array::New(env);
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    size_t freeBytes = 0, totalBytes = 0;
    ggml_backend_dev_memory(dev, &freeBytes, &totalBytes);
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", ggml_backend_dev_name(dev));
    d.Set("description", ggml_backend_dev_description(dev));
    d.Set("type", deviceTypeName(ggml_backend_dev_type(dev)));
    d.Set("freeBytes", static_cast<double>(freeBytes));
    d.Set("totalBytes", static_cast<double>(totalBytes));
#ifdef WHISPER_SERVE_CUDA
    // ggml names CUDA devices CUDA0, CUDA1, …; ggml's device API has no compute capability.
    const char* name = ggml_backend_dev_name(dev);
    cudaDeviceProp prop;
    if (std::strncmp(name, "CUDA", 4) == 0 && cudaGetDeviceProperties(&prop, std::atoi(name + 4)) == cudaSuccess) {
      d.Set("computeCapability", std::to_string(prop.major) + "." + std::to_string(prop.minor));
    }
#endif
    devices.Set(i, d);
  }
  o.Set("devices", devices);
  return o;
}

}  // namespace wserve
