#include "batch_job.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "batch_engine.h"
#include "errors.h"
#include "js_options.h"
#include "whisper.h"

namespace wserve {

namespace {

constexpr int64_t kMaxWindowSamples = 30 * 16000;

// Every field comes from JS (lib/decode-options.ts holds the defaults).
struct BatchParams {
  int threads;
  int slots;
  int encoderWindows;
  std::string language;  // or "auto"
  bool translate;
  std::string initialPrompt;
  bool suppressBlank;
  bool suppressNonSpeech;
  std::string suppressRegex;
  bool withoutTimestamps;
  int maxTokensPerSegment;
  bool reuseEncodings;
  int recording;
  bool profile;
};

BatchParams parseParams(Napi::Env env, const Napi::Object& o) {
  BatchParams p;
  p.threads = intField(env, o, "threads", 1, 512);
  p.slots = intField(env, o, "slots", 1, 4096);
  p.encoderWindows = intField(env, o, "encoderWindows", 1, 4096);
  p.language = languageField(env, o, "language");
  p.translate = boolField(env, o, "translate");
  p.initialPrompt = stringField(env, o, "initialPrompt");
  p.suppressBlank = boolField(env, o, "suppressBlank");
  p.suppressNonSpeech = boolField(env, o, "suppressNonSpeech");
  p.suppressRegex = regexField(env, o, "suppressRegex");
  p.withoutTimestamps = boolField(env, o, "withoutTimestamps");
  p.maxTokensPerSegment = intField(env, o, "maxTokensPerSegment", 0, 448);
  p.reuseEncodings = boolField(env, o, "reuseEncodings");
  p.recording = intField(env, o, "recording", 0, 2147483647);
  p.profile = boolField(env, o, "profile");
  return p;
}

Napi::Object resultObject(Napi::Env env, const DecodeResult& r) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Int32Array tokens = Napi::Int32Array::New(env, r.tokens.size());
  std::copy(r.tokens.begin(), r.tokens.end(), tokens.Data());
  Napi::Float32Array logprobs = Napi::Float32Array::New(env, r.logprobs.size());
  std::copy(r.logprobs.begin(), r.logprobs.end(), logprobs.Data());
  o.Set("tokens", tokens);
  o.Set("logprobs", logprobs);
  o.Set("endLogprob", r.endLogprob);
  o.Set("noSpeechProb", r.noSpeechProb);
  o.Set("language", r.language >= 0 ? whisper_lang_str(r.language) : "en");
  o.Set("languageProbability", r.languageProbability);
  o.Set("detectedLanguage", r.detected >= 0 ? whisper_lang_str(r.detected) : "en");
  o.Set("detectedProbability", r.detected >= 0 ? r.detectedProbability : 1.0f);
  o.Set("looped", r.looped);
  return o;
}

struct Job {
  std::shared_ptr<ModelHandle> model;
  BatchParams params;
  const float* pcm = nullptr;
  int64_t samples = 0;
  std::vector<DecodeRequest> requests;
  bool answers = false;  // a callback was given: each result goes to it, and may be answered
  // Follow-ups: what the JS callback answered finished requests with, for the engine to take.
  std::mutex followMutex;
  std::condition_variable followAnswered;
  std::vector<DecodeRequest> followUps;
  size_t owed = 0;  // results sent to JS whose answer has not come back
  std::atomic<bool> callbackFailed{false};
  std::string callbackError;
  int32_t* abortFlag = nullptr;
  Napi::ObjectReference pcmRef, abortRef;
  std::optional<Napi::Promise::Deferred> deferred;
  Napi::ThreadSafeFunction tsfn;
  std::vector<DecodeResult> results;
  std::string backend;
  int slotsUsed = 0;
  EngineTimings timings;
  std::map<std::string, OpCost> profile;
  std::string errorCode, errorMessage;

  bool aborted() const {
    return callbackFailed.load() || model->disposed.load() || (abortFlag != nullptr && __atomic_load_n(abortFlag, __ATOMIC_RELAXED) != 0);
  }

