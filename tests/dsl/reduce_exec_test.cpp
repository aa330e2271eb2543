// Reductions, scans, dot and shape ops executed on the CPU backend against C++ references, on
// 2-D tiles with masked edges, for several dtypes.
#include "support/host_array.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

namespace tl = tessel::lang;
using tessel::DType;
using tessel::testing::HostArray;
using tessel::testing::tolerance_for;

namespace {

constexpr int kRows = 16, kCols = 32; // tile shape
constexpr int64_t kR = 13, kC = 27;   // valid part: the rest is masked

enum Reduction : int { Sum, Max, Min, Argmax, Argmin, Custom, Cumsum };

const tessel::Kernel& reduce_kernel() {
  // Loads a kR x kC matrix into a 16x32 tile (masked elements are neutral for the reduction),
  // reduces along AXIS, stores the result.
  static const tessel::Kernel k = tl::kernel("reduce2d", [](tl::Ptr out, tl::Ptr in, tl::Int rows,
                                                            tl::Int cols, tl::Const<int> KIND,
                                                            tl::Const<int> AXIS) {
    auto r = tl::expand_dims(tl::arange(0, kRows), 1);
    auto c = tl::expand_dims(tl::arange(0, kCols), 0);
    auto mask = (r < rows) & (c < cols);
    double big = tessel::dtype_is_float(in.dtype()) ? 1e30 : 2e9;
    double neutral = KIND == Max || KIND == Argmax ? -big : KIND == Min || KIND == Argmin ? big : 0;
    if (KIND == Custom)
      neutral = 1;
    auto x = tl::load(in + r * cols + c, mask, neutral);
    if (KIND == Cumsum) {
      auto s = tl::cumsum(x, AXIS);
      tl::store(out + r * cols + c, s, mask);
      return;
    }
    tl::Tensor y;
    switch (KIND) {
    case Sum:
      y = tl::sum(x, AXIS);
      break;
    case Max:
      y = tl::max(x, AXIS);
      break;
    case Min:
      y = tl::min(x, AXIS);
      break;
    case Argmax:
      y = tl::argmax(x, AXIS);
      break;
    case Argmin:
      y = tl::argmin(x, AXIS);
      break;
    case Custom: // product of absolute values (associative)
      y = tl::reduce(x, AXIS, [](tl::Tensor a, tl::Tensor b) { return tl::abs(a) * tl::abs(b); });
      break;
    }
    auto idx = tl::arange(0, AXIS == 0 ? kCols : kRows);
    tl::store(out + idx, y, idx < (AXIS == 0 ? cols : rows));
  });
  return k;
}

double reduce_ref(const HostArray& in, int kind, int axis, int64_t j) {
  int64_t len = axis == 0 ? kR : kC;
  double acc = kind == Sum                     ? 0
               : kind == Custom                ? 1
               : kind == Max || kind == Argmax ? -INFINITY
                                               : INFINITY;
  int64_t best = 0;
  for (int64_t i = 0; i < len; ++i) {
    double v = axis == 0 ? in.get(size_t(i * kC + j)) : in.get(size_t(j * kC + i));
    switch (kind) {
    case Sum:
      acc += v;
      break;
    case Custom:
      acc = std::fabs(acc) * std::fabs(v);
      break;
    case Max:
    case Argmax:
      if (v > acc) {
        acc = v;
        best = i;
      }
      break;
    case Min:
    case Argmin:
      if (v < acc) {
        acc = v;
        best = i;
      }
      break;
    }
  }
  return kind == Argmax || kind == Argmin ? double(best) : acc;
}

struct ReduceParam {
  int kind;
  int axis;
  DType dtype;
};

class Reduce : public ::testing::TestWithParam<ReduceParam> {};

TEST_P(Reduce, MatchesReference) {
  auto [kind, axis, t] = GetParam();
  HostArray in(t, kR * kC);
  in.fill_random(uint64_t(kind * 10 + axis), kind == Custom ? 0.5 : -20, kind == Custom ? 1.5 : 20);
  if (kind == Argmax || kind == Argmin) // ties: the first index wins
    for (int64_t i = 0; i < kR; ++i)
      in.set(size_t(i * kC + 5), in.get(size_t(i * kC + 3)));
  bool index = kind == Argmax || kind == Argmin;
  int64_t n_out = kind == Cumsum ? kR * kC : axis == 0 ? kC : kR;
  HostArray out(index ? DType::i32 : t, size_t(n_out));
  out.poison();
  reduce_kernel().launch({1}, {}, out.arg(), in.arg(), kR, kC, kind, axis);
  double tol = tolerance_for(t, 64); // sums of 13..27 terms, any order
  if (kind == Cumsum) {
    for (int64_t r = 0; r < kR; ++r) {
      for (int64_t c = 0; c < kC; ++c) {
        double want = 0;
        if (axis == 1)
          for (int64_t k = 0; k <= c; ++k)
            want += in.get(size_t(r * kC + k));
        else
          for (int64_t k = 0; k <= r; ++k)
            want += in.get(size_t(k * kC + c));
        ASSERT_TRUE(tessel::testing::close_enough(out.get(size_t(r * kC + c)), want, tol))
            << "cumsum axis " << axis << " at " << r << "," << c << ": got "
            << out.get(size_t(r * kC + c)) << " want " << want;
      }
    }
    return;
  }
  for (int64_t j = 0; j < n_out; ++j) {
    double want = reduce_ref(in, kind, axis, j);
    if (!index) {
      HostArray w(t, 1);
      w.set(0, want);
      if (kind != Sum && kind != Custom)
        want = w.get(0);
    }
    EXPECT_TRUE(tessel::testing::close_enough(out.get(size_t(j)), want, index ? 0 : tol))
        << "kind " << kind << " axis " << axis << " " << tessel::dtype_name(t) << " at " << j
        << ": got " << out.get(size_t(j)) << " want " << want;
  }
}

std::vector<ReduceParam> reduce_params() {
  std::vector<ReduceParam> out;
  for (int kind : {Sum, Max, Min, Argmax, Argmin, Custom, Cumsum})
    for (int axis : {0, 1})
      for (DType t : {DType::f32, DType::f16, DType::bf16, DType::i32}) {
        if (kind == Custom && t == DType::i32)
          continue;
        out.push_back({kind, axis, t});
      }
  return out;
}

std::string reduce_name(const ::testing::TestParamInfo<ReduceParam>& info) {
  static const char* names[] = {"sum", "max", "min", "argmax", "argmin", "custom", "cumsum"};
  return std::string(names[info.param.kind]) + "_axis" + std::to_string(info.param.axis) + "_" +
         tessel::dtype_name(info.param.dtype);
}

INSTANTIATE_TEST_SUITE_P(All, Reduce, ::testing::ValuesIn(reduce_params()), reduce_name);

// ---- dot ----------------------------------------------------------------------------------------

class Dot : public ::testing::TestWithParam<DType> {};

TEST_P(Dot, MatchesReference) {
  const DType t = GetParam();
  static const tessel::Kernel k =
      tl::kernel("dot_tile", [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Ptr bias) {
        auto m = tl::expand_dims(tl::arange(0, 16), 1);
        auto n = tl::expand_dims(tl::arange(0, 32), 0);
        auto kk = tl::arange(0, 8);
        auto at = tl::load(a + m * 8 + tl::expand_dims(kk, 0));
        auto bt = tl::load(b + tl::expand_dims(kk, 1) * 32 + n);
        auto acc = tl::load(bias + m * 32 + n).to(tl::f32);
        tl::store(c + m * 32 + n, tl::dot(at, bt, acc));
      });
  HostArray a(t, 16 * 8), b(t, 8 * 32), bias(DType::f32, 16 * 32), c(DType::f32, 16 * 32);
  a.fill_random(1, -2, 2);
  b.fill_random(2, -2, 2);
  bias.fill_random(3, -1, 1);
  c.poison();
  k.launch({1}, {}, c.arg(), a.arg(), b.arg(), bias.arg());
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 32; ++j) {
      double want = bias.get(size_t(i * 32 + j));
      for (int p = 0; p < 8; ++p)
        want += a.get(size_t(i * 8 + p)) * b.get(size_t(p * 32 + j));
      EXPECT_NEAR(c.get(size_t(i * 32 + j)), want, 1e-4 * std::max(1.0, std::fabs(want)))
          << tessel::dtype_name(t) << " at " << i << "," << j;
    }
}

