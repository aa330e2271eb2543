// Random numbers on the CPU backend (docs/language.md, "Random numbers"): Philox 4x32-10 against
// Random123's published known-answer vectors, randint4x / randint / rand / randn against the plain
// reference of tests/support/philox_reference.h bit for bit, the sample moments of rand and randn
// with fixed seeds (deterministic: the same numbers every run), and umulhi against a wide multiply.
// The simulator runs the same kernels in tests/device/random_test.cpp.
#include "dsl/random_kernels.h"
#include "support/philox_reference.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace tessel::testing {
namespace {

struct Kat {
  PhiloxWords ctr;
  std::array<uint32_t, 2> key;
  PhiloxWords out;
};

// Random123's tests/kat_vectors, philox4x32 with 10 rounds: counter, key, result.
const Kat kKats[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

LaunchOptions on_cpu() {
  LaunchOptions o;
  o.device = DeviceKind::cpu;
  return o;
}

TEST(PhiloxReference, MatchesRandom123KnownAnswers) {
  for (const Kat& k : kKats)
    EXPECT_EQ(philox4x32_10(k.ctr, k.key), k.out);
}

TEST(Philox, KnownAnswersOnTheCpu) {
  for (const Kat& k : kKats) {
    // Each vector's counter in four elements of a tile of 16 (the rest masked off).
    std::vector<uint32_t> ctr(16 * 4, 0), out(16 * 4, 0xDEADBEEF);
    for (int i = 0; i < 4; ++i)
      std::memcpy(&ctr[4 * i], k.ctr.data(), 16);
    philox_words_kernel().launch({1}, on_cpu(), reinterpret_cast<int32_t*>(out.data()),
                                 reinterpret_cast<int32_t*>(ctr.data()), int32_t(k.key[0]),
                                 int32_t(k.key[1]), 4, 16);
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ((PhiloxWords{out[4 * i], out[4 * i + 1], out[4 * i + 2], out[4 * i + 3]}), k.out);
    EXPECT_EQ(out[16], 0xDEADBEEFu) << "a masked-off element was written";
  }
}

// randint4x of n offsets with `seed`; the words as written by the kernel.
template <class Offset>
std::vector<uint32_t> randint4x_on_cpu(const std::vector<Offset>& offsets, int64_t seed,
                                       bool seed64, int block) {
  std::vector<uint32_t> out(offsets.size() * 4, 0xDEADBEEF);
  const int n = int(offsets.size());
  randint4x_kernel().launch(
      {(n + block - 1) / block}, on_cpu(), reinterpret_cast<int32_t*>(out.data()), offsets.data(),
      int32_t(uint64_t(seed)), int32_t(uint64_t(seed) >> 32), n, int(seed64), block);
  return out;
}

template <class Offset>
void expect_reference_words(const std::vector<Offset>& offsets, const std::vector<uint32_t>& out,
                            int64_t seed) {
  for (size_t i = 0; i < offsets.size(); ++i) {
    // An i32 offset is read as unsigned: counter (offset, 0, 0, 0).
    uint64_t off = sizeof(Offset) == 4 ? uint64_t(uint32_t(offsets[i])) : uint64_t(offsets[i]);
    PhiloxWords want = randint4x_reference(seed, off);
    for (int w = 0; w < 4; ++w)
      ASSERT_EQ(out[4 * i + w], want[w]) << "offset " << offsets[i] << " word " << w;
  }
}

TEST(Randint4x, I32OffsetsAndI32SeedsMatchTheReference) {
  std::mt19937 gen(7);
  std::vector<int32_t> offsets(1000);
  for (int32_t& o : offsets)
    o = int32_t(gen());
  offsets[0] = 0;
  offsets[1] = -1; // 0xffffffff: hi stays 0
  for (int32_t seed : {0, 42, -7, INT32_MIN}) {
    SCOPED_TRACE(seed);
    // A negative i32 seed is sign-extended: key (seed, 0xffffffff), as Triton's seed.to(uint64).
    expect_reference_words(offsets, randint4x_on_cpu(offsets, seed, false, 128), seed);
  }
}

TEST(Randint4x, I64OffsetsAndI64SeedsMatchTheReference) {
  std::mt19937_64 gen(11);
  std::vector<int64_t> offsets(777);
  for (int64_t& o : offsets)
    o = int64_t(gen());
  offsets[0] = int64_t(1) << 32; // only the high word set
  for (int64_t seed : {int64_t(0x299f31d0a4093822), int64_t(-1), int64_t(12345)}) {
    SCOPED_TRACE(seed);
    expect_reference_words(offsets, randint4x_on_cpu(offsets, seed, true, 64), seed);
  }
}

TEST(Randint4x, ZeroSeedAndOffsetGiveTheZeroVector) {
  std::vector<int32_t> offsets = {0};
  EXPECT_EQ(randint4x_on_cpu(offsets, 0, false, 16),
            (std::vector<uint32_t>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
}

TEST(Randint4x, BitsDoNotDependOnTheBlock) {
  std::vector<int32_t> offsets(1000);
  for (int i = 0; i < 1000; ++i)
    offsets[i] = 3 * i + 5;
  EXPECT_EQ(randint4x_on_cpu(offsets, 99, false, 16), randint4x_on_cpu(offsets, 99, false, 256));
}

struct Floats {
  std::vector<uint32_t> words;
  std::vector<float> uniform, normal;
};

Floats random_floats_on_cpu(int seed, int base, int n, int block = 256) {
  Floats f{std::vector<uint32_t>(n, 0xDEADBEEF), std::vector<float>(n, NAN),
           std::vector<float>(n, NAN)};
  random_floats_kernel().launch({(n + block - 1) / block}, on_cpu(),
                                reinterpret_cast<int32_t*>(f.words.data()), f.uniform.data(),
                                f.normal.data(), seed, base, n, block);
  return f;
}

TEST(Rand, IsTheTop24BitsOfRandintTimesTwoToMinus24) {
  Floats f = random_floats_on_cpu(2024, 100, 1000);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(f.words[i], randint4x_reference(2024, 100 + i)[0]) << i;
    ASSERT_EQ(std::bit_cast<uint32_t>(f.uniform[i]),
              std::bit_cast<uint32_t>(uniform_reference(f.words[i])))
        << i;
    ASSERT_GE(f.uniform[i], 0.0f);
    ASSERT_LT(f.uniform[i], 1.0f);
  }
}

// 2^16 samples with fixed seeds: deterministic, so these bounds either always hold or never. They
// are ~5 standard errors wide (mean: sqrt(1/12 / 2^16) = 0.0011; variance: 0.00047), so a broken
// mapping (the low bits, a sign, a missing scale) fails them and a correct one passes.
TEST(Rand, MeanAndVarianceOfAUniform) {
  const int n = 1 << 16;
  Floats f = random_floats_on_cpu(1, 0, n, 1024);
  double sum = 0, sq = 0;
  for (float u : f.uniform) {
    sum += u;
    sq += double(u) * u;
  }
  const double mean = sum / n, var = sq / n - mean * mean;
  EXPECT_NEAR(mean, 0.5, 0.006);
  EXPECT_NEAR(var, 1.0 / 12, 0.0025);
}

TEST(Randn, MatchesBoxMullerOfTheSameWordsAndHasUnitMoments) {
  const int n = 1 << 16;
  Floats f = random_floats_on_cpu(77, 5, n, 1024);
  double sum = 0, sq = 0, fourth = 0;
  for (int i = 0; i < n; ++i) {
    const double want = normal_reference(randint4x_reference(77, 5 + i));
    // f32 log, sqrt, cos and 2 pi u2 rounded: a few ulps of |n| < 5.8.
    ASSERT_NEAR(f.normal[i], want, 2e-5 * (1 + std::fabs(want))) << i;
    sum += f.normal[i];
    sq += double(f.normal[i]) * f.normal[i];
    fourth += std::pow(double(f.normal[i]), 4);
  }
  // Standard errors: mean 1/256, variance sqrt(2)/256, fourth moment sqrt(96)/256.
  EXPECT_NEAR(sum / n, 0.0, 0.02);
  EXPECT_NEAR(sq / n, 1.0, 0.03);
  EXPECT_NEAR(fourth / n, 3.0, 0.2);
}

TEST(Random, ScalarOffsetPerProgram) {
  // One number per program: the offset is the program id (a scalar), the seed a C++ constant.
  static const Kernel k = tl::kernel("test_rand_per_program", "out", [](tl::Ptr out) {
    auto pid = tl::program_id(0);
    tl::store(out + pid, tl::randint(int64_t(0x123456789), pid));
  });
  std::vector<uint32_t> out(8, 0xDEADBEEF);
  k.launch({8}, on_cpu(), reinterpret_cast<int32_t*>(out.data()));
  for (uint32_t p = 0; p < 8; ++p)
    EXPECT_EQ(out[p], randint4x_reference(0x123456789, p)[0]) << p;
}

TEST(Umulhi, CpuMatchesAWideMultiply) {
  static const Kernel k =
      tl::kernel("test_umulhi", "out32, a32, b32, out64, a64, b64, BLOCK",
                 [](tl::Ptr out32, tl::Ptr a32, tl::Ptr b32, tl::Ptr out64, tl::Ptr a64,
                    tl::Ptr b64, tl::Const<int> BLOCK) {
                   auto i = tl::arange(0, BLOCK);
                   tl::store(out32 + i, tl::umulhi(tl::load(a32 + i), tl::load(b32 + i)));
                   tl::store(out64 + i, tl::umulhi(tl::load(a64 + i), tl::load(b64 + i)));
                 });
  const int n = 256;
  std::mt19937_64 gen(3);
  std::vector<uint32_t> a32(n), b32(n), o32(n);
  std::vector<uint64_t> a64(n), b64(n), o64(n);
  for (int i = 0; i < n; ++i) {
    a32[i] = uint32_t(gen());
    b32[i] = uint32_t(gen());
    a64[i] = gen();
    b64[i] = gen();
  }
  a32[0] = b32[0] = 0xffffffffu;
  a64[0] = b64[0] = ~uint64_t(0);
  k.launch({1}, on_cpu(), reinterpret_cast<int32_t*>(o32.data()),
           reinterpret_cast<int32_t*>(a32.data()), reinterpret_cast<int32_t*>(b32.data()),
           reinterpret_cast<int64_t*>(o64.data()), reinterpret_cast<int64_t*>(a64.data()),
           reinterpret_cast<int64_t*>(b64.data()), n);
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(o32[i], uint32_t((uint64_t(a32[i]) * b32[i]) >> 32)) << i;
    ASSERT_EQ(o64[i], uint64_t((unsigned __int128)a64[i] * b64[i] >> 64)) << i;
  }
}

} // namespace
} // namespace tessel::testing
