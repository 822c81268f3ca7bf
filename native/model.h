// The loaded model: one whisper_context (the weights) and a pool of states on it.
// JS sees it as `Model`; native jobs keep the handle alive through a shared_ptr, so dispose()
// while a job runs aborts the job and frees the memory when its last user lets go.
#pragma once
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "engine_spec.h"
#include "state_pool.h"

struct whisper_context;

namespace wserve {

class BatchEngine;

struct ModelHandle {
  // spec: how the batched engine loads the same file when first used.
  ModelHandle(whisper_context* ctx, int poolCapacity, EngineSpec spec);
  ~ModelHandle();
  // The batched engine (its own copy of the weights, on its own backend), created by the first
  // batched job; one job runs on it at a time, holding `engineMutex`. Throws when it cannot load.
  BatchEngine& engine();
  std::mutex engineMutex;

  // Declared before the pool: members are destroyed in reverse, so the states go first.
  struct ContextOwner {
    whisper_context* ctx;
    ~ContextOwner();
  } owner;
  whisper_context* const ctx;
  StatePool pool;
  std::atomic<bool> disposed{false};

 private:
  EngineSpec spec_;
  std::unique_ptr<BatchEngine> engine_;
};

class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports);
  // loadModel(path, { useGpu, gpuDevice, flashAttn, repackWeights, q8Matrices, int8Products, q8CrossCache, bf16Attention, amxEncoder,
  // poolSize }): Promise<Model>
  static Napi::Value Load(const Napi::CallbackInfo& info);

  explicit Model(const Napi::CallbackInfo& info);
  ~Model() override;

  std::shared_ptr<ModelHandle> handle() const { return handle_; }
  void reportExternalMemory(Napi::Env env, int64_t bytes);
  void addExternalMemory(Napi::Env env, int64_t bytes);

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value TranscribeWindows(const Napi::CallbackInfo& info);
  Napi::Value DecodeBatch(const Napi::CallbackInfo& info);
  Napi::Value LoadEngine(const Napi::CallbackInfo& info);
  Napi::Value Vocabulary(const Napi::CallbackInfo& info);
  Napi::Value SpecialTokenIds(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);

  std::shared_ptr<ModelHandle> handle_;
  int64_t externalBytes_ = 0;
  bool engineReported_ = false;
};

}  // namespace wserve