  // An array of {start, end, temperature, seed, endNotBefore} inside this job's PCM.
  std::vector<DecodeRequest> parseRequests(Napi::Env env, Napi::Value value, const std::string& name) const {
    if (!value.IsArray()) throwInvalid(env, name + " must be an array");
    Napi::Array requests = value.As<Napi::Array>();
    std::vector<DecodeRequest> out;
    for (uint32_t i = 0; i < requests.Length(); i++) {
      const std::string where = name + "[" + std::to_string(i) + "]";
      Napi::Value v = requests.Get(i);
      if (!v.IsObject()) throwInvalid(env, where + " must be {start, end, temperature, seed, endNotBefore}");
      Napi::Object r = v.As<Napi::Object>();
      // Sample offsets pass 2^24 after 17 min: read as 64-bit integers, not as floats.
      const int64_t start = requiredField(env, r, "start", &Napi::Value::IsNumber, "a number").As<Napi::Number>().Int64Value();
      const int64_t end = requiredField(env, r, "end", &Napi::Value::IsNumber, "a number").As<Napi::Number>().Int64Value();
      if (start < 0 || end <= start || end > samples || end - start > kMaxWindowSamples) {
        throwInvalid(env, where + " must lie inside the audio and span at most 30 s");
      }
      const float temperature = numberField(env, r, "temperature");
      if (!(temperature >= 0 && temperature <= 10)) throwInvalid(env, where + ".temperature must be between 0 and 10");
      const uint32_t seed = requiredField(env, r, "seed", &Napi::Value::IsNumber, "a number").As<Napi::Number>().Uint32Value();
      const int endNotBefore = requiredField(env, r, "endNotBefore", &Napi::Value::IsNumber, "a number").As<Napi::Number>().Int32Value();
      out.push_back(DecodeRequest{pcm + start, static_cast<int>(end - start), temperature, seed, endNotBefore});
    }
    return out;
  }

  // Engine thread: a finished request goes to the JS callback, whose answer (follow-up requests,
  // or nothing) comes back through followUps. A callback that throws, or answers with bad
  // requests, fails the job.
  void sendResult(size_t index, const DecodeResult& result) {
    {
      std::lock_guard<std::mutex> lock(followMutex);
      owed++;
    }
    auto answered = [this](std::vector<DecodeRequest> more) {
      std::lock_guard<std::mutex> lock(followMutex);
      followUps.insert(followUps.end(), more.begin(), more.end());
      owed--;
      followAnswered.notify_all();
    };
    const napi_status status = tsfn.NonBlockingCall([this, index, result, answered](Napi::Env env, Napi::Function cb) {
      std::vector<DecodeRequest> more;
      if (env != nullptr && !callbackFailed.load()) {
        try {
          Napi::Value answer = cb.Call({Napi::Number::New(env, static_cast<double>(index)), resultObject(env, result)});
          if (!answer.IsUndefined() && !answer.IsNull()) more = parseRequests(env, answer, "the follow-up requests");
        } catch (const Napi::Error& e) {
          callbackError = e.Message();  // main thread, as settle's read
          callbackFailed = true;
        }
      }
      answered(std::move(more));
    });
    if (status != napi_ok) answered({});  // the environment is going away: no answer will come
  }

  // Engine thread: the answers so far; with `wait`, after the next one (polling the abort flag).
  bool takeFollowUps(std::vector<DecodeRequest>& into, bool wait) {
    std::unique_lock<std::mutex> lock(followMutex);
    while (wait && followUps.empty() && owed > 0 && !aborted()) followAnswered.wait_for(lock, std::chrono::milliseconds(20));
    into.insert(into.end(), followUps.begin(), followUps.end());
    followUps.clear();
    return owed > 0;
  }

  void run() {
    try {
      std::lock_guard<std::mutex> lock(model->engineMutex);
      BatchEngine& engine = model->engine();
      backend = engine.backendName();
      const WhisperWeights& w = engine.weights();
      EngineRun run;
      run.requests = requests;
      run.rules = DecodeRules::make(w, params.suppressBlank, params.suppressNonSpeech, params.suppressRegex, params.withoutTimestamps,
                                    params.maxTokensPerSegment);
      run.language = params.language == "auto" ? -1 : whisper_lang_id(params.language.c_str());
      if (!w.tokens.multilingual) run.language = -1;
      if (run.language >= w.tokens.nLanguages) {
        // Cantonese before large-v3: its index would land on a special token.
        errorCode = "INVALID_ARGUMENT";
        errorMessage = "this model has no token for language " + params.language;
        return;
      }
      run.translate = params.translate;
      if (!params.initialPrompt.empty()) {
        // whisper_tokenize answers -needed when the buffer is short: size it and keep the tail, as
        // whisper does (the engine takes at most half the context; TypeScript bounds the text).
        std::vector<whisper_token> tokens(w.hp.nTextCtx);
        int n = whisper_tokenize(model->ctx, params.initialPrompt.c_str(), tokens.data(), static_cast<int>(tokens.size()));
        if (n < 0) {
          tokens.resize(static_cast<size_t>(-n));
          n = whisper_tokenize(model->ctx, params.initialPrompt.c_str(), tokens.data(), static_cast<int>(tokens.size()));
        }
        if (n < 0) throw std::runtime_error("the initial prompt could not be tokenised");
        run.promptTokens.assign(tokens.begin(), tokens.begin() + n);
      }
      run.threads = params.threads;
      run.encoderWindows = params.encoderWindows;
      run.reuseEncodings = params.reuseEncodings;
      run.recording = static_cast<uint32_t>(params.recording);
      run.profile = params.profile;
      run.aborted = [this] { return aborted(); };
      if (answers) {
        run.onRequestDone = [this](size_t index, const DecodeResult& result) { sendResult(index, result); };
        run.takeFollowUps = [this](std::vector<DecodeRequest>& into, bool wait) { return takeFollowUps(into, wait); };
      }
      results = engine.run(run, params.slots);
      slotsUsed = engine.slotsGranted();
      timings = engine.timings();
      profile = engine.profile();
    } catch (const std::exception& e) {
      // On this plain std::thread an escaping exception would end the process.
      if (!aborted()) {
        errorCode = std::string(e.what()).rfind("cannot allocate", 0) == 0 ? "OUT_OF_MEMORY" : "TRANSCRIBE_FAILED";
        errorMessage = std::string("batched decoding failed: ") + e.what();
      }
    }
  }

