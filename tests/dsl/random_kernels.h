// The kernels of the random-number tests (tests/dsl/random_test.cpp on the CPU backend,
// tests/device/random_test.cpp in the simulator): each writes what tl::philox / randint4x /
// randint / rand / randn give for given counters or offsets, so the tests can compare the bits
// against tests/support/philox_reference.h and between the backends.
#pragma once

#include "tessel/tessel.h"

namespace tessel::testing {

namespace tl = tessel::lang;

// A 64-bit seed from two Int arguments (kernels take 32-bit integers): (hi << 32) | lo.
inline tl::Tensor seed_of(const tl::Int& lo, const tl::Int& hi) {
  return (hi.to(tl::i64) << 32) | (lo.to(tl::i64) & 0xffffffffLL);
}

// out[4 i + w] = word w of philox(key, ctr[4 i .. 4 i + 3]) for i < n.
inline const Kernel& philox_words_kernel() {
  static const Kernel k =
      tl::kernel("test_philox_words", "out, ctr, key_lo, key_hi, n, BLOCK",
                 [](tl::Ptr out, tl::Ptr ctr, tl::Int key_lo, tl::Int key_hi, tl::Int n,
                    tl::Const<int> BLOCK) {
                   auto i = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto m = i < n;
                   auto word = [&](int w) { return tl::load(ctr + i * 4 + w, m); };
                   auto r = tl::philox(seed_of(key_lo, key_hi), word(0), word(1), word(2), word(3));
                   for (int w = 0; w < 4; ++w)
                     tl::store(out + i * 4 + w, r[w], m);
                 });
  return k;
}

// out[4 i + w] = word w of randint4x(seed, offsets[i]); the seed is the i32 seed_lo, or the i64
// (seed_hi, seed_lo) when SEED64. offsets are i32 or i64 (the pointer's dtype).
inline const Kernel& randint4x_kernel() {
  static const Kernel k =
      tl::kernel("test_randint4x", "out, offsets, seed_lo, seed_hi, n, SEED64, BLOCK",
                 [](tl::Ptr out, tl::Ptr offsets, tl::Int seed_lo, tl::Int seed_hi, tl::Int n,
                    tl::Const<int> SEED64, tl::Const<int> BLOCK) {
                   auto i = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto m = i < n;
                   auto offset = tl::load(offsets + i, m);
                   auto r = SEED64 ? tl::randint4x(seed_of(seed_lo, seed_hi), offset)
                                   : tl::randint4x(seed_lo, offset);
                   for (int w = 0; w < 4; ++w)
                     tl::store(out + i * 4 + w, r[w], m);
                 });
  return k;
}

// For offsets base + i (i < n): words[i] = randint, uniform[i] = rand, normal[i] = randn.
inline const Kernel& random_floats_kernel() {
  static const Kernel k =
      tl::kernel("test_random_floats", "words, uniform, normal, seed, base, n, BLOCK",
                 [](tl::Ptr words, tl::Ptr uniform, tl::Ptr normal, tl::Int seed, tl::Int base,
                    tl::Int n, tl::Const<int> BLOCK) {
                   auto i = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto m = i < n;
                   auto offset = base + i;
                   tl::store(words + i, tl::randint(seed, offset), m);
                   tl::store(uniform + i, tl::rand(seed, offset), m);
                   tl::store(normal + i, tl::randn(seed, offset), m);
                 });
  return k;
}

} // namespace tessel::testing
