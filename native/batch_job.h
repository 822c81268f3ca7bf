// One call of Model.decodeBatch: windows of PCM (each at most 30 s, each with its temperature
// and seed) through the batched engine, tokens and their log-probabilities back. Runs on its own
// thread; each finished window is reported through a ThreadSafeFunction; an Int32Array flag
// from JS (or dispose) aborts. What counts as a failed window, and retries, are TypeScript's.
#pragma once
#include <napi.h>

#include <memory>

#include "model.h"

namespace wserve {

namespace BatchJob {
// decodeBatch(pcm: Float32Array, requests: {start, end, temperature, seed}[], params,
//             onWindowDone?: (index) => void, abortFlag?: Int32Array): Promise<BatchResult>
Napi::Value Start(const Napi::CallbackInfo& info, std::shared_ptr<ModelHandle> model);
}  // namespace BatchJob

}  // namespace wserve
