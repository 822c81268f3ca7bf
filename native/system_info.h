// Process-wide facts: whisper.cpp version and CPU features, ggml backends and devices
// (with free/total memory, which the TypeScript side turns into a default batch size).
#pragma once
#include <napi.h>

namespace wserve {
Napi::Value SystemInfo(const Napi::CallbackInfo& info);
}
