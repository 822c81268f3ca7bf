// Rows of f32 → ggml blocks with ggml_quantize_chunk, the function whisper.cpp's quantize tool
// uses, so imported q8_0/q5_0 files hold exactly the bytes that tool would write.
#include "quantize.h"

#include <string>

#include "errors.h"
#include "ggml.h"

namespace wserve {

namespace {
bool typeByName(const std::string& name, ggml_type* out) {
  static const struct {
    const char* name;
    ggml_type type;
  } kTypes[] = {
      {"q4_0", GGML_TYPE_Q4_0}, {"q4_1", GGML_TYPE_Q4_1}, {"q5_0", GGML_TYPE_Q5_0}, {"q5_1", GGML_TYPE_Q5_1}, {"q8_0", GGML_TYPE_Q8_0},
  };
  for (const auto& t : kTypes) {
    if (name == t.name) {
      *out = t.type;
      return true;
    }
  }
  return false;
}
}  // namespace

Napi::Value Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsTypedArray() || !info[2].IsNumber()) {
    throwInvalid(env, "quantize(type, Float32Array, nPerRow)");
  }
  ggml_type type;
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!typeByName(name, &type)) throwInvalid(env, "unknown quantisation type " + name);
  Napi::TypedArray arr = info[1].As<Napi::TypedArray>();
  if (arr.TypedArrayType() != napi_float32_array) throwInvalid(env, "data must be a Float32Array");
  Napi::Float32Array data = arr.As<Napi::Float32Array>();
  const int64_t nPerRow = info[2].As<Napi::Number>().Int64Value();
  const int64_t n = static_cast<int64_t>(data.ElementLength());
  // ggml asserts (aborts the process) on these; refuse them here instead.
  if (nPerRow <= 0 || n % nPerRow != 0) throwInvalid(env, "data length is not a whole number of rows");
  if (nPerRow % ggml_blck_size(type) != 0) {
    throwInvalid(env, "rows of " + std::to_string(nPerRow) + " values do not split into " + name + " blocks of " +
                          std::to_string(ggml_blck_size(type)));
  }
  const int64_t rows = n / nPerRow;
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, ggml_row_size(type, nPerRow) * rows);
  const size_t written = ggml_quantize_chunk(type, data.Data(), out.Data(), 0, rows, nPerRow, nullptr);
  if (written != out.Length()) throw makeError(env, "MODEL_IMPORT_FAILED", "ggml_quantize_chunk wrote an unexpected size");
  return out;
}

}  // namespace wserve
