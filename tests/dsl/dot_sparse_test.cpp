// tl::dot_sparse (tessel/lang/dot_sparse.h) on the CPU backend: the product of the decompressed
// 2:4 operand against an f64 reference built here from the ISA's metadata rule (nibble per group of
// 4, low two bits the first kept position, high two the second; group i of a word at bits
// 4i..4i+3), outputs poisoned first; an invalid nibble gives NaN; and the DSL's argument errors,
// each naming the argument. (The GPU side runs in tests/gpu/mma_sp_sim_test.cpp.)
#include "support/expect_error.h"
#include "support/host_array.h"
#include "tessel/lang/dot_sparse.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace tl = tessel::lang;
using tessel::DType;
using tessel::testing::expect_error;
using tessel::testing::HostArray;

namespace {

// c[M, N] = dot_sparse(a [M, K/2], b [K, N], e [M, K/16]) + 0, f32 out.
const tessel::Kernel& sparse_tile() {
  static const tessel::Kernel k = tl::kernel(
      "dot_sparse_tile", [](tl::PtrOf<float> c, tl::Ptr a, tl::Ptr b, tl::PtrOf<int16_t> e,
                            tl::Const<int> M, tl::Const<int> N, tl::Const<int> K) {
        auto rm = tl::expand_dims(tl::arange(0, M), 1);
        auto rn = tl::expand_dims(tl::arange(0, N), 0);
        auto av = tl::load(a + rm * (K / 2) + tl::expand_dims(tl::arange(0, K / 2), 0));
        auto bv = tl::load(b + tl::expand_dims(tl::arange(0, K), 1) * N + rn);
        auto ev = tl::load(e + rm * (K / 16) + tl::expand_dims(tl::arange(0, K / 16), 0));
        tl::store(c + rm * N + rn, tl::dot_sparse(av, bv, ev, tl::zeros({M, N}, DType::f32)));
      });
  return k;
}

// A random 2:4 operand: values (multiples of 1/8 in [-2, 2]: exact in f16 and bf16, and so are the
// products and their f32 sums here), metadata with two different increasing positions per group,
// and the dense M x K matrix they stand for.
struct Sparse {
  HostArray values, meta;
  std::vector<double> dense;
};

Sparse random_sparse(DType t, int m, int k, uint32_t seed) {
  std::mt19937 rng(seed);
  Sparse s{HostArray(t, size_t(m) * k / 2), HostArray(DType::i16, size_t(m) * k / 16),
           std::vector<double>(size_t(m) * k, 0.0)};
  for (int i = 0; i < m; ++i)
    for (int g = 0; g < k / 4; ++g) {
      int first = int(rng() % 4), second = int(rng() % 3);
      second += second >= first; // a different position
      if (first > second)
        std::swap(first, second);
      const double v0 = (int(rng() % 33) - 16) / 8.0, v1 = (int(rng() % 33) - 16) / 8.0;
      s.values.set(size_t(i) * k / 2 + 2 * g, v0);
      s.values.set(size_t(i) * k / 2 + 2 * g + 1, v1);
      s.dense[size_t(i) * k + 4 * g + first] = v0;
      s.dense[size_t(i) * k + 4 * g + second] = v1;
      const size_t w = size_t(i) * k / 16 + g / 4;
      const int word = (g % 4 == 0 ? 0 : int(uint16_t(int16_t(s.meta.get(w))))) |
                       (first | second << 2) << (4 * (g % 4));
      s.meta.set(w, double(int16_t(uint16_t(word))));
    }
  return s;
}

class DotSparseCpu : public ::testing::TestWithParam<std::tuple<DType, int, int, int>> {};

TEST_P(DotSparseCpu, IsTheDenseProductOfTheDecompressedA) {
  const auto [t, m, n, k] = GetParam();
  Sparse a = random_sparse(t, m, k, 11);
  HostArray b(t, size_t(k) * n), c(DType::f32, size_t(m) * n);
  b.fill_random(12, -2, 2);
  for (size_t i = 0; i < b.size(); ++i) // multiples of 1/8: exact products and sums
    b.set(i, std::round(b.get(i) * 8) / 8);
  c.poison();
  sparse_tile().launch({1}, {}, c.arg(), a.values.arg(), b.arg(), a.meta.arg(), m, n, k);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double want = 0;
      for (int kk = 0; kk < k; ++kk)
        want += a.dense[size_t(i) * k + kk] * b.get(size_t(kk) * n + j);
      ASSERT_EQ(c.get(size_t(i) * n + j), want) << "at (" << i << ", " << j << ")";
    }
}