  void settle(Napi::Env env) {
    pcmRef.Reset();
    abortRef.Reset();
    if (!errorCode.empty()) {
      deferred->Reject(makeError(env, errorCode, errorMessage).Value());
    } else if (callbackFailed.load()) {
      deferred->Reject(makeError(env, "TRANSCRIBE_FAILED", "the decodeBatch callback failed: " + callbackError).Value());
    } else if (aborted()) {
      const bool disposed = model->disposed.load();
      deferred->Reject(makeError(env, disposed ? "MODEL_DISPOSED" : "ABORTED",
                                 disposed ? "the model was disposed during transcription" : "transcription aborted")
                           .Value());
    } else {
      Napi::Array out = Napi::Array::New(env, results.size());
      for (size_t i = 0; i < results.size(); i++) out.Set(i, resultObject(env, results[i]));
      Napi::Object result = Napi::Object::New(env);
      result.Set("results", out);
      result.Set("backend", backend);
      result.Set("slots", slotsUsed);
      Napi::Object t = Napi::Object::New(env);
      t.Set("mel", timings.mel);
      t.Set("encoder", timings.encoder);
      t.Set("decoder", timings.decoder);
      t.Set("logits", timings.logits);
      t.Set("rules", timings.rules);
      t.Set("encoderGraphs", timings.encoderGraphs);
      t.Set("decoderSteps", timings.decoderSteps);
      t.Set("encodingsReused", timings.encodingsReused);
      result.Set("timings", t);
      Napi::Array costs = Napi::Array::New(env, profile.size());
      uint32_t n = 0;
      for (const auto& [key, cost] : profile) {
        Napi::Object c = Napi::Object::New(env);
        c.Set("op", key);
        c.Set("seconds", cost.seconds);
        c.Set("flop", cost.flop);
        c.Set("nodes", cost.nodes);
        costs.Set(n++, c);
      }
      result.Set("profile", costs);
      deferred->Resolve(result);
    }
    model.reset();  // on the main thread, where the last dispose may free it
  }
};

}  // namespace

Napi::Value BatchJob::Start(const Napi::CallbackInfo& info, std::shared_ptr<ModelHandle> model) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsArray() || !info[2].IsObject()) {
    throwInvalid(env, "decodeBatch(pcm: Float32Array, requests: Array, params: object, onResult?, abortFlag?)");
  }
  if (info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throwInvalid(env, "pcm must be a Float32Array");
  Napi::Float32Array pcm = info[0].As<Napi::Float32Array>();
  const int64_t nSamples = static_cast<int64_t>(pcm.ElementLength());

  auto job = std::make_shared<Job>();
  job->model = std::move(model);
  job->params = parseParams(env, info[2].As<Napi::Object>());
  job->pcm = pcm.Data();
  job->samples = nSamples;
  if (!info[1].As<Napi::Array>().Length()) throwInvalid(env, "requests must not be empty");
  job->requests = job->parseRequests(env, info[1], "requests");
  job->abortFlag = abortFlagArg(info, 4, job->abortRef);
  job->answers = info.Length() > 3 && info[3].IsFunction();
  Napi::Function onResult = callbackArg(info, 3);
  job->pcmRef = Napi::Persistent(pcm.As<Napi::Object>());  // the PCM stays in JS memory, kept alive
  job->deferred.emplace(Napi::Promise::Deferred::New(env));
  job->tsfn = Napi::ThreadSafeFunction::New(env, onResult, "whisper-serve.decodeBatch", 0, 1);
  Napi::Promise promise = job->deferred->Promise();
  std::thread([job] {
    job->run();
    job->tsfn.BlockingCall([job](Napi::Env env, Napi::Function) { job->settle(env); });
    job->tsfn.Release();
  }).detach();
  return promise;
}

}  // namespace wserve
