// A plain C++ Philox 4x32-10 and the (seed, offset) -> float mappings of docs/language.md
// ("Random numbers"), written from the SC'11 paper's definition, independently of dsl/random.cpp:
// the tests compare the kernels' bits against it (and it against Random123's published vectors).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>

namespace tessel::testing {

using PhiloxWords = std::array<uint32_t, 4>;

inline PhiloxWords philox4x32_10(PhiloxWords ctr, std::array<uint32_t, 2> key) {
  constexpr uint64_t m0 = 0xD2511F53, m1 = 0xCD9E8D57;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key[0] += 0x9E3779B9u;
      key[1] += 0xBB67AE85u;
    }
    const uint64_t p0 = m0 * ctr[0], p1 = m1 * ctr[2];
    ctr = {uint32_t(p1 >> 32) ^ ctr[1] ^ key[0], uint32_t(p1), uint32_t(p0 >> 32) ^ ctr[3] ^ key[1],
           uint32_t(p0)};
  }
  return ctr;
}

// Triton's convention: key = the seed's two words, counter = (offset lo, offset hi, 0, 0).
inline PhiloxWords randint4x_reference(int64_t seed, uint64_t offset) {
  const auto s = uint64_t(seed);
  return philox4x32_10({uint32_t(offset), uint32_t(offset >> 32), 0, 0},
                       {uint32_t(s), uint32_t(s >> 32)});
}

// rand: the top 24 bits times 2^-24.
inline float uniform_reference(uint32_t word) { return float(word >> 8) * 0x1p-24f; }

// randn in f64 from the same words: sqrt(-2 ln u1) cos(2 pi u2), u1 = (k1 + 1) 2^-24.
inline double normal_reference(const PhiloxWords& w) {
  const double u1 = double((w[0] >> 8) + 1) * 0x1p-24, u2 = double(w[1] >> 8) * 0x1p-24;
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
}

} // namespace tessel::testing
