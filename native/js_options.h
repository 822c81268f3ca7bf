// Reading the fields of a JS options object. Every field is required: the defaults live in
// TypeScript (lib/decode-options.ts, lib/whisper.ts), and a missing or mistyped field is an
// INVALID_ARGUMENT TypeError naming it, never a value made up here. Ranges are checked here
// because ggml's own checks abort the process instead of failing.
#pragma once
#include <napi.h>

#include <regex>
#include <string>

#include "errors.h"
#include "whisper.h"

namespace wserve {

inline Napi::Value requiredField(Napi::Env env, const Napi::Object& o, const char* key, bool (Napi::Value::*is)() const, const char* what) {
  Napi::Value v = o.Get(key);
  if (!(v.*is)()) throwInvalid(env, std::string(key) + " must be " + what + " (the addon takes every option; defaults live in TypeScript)");
  return v;
}

inline bool boolField(Napi::Env env, const Napi::Object& o, const char* key) {
  return requiredField(env, o, key, &Napi::Value::IsBoolean, "a boolean").As<Napi::Boolean>().Value();
}

inline float numberField(Napi::Env env, const Napi::Object& o, const char* key) {
  return requiredField(env, o, key, &Napi::Value::IsNumber, "a number").As<Napi::Number>().FloatValue();
}

inline std::string stringField(Napi::Env env, const Napi::Object& o, const char* key) {
  return requiredField(env, o, key, &Napi::Value::IsString, "a string").As<Napi::String>().Utf8Value();
}

// An integer in [lo, hi].
inline int intField(Napi::Env env, const Napi::Object& o, const char* key, int lo, int hi) {
  int x = requiredField(env, o, key, &Napi::Value::IsNumber, "a number").As<Napi::Number>().Int32Value();
  if (x < lo || x > hi) throwInvalid(env, std::string(key) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return x;
}

// A language code whisper knows, or "auto".
inline std::string languageField(Napi::Env env, const Napi::Object& o, const char* key) {
  std::string language = stringField(env, o, key);
  if (language != "auto" && whisper_lang_id(language.c_str()) < 0) throwInvalid(env, "unknown language: " + language);
  return language;
}

// A regular expression (suppressRegex): compiled here, because a bad one compiled later on a
// worker thread would end the process.
inline std::string regexField(Napi::Env env, const Napi::Object& o, const char* key) {
  std::string pattern = stringField(env, o, key);
  try {
    if (!pattern.empty()) std::regex check(pattern);
  } catch (const std::regex_error& e) {
    throwInvalid(env, std::string(key) + " is not a valid regular expression: " + e.what());
  }
  return pattern;
}

// The optional callback at info[index], or one that does nothing.
inline Napi::Function callbackArg(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() > index && info[index].IsFunction()) return info[index].As<Napi::Function>();
  if (info.Length() > index && !info[index].IsUndefined() && !info[index].IsNull())
    throwInvalid(info.Env(), "the callback must be a function");
  return Napi::Function::New(info.Env(), [](const Napi::CallbackInfo&) {});
}

// The optional abort flag at info[index]: an Int32Array whose first element JS sets to stop a job
// (read from worker threads; `keep` holds it alive). Null when absent.
inline int32_t* abortFlagArg(const Napi::CallbackInfo& info, size_t index, Napi::ObjectReference& keep) {
  if (info.Length() <= index || !info[index].IsTypedArray()) return nullptr;
  Napi::TypedArray flag = info[index].As<Napi::TypedArray>();
  if (flag.TypedArrayType() != napi_int32_array || flag.ElementLength() < 1) throwInvalid(info.Env(), "abortFlag must be an Int32Array");
  keep = Napi::Persistent(flag.As<Napi::Object>());
  return flag.As<Napi::Int32Array>().Data();
}

}  // namespace wserve
