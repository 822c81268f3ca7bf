// ggml's backends as loadable modules. A prebuild ships the CPU backend once per instruction set
// (ggml's GGML_CPU_ALL_VARIANTS: x64 … haswell … zen4) and, as a separate variant, the CUDA
// backend: ggml picks the best CPU module this machine runs, TypeScript decides whether to load
// the GPU one. A local build has its backends linked in; there the loaders change nothing.
// The CPU backend's own calls go through the registry, since a prebuilt addon cannot link them.
#pragma once
#include <napi.h>

#include <string>

#include "ggml-backend.h"

namespace wserve {
// loadBackends(dir): the backend modules in dir (the best CPU variant), unless the CPU backend is
// already registered. loadBackend(path): one module, or an Error with the loader's reason.
Napi::Value LoadBackends(const Napi::CallbackInfo& info);
Napi::Value LoadBackend(const Napi::CallbackInfo& info);

// The file a registered backend's code lives in (a module, or the addon itself when linked in).
std::string backendFile(ggml_backend_reg_t reg);

ggml_backend_t initCpuBackend();
bool cpuHasFeature(const char* name);
void setCpuThreads(ggml_backend_t backend, int threads);
void setCpuAbortCallback(ggml_backend_t backend, ggml_abort_callback callback, void* data);
}  // namespace wserve
