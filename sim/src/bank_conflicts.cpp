// Wavefront counting for shared-memory accesses: see bank_conflicts.h for the rules.
#include "bank_conflicts.h"

#include <algorithm>
#include <bit>

namespace tessel::sim {

namespace {

// The wavefronts of one phase: the most distinct words any bank holds among the words the
// lanes of `m` touch. Distinct words are found with a small open-addressing set instead of
// sorting (at most 128 words are considered, as the rule always has: no phase has more).
uint32_t phase_wavefronts(const uint32_t* offsets, uint32_t m, uint32_t bytes) {
  // Fast path for aligned 16-byte phases (cp.async, ldmatrix, v4 accesses): a lane covers the
  // four banks of its 16-byte chunk, so when the lanes' chunks sit at distinct positions of
  // the 128-byte bank row, every bank delivers one word: one wavefront.
  if (bytes == 16) {
    uint32_t positions = 0;
    bool fast = true;
    for (uint32_t r = m; r && fast; r &= r - 1) {
      uint32_t off = offsets[std::countr_zero(r)];
      uint32_t bit = 1u << (off / 16 % 8);
      fast = off % 16 == 0 && !(positions & bit);
      positions |= bit;
    }
    if (fast)
      return 1;
  }
  constexpr uint32_t kSlots = 256; // > 2 x the 128 words a phase may hold: probes stay short
  uint32_t set[kSlots] = {};       // word + 1; 0: empty
  uint8_t per_bank[32] = {};
  uint32_t n = 0, worst = 0;
  while (m) {
    uint32_t l = static_cast<uint32_t>(std::countr_zero(m));
    m &= m - 1;
    uint32_t w0 = offsets[l] / 4, w1 = (offsets[l] + bytes - 1) / 4;
    for (uint32_t w = w0; w <= w1 && n < 128; ++w, ++n) {
      uint32_t h = (w * 2654435761u) >> 24;
      while (set[h] && set[h] != w + 1)
        h = (h + 1) % kSlots;
      if (set[h])
        continue; // a word already counted: lanes share it
      set[h] = w + 1;
      worst = std::max<uint32_t>(worst, ++per_bank[w % 32]);
    }
  }
  return worst;
}

} // namespace

uint32_t shared_wavefronts(const uint32_t* offsets, uint32_t mask, uint32_t bytes,
                           uint32_t* ideal) {
  const uint32_t lanes_per_phase = bytes <= 4 ? 32 : 128 / bytes;
  uint32_t total = 0, phases = 0;
  for (uint32_t first = 0; first < 32; first += lanes_per_phase) {
    uint32_t phase_mask =
        lanes_per_phase == 32 ? 0xffffffffu : ((1u << lanes_per_phase) - 1) << first;
    uint32_t m = mask & phase_mask;
    if (!m)
      continue;
    ++phases;
    total += phase_wavefronts(offsets, m, bytes);
  }
  *ideal = phases;
  return total;
}

} // namespace tessel::sim