INSTANTIATE_TEST_SUITE_P(Types, Dot, ::testing::Values(DType::f32, DType::f16, DType::bf16),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(tessel::dtype_name(info.param));
                         });

// precision tf32 on the CPU: the operands are rounded to tf32 (nearest, ties away) as on the GPU's
// tensor cores, so CPU and GPU agree; the result differs from the ieee product.
TEST(DotPrecision, Tf32RoundsTheOperandsOnTheCpu) {
  static const tessel::Kernel k = tl::kernel("dot_tf32", [](tl::Ptr c, tl::Ptr a, tl::Ptr b) {
    auto m = tl::expand_dims(tl::arange(0, 16), 1);
    auto n = tl::expand_dims(tl::arange(0, 16), 0);
    auto at = tl::load(a + m * 16 + n);
    auto bt = tl::load(b + m * 16 + n);
    tl::store(c + m * 16 + n, tl::dot(at, bt, tl::Precision::tf32));
  });
  HostArray a(DType::f32, 256), b(DType::f32, 256), c(DType::f32, 256);
  a.fill_random(6, -2, 2);
  b.fill_random(7, -2, 2);
  c.poison();
  k.launch({1}, {}, c.arg(), a.arg(), b.arg());
  auto tf32 = [](double x) {
    return double(
        std::bit_cast<float>((std::bit_cast<uint32_t>(float(x)) + 0x1000u) & 0xffffe000u));
  };
  int differs = 0;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      double want = 0, ieee = 0, magnitude = 0;
      for (int p = 0; p < 16; ++p) {
        const double x = a.get(size_t(i * 16 + p)), y = b.get(size_t(p * 16 + j));
        want += tf32(x) * tf32(y);
        ieee += x * y;
        magnitude += std::fabs(x * y);
      }
      const double got = c.get(size_t(i * 16 + j));
      EXPECT_NEAR(got, want, 1e-6 * magnitude) << i << "," << j;
      differs += std::fabs(got - ieee) > 1e-6 * magnitude;
    }
  EXPECT_GT(differs, 0) << "tf32 rounding had no effect";
}

