#include "backends.h"

#include <dlfcn.h>

#include <cstring>
#include <string>

#include "errors.h"

namespace wserve {

namespace {
ggml_backend_reg_t cpuReg() { return ggml_backend_reg_by_name("CPU"); }

template <typename Fn>
Fn cpuProc(const char* name) {
  ggml_backend_reg_t reg = cpuReg();
  return reg ? reinterpret_cast<Fn>(ggml_backend_reg_get_proc_address(reg, name)) : nullptr;
}
}  // namespace

Napi::Value LoadBackends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throwInvalid(env, "loadBackends(dir)");
  if (!cpuReg()) ggml_backend_load_all_from_path(info[0].As<Napi::String>().Utf8Value().c_str());
  if (!cpuReg()) throwInvalid(env, "no CPU backend module in " + info[0].As<Napi::String>().Utf8Value() + " runs on this CPU");
  return env.Undefined();
}

Napi::Value LoadBackend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throwInvalid(env, "loadBackend(path)");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  // ggml's loader logs the dynamic loader's reason and returns null; opened here first, the reason
  // (a missing libcudart.so.13, say) becomes the error's message.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw makeError(env, "NATIVE_ADDON_LOAD_FAILED", dlerror());
  ggml_backend_reg_t reg = ggml_backend_load(path.c_str());
  dlclose(handle);  // ggml holds its own handle
  if (!reg) throw makeError(env, "NATIVE_ADDON_LOAD_FAILED", path + " is not a ggml backend module (or failed to initialise)");
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", ggml_backend_reg_name(reg));
  o.Set("devices", static_cast<double>(ggml_backend_reg_dev_count(reg)));
  return o;
}

std::string backendFile(ggml_backend_reg_t reg) {
  // Any function the backend hands out lives in its file; every backend answers this name.
  void* fn = ggml_backend_reg_get_proc_address(reg, "ggml_backend_get_features");
  Dl_info where;
  if (fn && dladdr(fn, &where) && where.dli_fname) return where.dli_fname;
  return "";
}

ggml_backend_t initCpuBackend() { return ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr); }

bool cpuHasFeature(const char* name) {
  auto getFeatures = cpuProc<ggml_backend_get_features_t>("ggml_backend_get_features");
  if (!getFeatures) return false;
  for (ggml_backend_feature* f = getFeatures(cpuReg()); f->name; ++f) {
    if (std::strcmp(f->name, name) == 0) return std::strcmp(f->value, "0") != 0;
  }
  return false;
}

void setCpuThreads(ggml_backend_t backend, int threads) {
  if (auto fn = cpuProc<ggml_backend_set_n_threads_t>("ggml_backend_set_n_threads")) fn(backend, threads);
}

void setCpuAbortCallback(ggml_backend_t backend, ggml_abort_callback callback, void* data) {
  if (auto fn = cpuProc<ggml_backend_set_abort_callback_t>("ggml_backend_set_abort_callback")) fn(backend, callback, data);
}

}  // namespace wserve
