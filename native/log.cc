#include "log.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "whisper.h"

namespace wserve {

namespace {
// ggml_log_level: NONE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4, CONT=5. Default: only errors.
std::atomic<int> g_minLevel{GGML_LOG_LEVEL_ERROR};
std::mutex g_lastErrorMutex;
std::string g_lastError;
int g_lastLevel = GGML_LOG_LEVEL_NONE;

// ggml reports a CUDA build without a driver or device as an error at its first use; that is
// the normal CPU fallback, which lib/device.ts logs once with the runtime's reason and what to
// check. Kept at debug, it neither prints by default nor becomes the "last error" of a model load.
bool isCudaFallbackNotice(const char* text) {
  return text != nullptr && std::strncmp(text, "ggml_cuda_init: failed to initialize", 36) == 0;
}

void onLog(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_ERROR && isCudaFallbackNotice(text)) level = GGML_LOG_LEVEL_DEBUG;
  int effective = level == GGML_LOG_LEVEL_CONT ? g_lastLevel : level;
  if (level != GGML_LOG_LEVEL_CONT) g_lastLevel = level;
  if (effective == GGML_LOG_LEVEL_ERROR && text != nullptr) {
    std::lock_guard<std::mutex> lock(g_lastErrorMutex);
    if (!g_lastError.empty()) return;  // the first error says why; later ones only say "failed"
    g_lastError = text;
    while (!g_lastError.empty() && (g_lastError.back() == '\n' || g_lastError.back() == ' ')) g_lastError.pop_back();
  }
  int min = g_minLevel.load();
  if (min != GGML_LOG_LEVEL_NONE && effective >= min && text != nullptr) {
    fputs(text, stderr);
  }
}
}  // namespace

void installLogCallback() { whisper_log_set(onLog, nullptr); }

// The first error line since the last clearLastNativeError().
std::string lastNativeError() {
  std::lock_guard<std::mutex> lock(g_lastErrorMutex);
  return g_lastError;
}

void clearLastNativeError() {
  std::lock_guard<std::mutex> lock(g_lastErrorMutex);
  g_lastError.clear();
}

// setLogLevel(level: 0 none | 1 debug | 2 info | 3 warn | 4 error)
Napi::Value SetLogLevel(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsNumber()) {
    int level = info[0].As<Napi::Number>().Int32Value();
    if (level >= GGML_LOG_LEVEL_NONE && level <= GGML_LOG_LEVEL_ERROR) g_minLevel = level;
  }
  return info.Env().Undefined();
}

}  // namespace wserve