TEST(DotInt, AccumulatesInI32) {
  auto k = tl::kernel("dot_i8", [](tl::Ptr c, tl::Ptr a, tl::Ptr b) {
    auto m = tl::expand_dims(tl::arange(0, 16), 1);
    auto n = tl::expand_dims(tl::arange(0, 16), 0);
    auto at = tl::load(a + m * 16 + n);
    auto bt = tl::load(b + m * 16 + n);
    tl::store(c + m * 16 + n, tl::dot(at, bt));
  });
  HostArray a(DType::i8, 256), b(DType::i8, 256), c(DType::i32, 256);
  a.fill_random(4, -120, 120);
  b.fill_random(5, -120, 120);
  c.poison();
  k.launch({1}, {}, c.arg(), a.arg(), b.arg());
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      double want = 0;
      for (int p = 0; p < 16; ++p)
        want += a.get(size_t(i * 16 + p)) * b.get(size_t(p * 16 + j));
      EXPECT_EQ(c.get(size_t(i * 16 + j)), want);
    }
}

// ---- shape ops
// ------------------------------------------------------------------------------------

TEST(ShapeOps, TransPermuteReshapeBroadcast) {
  auto k = tl::kernel("shapes", [](tl::Ptr out, tl::Ptr in) {
    auto r = tl::expand_dims(tl::arange(0, 4), 1);
    auto c = tl::expand_dims(tl::arange(0, 8), 0);
    auto x = tl::load(in + r * 8 + c);                             // 4 x 8
    auto t = tl::trans(x);                                         // 8 x 4
    auto flat = tl::reshape(t, {32});                              // row-major flatten of the 8x4
    auto back = tl::reshape(flat, {2, 16});                        // 2 x 16
    auto p = tl::permute(tl::reshape(back, {2, 4, 4}), {2, 0, 1}); // 4 x 2 x 4
    auto colsum = tl::broadcast_to(tl::expand_dims(tl::sum(x, 0), 0), {4, 8});
    tl::store(out + tl::arange(0, 32), flat);
    tl::store(out + 32 + tl::arange(0, 32), tl::reshape(p, {32}));
    tl::store(out + 64 + r * 8 + c, colsum);
  });
  HostArray in(DType::f32, 32), out(DType::f32, 96);
  in.fill_random(9, -5, 5);
  out.poison();
  k.launch({1}, {}, out.arg(), in.arg());
  auto x = [&](int i, int j) { return in.get(size_t(i * 8 + j)); };
  // flat[k] = t[k/4][k%4] = x[k%4][k/4]
  for (int k2 = 0; k2 < 32; ++k2)
    EXPECT_EQ(out.get(size_t(k2)), x(k2 % 4, k2 / 4)) << k2;
  // back as 2x4x4: b3[a][b][c] = flat[a*16 + b*4 + c]; p[i][j][l] = b3[j][l][i]
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j)
      for (int l = 0; l < 4; ++l) {
        int f = j * 16 + l * 4 + i;
        EXPECT_EQ(out.get(size_t(32 + i * 8 + j * 4 + l)), x(f % 4, f / 4));
      }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 8; ++j) {
      double s = 0;
      for (int q = 0; q < 4; ++q)
        s += x(q, j);
      EXPECT_NEAR(out.get(size_t(64 + i * 8 + j)), s, 1e-5);
    }
}

} // namespace
