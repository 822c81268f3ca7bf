#include "transcribe_job.h"

#include <cmath>
#include <stdexcept>
#include <thread>

#include "errors.h"
#include "js_options.h"
#include "whisper.h"

namespace wserve {

namespace {

constexpr int kSampleRate = WHISPER_SAMPLE_RATE;

struct WindowCallbackData {
  TranscribeJob* job;
  size_t index;
};

// Every decode param once, by its JS name: read from the call's options (required fields,
// bounds checked; no defaults here) and echoed back in the result with the same walk, so
// TypeScript (and its tests) see what whisper.cpp ran with.
template <typename Fields, typename Params>
void eachParam(Fields& f, Params& p) {
  f.integer("threads", p.threads, 1, 512);
  f.integer("maxStates", p.maxStates, 1, 4096);
  f.boolean("sequential", p.sequential);
  f.boolean("conditionOnPreviousText", p.conditionOnPreviousText);
  f.language("language", p.language);
  f.boolean("languagePerWindow", p.languagePerWindow);
  f.boolean("translate", p.translate);
  f.text("initialPrompt", p.initialPrompt);
  f.number("temperature", p.temperature);
  f.number("temperatureIncrement", p.temperatureIncrement);
  f.number("entropyThreshold", p.entropyThreshold);
  f.number("logprobThreshold", p.logprobThreshold);
  f.number("noSpeechThreshold", p.noSpeechThreshold);
  f.integer("beamSize", p.beamSize, 1, 16);
  f.integer("bestOf", p.bestOf, 1, 16);
  f.number("lengthPenalty", p.lengthPenalty);
  f.number("patience", p.patience);
  f.boolean("wordTimestamps", p.wordTimestamps);
  f.boolean("suppressBlank", p.suppressBlank);
  f.boolean("suppressNonSpeech", p.suppressNonSpeech);
  f.boolean("noTimestamps", p.noTimestamps);
  f.integer("maxTokens", p.maxTokens, 0, 448);
  f.regex("suppressRegex", p.suppressRegex);
}

struct ReadFields {
  Napi::Env env;
  const Napi::Object& o;
  void integer(const char* k, int& v, int lo, int hi) { v = intField(env, o, k, lo, hi); }
  void boolean(const char* k, bool& v) { v = boolField(env, o, k); }
  void number(const char* k, float& v) { v = numberField(env, o, k); }
  void language(const char* k, std::string& v) { v = languageField(env, o, k); }
  void text(const char* k, std::string& v) { v = stringField(env, o, k); }
  void regex(const char* k, std::string& v) { v = regexField(env, o, k); }
};

struct WriteFields {
  Napi::Object o;
  void integer(const char* k, int v, int, int) { o.Set(k, v); }
  void boolean(const char* k, bool v) { o.Set(k, v); }
  void number(const char* k, float v) { o.Set(k, v); }
  void language(const char* k, const std::string& v) { o.Set(k, v); }
  void text(const char* k, const std::string& v) { o.Set(k, v); }
  void regex(const char* k, const std::string& v) { o.Set(k, v); }
};

DecodeParams parseParams(Napi::Env env, const Napi::Object& o) {
  DecodeParams p;
  ReadFields read{env, o};
  eachParam(read, p);
  return p;
}

Napi::Object paramsToJs(Napi::Env env, const DecodeParams& p) {
  WriteFields write{Napi::Object::New(env)};
  eachParam(write, p);
  return write.o;
}

Napi::Object segmentToJs(Napi::Env env, const SegmentResult& s, bool withTokens) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("t0", s.t0);
  o.Set("t1", s.t1);
  o.Set("text", s.text);
  o.Set("noSpeechProb", s.noSpeechProb);
  o.Set("avgLogprob", s.avgLogprob);
  Napi::Array ids = Napi::Array::New(env, s.ids.size());
  for (size_t k = 0; k < s.ids.size(); ++k) ids.Set(k, s.ids[k]);
  o.Set("ids", ids);
  if (withTokens) {
    Napi::Array tokens = Napi::Array::New(env, s.tokens.size());
    for (size_t k = 0; k < s.tokens.size(); ++k) {
      const TokenResult& t = s.tokens[k];
      Napi::Object to = Napi::Object::New(env);
      to.Set("id", t.id);
      to.Set("text", t.text);
      to.Set("p", t.p);
      to.Set("t0", t.t0);
      to.Set("t1", t.t1);
      tokens.Set(k, to);
    }
    o.Set("tokens", tokens);
  }
  return o;
}

}  // namespace

