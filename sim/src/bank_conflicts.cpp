// Wavefront counting for shared-memory accesses: see bank_conflicts.h for the rules.
#include "bank_conflicts.h"

#include <algorithm>
#include <bit>

namespace tessel::sim {

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
    uint32_t words[128];
    uint32_t n = 0;
    while (m) {
      uint32_t l = static_cast<uint32_t>(std::countr_zero(m));
      m &= m - 1;
      uint32_t w0 = offsets[l] / 4, w1 = (offsets[l] + bytes - 1) / 4;
      for (uint32_t w = w0; w <= w1 && n < 128; ++w)
        words[n++] = w;
    }
    std::sort(words, words + n);
    n = static_cast<uint32_t>(std::unique(words, words + n) - words);
    uint8_t per_bank[32] = {};
    uint32_t worst = 0;
    for (uint32_t i = 0; i < n; ++i)
      worst = std::max<uint32_t>(worst, ++per_bank[words[i] % 32]);
    total += worst;
  }
  *ideal = phases;
  return total;
}

} // namespace tessel::sim
