// Reading optional fields of a JS options object, validated here because ggml's own checks
// abort the process instead of failing.
#pragma once
#include <napi.h>

#include <string>

#include "errors.h"

namespace wserve {

inline bool boolOpt(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
}

inline float numberOpt(const Napi::Object& o, const char* key, float dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().FloatValue() : dflt;
}

// An integer in [lo, hi]; anything else given is an INVALID_ARGUMENT TypeError.
inline int intOpt(Napi::Env env, const Napi::Object& o, const char* key, int dflt, int lo, int hi) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throwInvalid(env, std::string(key) + " must be a number");
  int x = v.As<Napi::Number>().Int32Value();
  if (x < lo || x > hi) throwInvalid(env, std::string(key) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return x;
}

}  // namespace wserve
