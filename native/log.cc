#include "log.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>

#include "errors.h"
#include "whisper.h"

namespace wserve {

namespace {
// ggml_log_level: NONE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4, CONT=5. Lines below the minimum are
// dropped here, before they cross threads.
std::atomic<int> g_minLevel{GGML_LOG_LEVEL_ERROR};
std::mutex g_lastErrorMutex;
std::string g_lastError;
thread_local int t_lastLevel = GGML_LOG_LEVEL_NONE;  // what a CONT piece continues, per printing thread

// The JS logger; empty until setLogger (then errors alone go to stderr, as ggml's default).
std::mutex g_sinkMutex;
std::optional<Napi::ThreadSafeFunction> g_sink;

struct LogLine {
  int level;
  std::string text;
};

// ggml reports a CUDA build without a driver or device as an error at its first use; that is
// the normal CPU fallback, which lib/device.ts logs once with the runtime's reason and what to
// check. Kept at debug, it neither prints by default nor becomes the "last error" of a model load.
bool isCudaFallbackNotice(const char* text) {
  return text != nullptr && std::strncmp(text, "ggml_cuda_init: failed to initialize", 36) == 0;
}

void onLog(ggml_log_level level, const char* text, void*) {
  if (text == nullptr) return;
  if (level == GGML_LOG_LEVEL_ERROR && isCudaFallbackNotice(text)) level = GGML_LOG_LEVEL_DEBUG;
  const int effective = level == GGML_LOG_LEVEL_CONT ? t_lastLevel : level;
  if (level != GGML_LOG_LEVEL_CONT) t_lastLevel = level;
  if (effective == GGML_LOG_LEVEL_ERROR) {
    std::lock_guard<std::mutex> lock(g_lastErrorMutex);
    if (g_lastError.empty()) {  // the first error says why; later ones only say "failed"
      g_lastError = text;
      while (!g_lastError.empty() && (g_lastError.back() == '\n' || g_lastError.back() == ' ')) g_lastError.pop_back();
    }
  }
  if (effective < g_minLevel.load()) return;
  std::lock_guard<std::mutex> lock(g_sinkMutex);
  if (!g_sink) {
    fputs(text, stderr);
    return;
  }
  auto* line = new LogLine{effective, text};
  napi_status status = g_sink->NonBlockingCall(line, [](Napi::Env env, Napi::Function fn, LogLine* l) {
    fn.Call({Napi::Number::New(env, l->level), Napi::String::New(env, l->text)});
    delete l;
  });
  if (status != napi_ok) delete line;  // the queue is closing: the line is lost, not the process
}

void releaseSink() {
  std::lock_guard<std::mutex> lock(g_sinkMutex);
  if (g_sink) g_sink->Release();
  g_sink.reset();
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

Napi::Value SetLogger(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !(info[0].IsFunction() || info[0].IsNull())) throwInvalid(env, "setLogger(fn: function | null, minLevel)");
  releaseSink();
  if (info.Length() > 1 && info[1].IsNumber()) {
    int level = info[1].As<Napi::Number>().Int32Value();
    if (level >= GGML_LOG_LEVEL_DEBUG && level <= GGML_LOG_LEVEL_ERROR) g_minLevel = level;
  }
  if (info.Length() > 0 && info[0].IsFunction()) {
    auto tsfn = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "whisper-serve log", 0, 1);
    tsfn.Unref(env);  // logging never keeps the process alive
    std::lock_guard<std::mutex> lock(g_sinkMutex);
    g_sink = tsfn;
    // The env that owns the function may end first (a worker thread): stop using it then.
    env.AddCleanupHook([] { releaseSink(); });
  }
  return env.Undefined();
}

}  // namespace wserve
