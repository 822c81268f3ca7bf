// Gives freed heap memory back to the operating system (lib/memory.ts calls it when a job ends).
#pragma once
#include <napi.h>

namespace wserve {

// trimMemory(): true when the C library released anything.
Napi::Value TrimMemory(const Napi::CallbackInfo& info);

}  // namespace wserve