// transcribeWindows(pcm: Float32Array, windows: {start,end}[] (samples), params,
//                   onProgress?: (window, fraction) => void, abortFlag?: Int32Array)
Napi::Value TranscribeJob::Start(const Napi::CallbackInfo& info, std::shared_ptr<ModelHandle> model) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsArray() || !info[2].IsObject()) {
    throwInvalid(env, "transcribeWindows(pcm: Float32Array, windows: Array, params: object, onProgress?, abortFlag?)");
  }
  Napi::TypedArray typed = info[0].As<Napi::TypedArray>();
  if (typed.TypedArrayType() != napi_float32_array) throwInvalid(env, "pcm must be a Float32Array");
  Napi::Float32Array pcm = info[0].As<Napi::Float32Array>();
  if (pcm.ElementLength() == 0) throw makeError(env, "EMPTY_AUDIO", "pcm holds no samples");

  std::shared_ptr<TranscribeJob> job(new TranscribeJob());
  job->model_ = std::move(model);
  job->params_ = parseParams(env, info[2].As<Napi::Object>());
  job->pcm_ = pcm.Data();
  job->nSamples_ = static_cast<int64_t>(pcm.ElementLength());

  Napi::Array windows = info[1].As<Napi::Array>();
  if (windows.Length() == 0) throwInvalid(env, "windows must not be empty");
  for (uint32_t i = 0; i < windows.Length(); ++i) {
    Napi::Value w = windows.Get(i);
    if (!w.IsObject()) throwInvalid(env, "windows[" + std::to_string(i) + "] must be {start, end}");
    Napi::Object wo = w.As<Napi::Object>();
    Napi::Value s = wo.Get("start"), e = wo.Get("end");
    if (!s.IsNumber() || !e.IsNumber()) throwInvalid(env, "windows[" + std::to_string(i) + "] needs numeric start and end");
    Window win{s.As<Napi::Number>().Int64Value(), e.As<Napi::Number>().Int64Value()};
    if (win.start < 0 || win.end > job->nSamples_ || win.end <= win.start) {
      throwInvalid(env, "windows[" + std::to_string(i) + "] is outside the audio or empty");
    }
    job->windows_.push_back(win);
  }
  job->results_.resize(job->windows_.size());
  job->windowLanguages_.resize(job->windows_.size());

  Napi::Function onProgress = callbackArg(info, 3);
  job->abortFlag_ = abortFlagArg(info, 4, job->abortRef_);
  // The PCM stays in JS memory (no copy of hours of audio); the reference keeps it alive.
  job->pcmRef_ = Napi::Persistent(pcm.As<Napi::Object>());
  job->deferred_.emplace(Napi::Promise::Deferred::New(env));
  job->tsfn_ = Napi::ThreadSafeFunction::New(env, onProgress, "whisper-serve.transcribe", 0, 1);

  Napi::Promise promise = job->deferred_->Promise();
  std::thread(&TranscribeJob::run, job).detach();
  return promise;
}

TranscribeJob::~TranscribeJob() = default;

bool TranscribeJob::aborted() const {
  if (failed_.load() || model_->disposed.load()) return true;
  return abortFlag_ != nullptr && __atomic_load_n(abortFlag_, __ATOMIC_RELAXED) != 0;
}

void TranscribeJob::fail(const std::string& code, const std::string& message) {
  std::lock_guard<std::mutex> lock(errorMutex_);
  if (!failed_.exchange(true)) {
    errorCode_ = code;
    errorMessage_ = message;
  }
}

void TranscribeJob::reportProgress(size_t window, float fraction) {
  tsfn_.NonBlockingCall([window, fraction](Napi::Env env, Napi::Function cb) {
    cb.Call({Napi::Number::New(env, static_cast<double>(window)), Napi::Number::New(env, fraction)});
  });
}

void TranscribeJob::run(std::shared_ptr<TranscribeJob> self) {
  if (self->detectLanguage()) {
    size_t workers = self->params_.sequential ? 1 : std::min<size_t>(self->windows_.size(), self->params_.maxStates);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < workers; ++i) threads.emplace_back(&TranscribeJob::runWorker, self.get());
    for (auto& t : threads) t.join();
  }
  self->tsfn_.BlockingCall([self](Napi::Env env, Napi::Function) { self->settle(env); });
  self->tsfn_.Release();
}

// Unless each window detects its own, the language is detected once, on the first window, and
// then fixed for every window: parallel windows that each guessed could disagree mid-recording.
bool TranscribeJob::detectLanguage() {
  whisper_context* ctx = model_->ctx;
  if (!whisper_is_multilingual(ctx)) {
    language_ = "en";
    params_.language = "en";
    params_.languagePerWindow = false;
    return true;
  }
  if (params_.language != "auto" || params_.languagePerWindow) {
    language_ = params_.language;
    return true;
  }
  bool allocFailed = false;
  whisper_state* state = model_->pool.acquire([this] { return aborted(); }, &allocFailed);
  if (state == nullptr) {
    if (allocFailed) fail("OUT_OF_MEMORY", "could not allocate a whisper state for language detection");
    return false;
  }
  int id = -1;
  const bool ok = detectOn(state, windows_.front(), id, languageProbability_);
  model_->pool.release(state);
  if (!ok) return false;
  language_ = whisper_lang_str(id);
  params_.language = language_;
  return true;
}