INSTANTIATE_TEST_SUITE_P(Shapes, DotSparseCpu,
                         ::testing::Values(std::tuple{DType::f16, 16, 8, 16},
                                           std::tuple{DType::f16, 16, 16, 32},
                                           std::tuple{DType::bf16, 32, 16, 64},
                                           std::tuple{DType::f16, 1, 4, 128},
                                           std::tuple{DType::bf16, 64, 32, 32}),
                         [](const auto& info) {
                           const auto& p = info.param;
                           return std::string(tessel::dtype_name(std::get<0>(p))) + "_" +
                                  std::to_string(std::get<1>(p)) + "x" +
                                  std::to_string(std::get<2>(p)) + "x" +
                                  std::to_string(std::get<3>(p));
                         });

// A group naming one position twice (0b0101) is undefined on mma.sp; the CPU makes its row NaN.
TEST(DotSparseCpuMetadata, InvalidNibbleGivesNaNRow) {
  const int m = 16, n = 8, k = 32;
  Sparse a = random_sparse(DType::f16, m, k, 21);
  a.meta.set(size_t(5) * k / 16 + 1, double(int16_t(0x4454))); // row 5, word 1, group 1: 0b0101
  HostArray b(DType::f16, size_t(k) * n), c(DType::f32, size_t(m) * n);
  b.fill_random(22, -2, 2);
  c.poison();
  sparse_tile().launch({1}, {}, c.arg(), a.values.arg(), b.arg(), a.meta.arg(), m, n, k);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      EXPECT_EQ(std::isnan(c.get(size_t(i) * n + j)), i == 5) << "at (" << i << ", " << j << ")";
}

// ---- argument errors ----------------------------------------------------------------------------

std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }
int g_line = 0;
float g_buffer[64];

// A kernel whose dot_sparse takes a [M, KA], b [KB, N] of `bt`, e [M, KE], acc f32.
void expect_dot_sparse_error(DType at, DType bt, int m, int ka, int kb, int n, int ke,
                             std::vector<std::string> words) {
  auto k = tl::kernel("bad_dot_sparse", [&](tl::Ptr p) {
    auto a = tl::zeros({m, ka}, at);
    auto b = tl::zeros({kb, n}, bt);
    auto e = tl::zeros({m, ke}, DType::i16);
    g_line = __LINE__ + 1;
    auto r = tl::dot_sparse(a, b, e, tl::zeros({m, n}, DType::f32));
    tl::store(p + tl::arange(0, n), tl::sum(r, 0));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [&] {
                 std::vector<std::string> all{here(g_line), "dot_sparse"};
                 all.insert(all.end(), words.begin(), words.end());
                 return all;
               });
}

TEST(DotSparseErrors, KNotAMultipleOf16) {
  expect_dot_sparse_error(DType::f16, DType::f16, 16, 4, 8, 8, 1,
                          {"b has K = 8", "multiple of 16"});
}
TEST(DotSparseErrors, AValuesNotHalfOfK) {
  expect_dot_sparse_error(DType::f16, DType::f16, 16, 32, 32, 8, 2,
                          {"a_values must be M x K/2 = 16 x 16"});
}
TEST(DotSparseErrors, MetaOfTheWrongShape) {
  expect_dot_sparse_error(DType::f16, DType::f16, 16, 16, 32, 8, 4,
                          {"meta must be M x K/16 = 16 x 2", "meta i16[16, 4]"});
}
TEST(DotSparseErrors, F32Operands) {
  expect_dot_sparse_error(DType::f32, DType::f32, 16, 16, 32, 8, 2,
                          {"a_values must be f16 or bf16"});
}
TEST(DotSparseErrors, BOfAnotherDtype) {
  expect_dot_sparse_error(DType::f16, DType::bf16, 16, 16, 32, 8, 2,
                          {"b must have a_values' dtype f16"});
}

} // namespace
