#include "encoding_store.h"

#include <algorithm>
#include <cmath>

namespace wserve {

void EncodingStore::reset(int slots, int crossCaches) {
  slots_ = slots;
  held_.assign(static_cast<size_t>(crossCaches), Held());
}

void EncodingStore::keepOnly(uint32_t recording) {
  for (Held& h : held_) {
    if (recording == 0 || h.piece.recording != recording) h = Held();
  }
}

void EncodingStore::finished(int slot, float sureness) { held_[static_cast<size_t>(slot)].sureness = sureness; }

EncodingPlan EncodingStore::admit(const std::vector<std::pair<int, EncodedPiece>>& admitted, bool reuse) {
  EncodingPlan plan;
  const int caches = static_cast<int>(held_.size());
  // Slots whose contents change this round: every admitted one that does not hold its piece already.
  std::vector<bool> refilled(held_.size(), false);
  for (const auto& [s, piece] : admitted) refilled[s] = !(reuse && held_[s].valid && held_[s].piece == piece);
  auto needed = [&](const EncodedPiece& p) {
    for (const auto& a : admitted) {
      if (a.second == p) return true;
    }
    return false;
  };
  // A cache this round leaves alone that holds `p` (kept caches count: saves run first), or -1.
  auto unchangedHolder = [&](const EncodedPiece& p) {
    for (int i = 0; i < caches; i++) {
      if (held_[i].valid && !refilled[i] && held_[i].piece == p) return i;
    }
    return -1;
  };

  if (reuse) {
    for (const auto& [s, piece] : admitted) {
      const Held h = held_[s];
      if (!refilled[s] || !h.valid || unchangedHolder(h.piece) >= 0) continue;
      // Wanted this round: kept whatever it costs; else in place of the surest kept one, if surer.
      const float rank = needed(h.piece) ? -INFINITY : h.sureness;
      int victim = -1;
      for (int e = slots_; e < caches; e++) {
        if (!held_[e].valid) {
          victim = e;
          break;
        }
        if (!needed(held_[e].piece) && held_[e].sureness > rank && (victim < 0 || held_[e].sureness > held_[victim].sureness)) victim = e;
      }
      if (victim < 0) continue;
      plan.saves.emplace_back(s, victim);
      held_[victim] = h;
    }
  }

  std::vector<std::pair<int, EncodedPiece>> encoded;  // this round's encoder passes: (slot, piece)
  for (size_t k = 0; k < admitted.size(); k++) {
    const auto& [s, piece] = admitted[k];
    if (!refilled[s]) continue;  // its encoding is still in its slot
    held_[s] = Held{piece, 0, true};
    const int holder = reuse ? unchangedHolder(piece) : -1;
    const auto twin = std::find_if(encoded.begin(), encoded.end(), [&](const auto& e) { return reuse && e.second == piece; });
    if (holder >= 0) {
      plan.copyFirst.emplace_back(holder, s);
    } else if (twin != encoded.end()) {
      plan.copyAfter.emplace_back(twin->first, s);
    } else {
      plan.encode.push_back(k);
      encoded.emplace_back(s, piece);
    }
  }
  return plan;
}

}  // namespace wserve
