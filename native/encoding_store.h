// Which window's encoding (cross-attention keys/values) each cross-attention cache holds, and how
// a round of new sequences gets theirs: left in place, copied from a cache that holds it, or
// encoded. Beyond the sequences' own caches the engine keeps a few more: a finished window's
// encoding moves there before its slot is refilled, when it is among the least sure finished so
// far (a loop, the lowest mean log-probability: those are the windows TypeScript sends back
// warmer), so a fallback decodes from it instead of running the encoder again. Pieces of one
// recording (a decodeBatched call: the same PCM buffer throughout) are reused across its runs;
// a run of another recording starts afresh. Bookkeeping only: the engine runs the copies.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace wserve {

struct EncodedPiece {
  uint32_t recording = 0;  // 0: reused within one run only
  const float* pcm = nullptr;
  int samples = 0;
  bool operator==(const EncodedPiece& o) const { return recording == o.recording && pcm == o.pcm && samples == o.samples; }
};

struct EncodingPlan {
  std::vector<std::pair<int, int>> saves;      // (slot, kept cache): before anything else
  std::vector<std::pair<int, int>> copyFirst;  // (holder, slot): holders this round leaves alone
  std::vector<size_t> encode;                  // indices into the round's admitted list
  std::vector<std::pair<int, int>> copyAfter;  // (slot just encoded, slot): pieces asked twice this round
};

class EncodingStore {
 public:
  // Caches cleared: `slots` sequences' caches, then `crossCaches - slots` kept encodings.
  void reset(int slots, int crossCaches);
  // Drops every piece not of `recording` (0: all).
  void keepOnly(uint32_t recording);
  // A round of sequences starting in `admitted` (slot, piece); reuse false: every one encoded.
  EncodingPlan admit(const std::vector<std::pair<int, EncodedPiece>>& admitted, bool reuse);
  // A slot's sequence ended: how sure its text was (−∞ for a loop), the rank for keeping it.
  void finished(int slot, float sureness);

 private:
  struct Held {
    EncodedPiece piece;
    float sureness = 0;
    bool valid = false;
  };
  int slots_ = 0;
  std::vector<Held> held_;
};

}  // namespace wserve
