// What our own AMX-BF16 ops share (encoder_attention.cc, bf16_linear.cc): whether the tiles run
// here, their shapes for one op, and the targets the code is compiled for (the addon itself is
// built for any x86-64: these functions run only where the CPU says so).
#pragma once

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#define WSERVE_X86 1
#define WSERVE_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))
#define WSERVE_AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,amx-tile,amx-bf16")))
#define WSERVE_AVX2_TARGET __attribute__((target("avx2,fma")))
#define WSERVE_F16C_TARGET __attribute__((target("avx2,fma,f16c")))
#endif

namespace wserve {

// Whether AMX-BF16 runs: the CPU has it (Intel since Sapphire Rapids) and Linux grants this
// process the tiles' state.
inline bool amxBf16Runs() {
#ifdef WSERVE_X86
  static const bool runs = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    constexpr unsigned kAmxBf16 = 1u << 22, kAmxTile = 1u << 24;
    constexpr long kRequestPermission = 0x1023, kTileData = 18;  // ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA
    return (d & kAmxBf16) && (d & kAmxTile) && syscall(SYS_arch_prctl, kRequestPermission, kTileData) == 0;
  }();
  return runs;
#else
  return false;
#endif
}

#ifdef WSERVE_X86

// Tiles 0-7, each 16 rows of 64 bytes: 16 × 16 f32, or 16 × 32 bf16.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t startRow = 0;
  uint8_t reserved[14] = {};
  uint16_t bytesPerRow[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

// Our tile shapes for one op, and whatever the thread had before them back after it: ggml's AMX
// products configure a thread's tiles once and count on them staying (without this, its q8_0
// kernel raised SIGILL after our first op). The whole 64 bytes are the instructions' operand
// (GCC 12's _tile_loadconfig names 8 of them: third_party/amx-tile-config.h).
class TileShapes {
 public:
  WSERVE_AMX_TARGET TileShapes() {
    static const TileConfig ours;
    asm volatile("sttilecfg %0" : "=m"(saved_));
    asm volatile("ldtilecfg %0" ::"m"(ours));
  }
  WSERVE_AMX_TARGET ~TileShapes() {
    if (saved_.palette == 0) {
      _tile_release();  // none before: the state goes back to unconfigured
    } else {
      asm volatile("ldtilecfg %0" ::"m"(saved_));
    }
  }
  TileShapes(const TileShapes&) = delete;
  TileShapes& operator=(const TileShapes&) = delete;

 private:
  TileConfig saved_;
};

// GCC's tile loads are asm it does not see reading memory: what was written before must be.
inline void storesBeforeTileLoads() { asm volatile("" ::: "memory"); }

#endif  // WSERVE_X86

}  // namespace wserve
