// Force-included (-include) into ggml's C++ where its AMX kernels are compiled in (WHISPER_SERVE_AMX).
//
// GCC 12's _tile_loadconfig (amxtileintrin.h) tells the compiler that LDTILECFG reads 8 bytes of
// the 64-byte tile configuration: `"m" (*((const void **)__config))`. GCC then drops the stores of
// the rows and column widths as dead, ggml's ggml_tile_config_init() loads a configuration with
// every tile empty, and its first TILELOADD raises #UD: the SIGILL of issue 24 (whisper.cpp's own
// decoder) and of the batched engine's q8_0 products, on a Xeon with AMX. The same function with
// the whole configuration as its operand, under ggml's name.
#pragma once
#if defined(__cplusplus) && defined(__AMX_TILE__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>

namespace whisper_serve_amx {
struct TileConfig {
  unsigned char bytes[64];
};
inline void loadTileConfig(const void* config) {
  __asm__ volatile("ldtilecfg\t%0" ::"m"(*static_cast<const TileConfig*>(config)));
}
}  // namespace whisper_serve_amx

#define _tile_loadconfig(config) whisper_serve_amx::loadTileConfig(config)
#endif
