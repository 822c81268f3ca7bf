// One call of Model.decodeBatch: windows of PCM (each at most 30 s, each with its temperature
// and seed) through the batched engine, tokens and their log-probabilities back. Runs on its own
// thread; each finished request's result goes to a JS callback (ThreadSafeFunction), which may
// answer with follow-up requests that join the batch in flight; an Int32Array flag from JS (or
// dispose) aborts. What counts as a failed window, and retries, are TypeScript's.
#pragma once
#include <napi.h>

#include <memory>

#include "model.h"

namespace wserve {

namespace BatchJob {
// decodeBatch(pcm: Float32Array, requests: {start, end, temperature, seed, endNotBefore}[], params,
//             onResult?: (index, result) => requests[] | undefined, abortFlag?: Int32Array): Promise<BatchResult>
// A follow-up's index is its place after every request before it, given or answered.
Napi::Value Start(const Napi::CallbackInfo& info, std::shared_ptr<ModelHandle> model);
}  // namespace BatchJob

}  // namespace wserve