// The language tokens' probabilities after start-of-transcript on the window's first 30 s (one
// encoder pass of its own: whisper.cpp encodes the window again to decode it).
bool TranscribeJob::detectOn(whisper_state* state, const Window& w, int& id, float& probability) {
  whisper_context* ctx = model_->ctx;
  int n = static_cast<int>(std::min<int64_t>(w.end - w.start, 30 * kSampleRate));
  std::vector<float> probs(whisper_lang_max_id() + 1, 0.0f);
  id = -1;
  try {
    if (whisper_pcm_to_mel_with_state(ctx, state, pcm_ + w.start, n, params_.threads) == 0) {
      id = whisper_lang_auto_detect_with_state(ctx, state, 0, params_.threads, probs.data());
    }
  } catch (const std::exception& e) {
    // On this plain std::thread an escaping exception would end the process.
    fail("TRANSCRIBE_FAILED", std::string("whisper.cpp failed in language detection: ") + e.what());
    return false;
  }
  if (id < 0) {
    if (!aborted()) fail("TRANSCRIBE_FAILED", "language detection failed");
    return false;
  }
  probability = probs[id];
  return true;
}

void TranscribeJob::runWorker() {
  whisper_state* held = nullptr;  // sequential mode keeps one state, and so its text context
  bool first = true;
  for (;;) {
    size_t i = nextWindow_.fetch_add(1);
    if (i >= windows_.size() || aborted()) break;
    whisper_state* state = held;
    if (state == nullptr) {
      bool allocFailed = false;
      state = model_->pool.acquire([this] { return aborted(); }, &allocFailed);
      if (state == nullptr) {
        if (allocFailed) fail("OUT_OF_MEMORY", "could not allocate a whisper state (compute buffers); lower the batch size");
        break;
      }
    }
    bool ok = runWindow(state, i, first);
    first = false;
    if (params_.sequential && ok) {
      held = state;
    } else {
      model_->pool.release(state);
      held = nullptr;
    }
    if (!ok) break;
    reportProgress(i, 1.0f);
  }
  model_->pool.release(held);
}

