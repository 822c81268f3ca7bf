// Routes whisper.cpp / ggml log lines to stderr above a level, and remembers the last error
// line so that a failed load can say why (whisper.cpp only returns nullptr).
#pragma once
#include <napi.h>
#include <string>

namespace wserve {

void installLogCallback();
std::string lastNativeError();
void clearLastNativeError();
Napi::Value SetLogLevel(const Napi::CallbackInfo& info);

}  // namespace wserve
