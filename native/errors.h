// Errors that cross into JavaScript carry a stable `code` (see lib/errors.ts for the full list).
#pragma once
#include <napi.h>

#include <string>

namespace wserve {

inline Napi::Error makeError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

// Throws a JS TypeError with code INVALID_ARGUMENT. Used for argument validation done before
// anything reaches ggml, whose own checks abort the process instead of failing.
inline void throwInvalid(Napi::Env env, const std::string& message) {
  Napi::TypeError err = Napi::TypeError::New(env, message);
  err.Set("code", Napi::String::New(env, "INVALID_ARGUMENT"));
  throw err;
}

}  // namespace wserve
