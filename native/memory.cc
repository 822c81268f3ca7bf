#include "memory.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace wserve {

// A decode streams its PCM through thousands of 64 KB pipe buffers; freed, they stay in glibc's
// arenas, so a server that decoded an hour of audio would keep its resident size from then on.
Napi::Value TrimMemory(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

}  // namespace wserve
