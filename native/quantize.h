// quantize(type, Float32Array, nPerRow) → Buffer: whisper.cpp's own block quantiser, for the importers.
#pragma once
#include <napi.h>

namespace wserve {
Napi::Value Quantize(const Napi::CallbackInfo& info);
}