bool TranscribeJob::runWindow(whisper_state* state, size_t index, bool firstOfSequence) {
  whisper_context* ctx = model_->ctx;
  const DecodeParams& dp = params_;
  const Window& w = windows_[index];
  std::string language = dp.language;
  if (dp.languagePerWindow) {
    int id = -1;
    float probability = 0;
    if (!detectOn(state, w, id, probability)) return false;
    language = whisper_lang_str(id);
    windowLanguages_[index] = {language, probability};
  }
  whisper_full_params p = whisper_full_default_params(dp.beamSize > 1 ? WHISPER_SAMPLING_BEAM_SEARCH : WHISPER_SAMPLING_GREEDY);
  p.n_threads = dp.threads;
  p.translate = dp.translate;
  // Parallel windows are independent; a sequential run conditions each window on the text
  // before it (whisper.cpp keeps that context in the state), except the first.
  p.no_context = !dp.sequential || firstOfSequence || !dp.conditionOnPreviousText;
  // Within one long window whisper.cpp carries text from seek to seek; 0 past tokens turns that off.
  if (dp.sequential && !dp.conditionOnPreviousText) p.n_max_text_ctx = 0;
  p.no_timestamps = dp.noTimestamps;
  p.print_special = p.print_progress = p.print_realtime = p.print_timestamps = false;
  p.token_timestamps = dp.wordTimestamps;
  p.language = language.c_str();
  p.detect_language = false;
  p.initial_prompt = dp.initialPrompt.empty() || (dp.sequential && !firstOfSequence) ? nullptr : dp.initialPrompt.c_str();
  p.suppress_blank = dp.suppressBlank;
  p.suppress_nst = dp.suppressNonSpeech;
  p.temperature = dp.temperature;
  p.temperature_inc = dp.temperatureIncrement;
  p.entropy_thold = dp.entropyThreshold;
  p.logprob_thold = dp.logprobThreshold;
  p.no_speech_thold = dp.noSpeechThreshold;
  p.greedy.best_of = dp.bestOf;
  p.beam_search.beam_size = dp.beamSize;
  p.beam_search.patience = dp.patience;
  p.length_penalty = dp.lengthPenalty;
  p.max_tokens = dp.maxTokens;
  p.suppress_regex = dp.suppressRegex.empty() ? nullptr : dp.suppressRegex.c_str();

  WindowCallbackData cbData{this, index};
  p.progress_callback = [](whisper_context*, whisper_state*, int progress, void* ud) {
    auto* d = static_cast<WindowCallbackData*>(ud);
    if (progress > 0 && progress < 100) d->job->reportProgress(d->index, progress / 100.0f);
  };
  p.progress_callback_user_data = &cbData;
  p.encoder_begin_callback = [](whisper_context*, whisper_state*, void* ud) {
    return !static_cast<WindowCallbackData*>(ud)->job->aborted();
  };
  p.encoder_begin_callback_user_data = &cbData;
  p.abort_callback = [](void* ud) { return static_cast<WindowCallbackData*>(ud)->job->aborted(); };
  p.abort_callback_user_data = &cbData;

  int rc;
  try {
    rc = whisper_full_with_state(ctx, state, p, pcm_ + w.start, static_cast<int>(w.end - w.start));
  } catch (const std::exception& e) {
    // whisper.cpp throws on some malformed models (e.g. a vocabulary without the tokens it
    // suppresses); on this plain std::thread an escaping exception would end the process.
    fail("TRANSCRIBE_FAILED", "whisper.cpp failed on window " + std::to_string(index) + ": " + e.what());
    return false;
  }
  if (aborted()) return false;
  if (rc != 0) {
    fail("TRANSCRIBE_FAILED", "whisper_full failed with code " + std::to_string(rc) + " on window " + std::to_string(index));
    return false;
  }

  const whisper_token eot = whisper_token_eot(ctx);
  const int nSegments = whisper_full_n_segments_from_state(state);
  std::vector<SegmentResult>& out = results_[index];
  out.reserve(nSegments);
  for (int s = 0; s < nSegments; ++s) {
    SegmentResult seg;
    seg.t0 = whisper_full_get_segment_t0_from_state(state, s) / 100.0;  // whisper counts in 10 ms
    seg.t1 = whisper_full_get_segment_t1_from_state(state, s) / 100.0;
    seg.text = whisper_full_get_segment_text_from_state(state, s);
    seg.noSpeechProb = whisper_full_get_segment_no_speech_prob_from_state(state, s);
    double sumLogprob = 0;
    int nText = 0;
    const int nTokens = whisper_full_n_tokens_from_state(state, s);
    for (int t = 0; t < nTokens; ++t) {
      whisper_token_data td = whisper_full_get_token_data_from_state(state, s, t);
      if (td.id >= eot) continue;  // special and timestamp tokens
      sumLogprob += td.plog;
      nText++;
      seg.ids.push_back(td.id);
      if (dp.wordTimestamps) {
        seg.tokens.push_back({td.id, whisper_full_get_token_text_from_state(ctx, state, s, t), td.p, td.t0 / 100.0, td.t1 / 100.0});
      }
    }
    seg.avgLogprob = nText > 0 ? static_cast<float>(sumLogprob / nText) : 0.0f;
    out.push_back(std::move(seg));
  }
  return true;
}

void TranscribeJob::settle(Napi::Env env) {
  pcmRef_.Reset();
  abortRef_.Reset();
  if (failed_.load()) {
    deferred_->Reject(makeError(env, errorCode_, errorMessage_).Value());
  } else if (aborted()) {
    const bool disposed = model_->disposed.load();
    deferred_->Reject(makeError(env, disposed ? "MODEL_DISPOSED" : "ABORTED",
                                disposed ? "the model was disposed during transcription" : "transcription aborted")
                          .Value());
  } else {
    Napi::Object result = Napi::Object::New(env);
    result.Set("language", language_);
    result.Set("languageProbability", languageProbability_);
    Napi::Array windows = Napi::Array::New(env, results_.size());
    for (size_t i = 0; i < results_.size(); ++i) {
      Napi::Array segs = Napi::Array::New(env, results_[i].size());
      for (size_t s = 0; s < results_[i].size(); ++s) segs.Set(s, segmentToJs(env, results_[i][s], params_.wordTimestamps));
      windows.Set(i, segs);
    }
    result.Set("windows", windows);
    if (params_.languagePerWindow) {
      Napi::Array languages = Napi::Array::New(env, windowLanguages_.size());
      for (size_t i = 0; i < windowLanguages_.size(); ++i) {
        Napi::Object l = Napi::Object::New(env);
        l.Set("language", windowLanguages_[i].first);
        l.Set("probability", windowLanguages_[i].second);
        languages.Set(i, l);
      }
      result.Set("windowLanguages", languages);
    }
    result.Set("params", paramsToJs(env, params_));
    deferred_->Resolve(result);
  }
  // Drop the model reference on the main thread, where the last dispose may free it.
  model_.reset();
}

}  // namespace wserve
