// whisper.cpp / ggml log lines, from whatever thread prints them, into the TypeScript logger
// (lib/native/log-bridge.ts) through one thread-safe function, so every line has the project's
// format (LOG_FORMAT=json included). Also remembers the first error line since it was cleared,
// so that a failed load can say why (whisper.cpp only returns nullptr).
#pragma once
#include <napi.h>

#include <string>

namespace wserve {

void installLogCallback();
std::string lastNativeError();
void clearLastNativeError();
// setLogger(fn: (level, text) => void | null, minLevel: 1 debug … 4 error)
Napi::Value SetLogger(const Napi::CallbackInfo& info);

}  // namespace wserve
