// Edge cases of the language's semantics, each from a review finding: negative ranges, lazy
// values shared with a skipped dot, handles without a value, single rounding to bf16, constants
// rounded to their type, loop bounds near INT32_MAX. (Their
// diagnostics are in errors_test.cpp.)
#include "support/expect_error.h"
#include "support/host_array.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <climits>
#include <cmath>

namespace tl = tessel::lang;
using tessel::DType;
using tessel::testing::expect_error;
using tessel::testing::HostArray;

namespace {

TEST(Semantics, ArangeWithNegativeStart) {
  auto k = tl::kernel("neg_arange", [](tl::Ptr out) {
    auto r = tl::arange(-4, 4);
    tl::store(out + tl::arange(0, 8), (r >= 0).to(tl::i32) * 10 + r);
  });
  HostArray out(DType::i32, 8);
  out.poison();
  k.launch({1}, {}, out.arg());
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(out.get(size_t(i)), (i - 4 >= 0 ? 10 : 0) + i - 4) << i;
}

// `a` is lazy, used by a dot inside one branch and directly after the if_.
TEST(Semantics, ValueSharedWithASkippedDotStaysIntact) {
  auto k = tl::kernel("dot_in_if", [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Int flag) {
    auto r = tl::expand_dims(tl::arange(0, 16), 1);
    auto col = tl::expand_dims(tl::arange(0, 16), 0);
    auto offs = r * 16 + col;
    auto x = tl::load(a + offs) * 2.0f;
    auto out = tl::zeros({16, 16}, tl::f32);
    tl::if_(
        flag == 2, [&] { out = tl::dot(x, tl::load(b + offs)); }, [&] { out = x; });
    tl::store(c + offs, out + x);
  });
  HostArray a(DType::f32, 256), b(DType::f32, 256), c(DType::f32, 256);
  a.fill_random(1, -1, 1);
  b.fill_random(2, -1, 1);
  for (int flag : {0, 2}) {
    c.poison();
    k.launch({1}, {}, c.arg(), a.arg(), b.arg(), flag);
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j) {
        double x = 2 * a.get(size_t(i * 16 + j));
        double want = x;
        if (flag == 2) {
          want = 0;
          for (int p = 0; p < 16; ++p)
            want += 2 * a.get(size_t(i * 16 + p)) * b.get(size_t(p * 16 + j));
        }
        ASSERT_NEAR(c.get(size_t(i * 16 + j)), want + x, 1e-4) << "flag " << flag;
      }
  }
}

TEST(Semantics, HandleWithoutAValueCannotBeCarried) {
  auto loop = tl::kernel("no_value_loop", [](tl::Ptr p, tl::Int n) {
    tl::Tensor t;
    tl::for_range(0, n, 1, [&](tl::Int) { t = tl::zeros({16}, tl::f32); });
    tl::store(p + tl::arange(0, 16), t);
  });
  float buf[16];
  expect_error([&] { loop.ir_for(false, buf, 3); }, {"for_range", "has no value before the body"});
  auto one_branch = tl::kernel("no_value_if", [](tl::Ptr p, tl::Int n) {
    tl::Tensor t;
    tl::if_(n > 0, [&] { t = tl::zeros({16}, tl::f32); });
    tl::store(p + tl::arange(0, 16), t);
  });
  expect_error([&] { one_branch.ir_for(false, buf, 3); }, {"if_", "assigned in only one branch"});
  auto both = tl::kernel("value_in_both", [](tl::Ptr p, tl::Int n) {
    tl::Tensor t;
    tl::if_(
        n > 0, [&] { t = tl::full({16}, 1, tl::f32); }, [&] { t = tl::full({16}, 2, tl::f32); });
    tl::store(p + tl::arange(0, 16), t);
  });
  HostArray out(DType::f32, 16);
  both.launch({1}, {}, out.arg(), 5);
  EXPECT_EQ(out.get(0), 1);
  both.launch({1}, {}, out.arg(), -5);
  EXPECT_EQ(out.get(0), 2);
}

// 1 + 2^-8 + 2^-30 lies just above the midpoint between bf16 neighbours 1 and 1 + 2^-7: it must
// round up; through f32 first it would land exactly on the midpoint and round to even (1.0).
TEST(Semantics, ConversionsToBf16RoundOnce) {
  const double tricky = 1 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30);
  auto k =
      tl::kernel("bf16_once", [](tl::Ptr out, tl::Ptr in_f64, tl::Ptr in_i32, tl::Const<double> C) {
        tl::store(out, tl::load(in_f64).to(tl::bf16));
        tl::store(out + 1, tl::load(in_i32).to(tl::bf16));
        tl::store(out + 2, tl::scalar(C, tl::bf16));
      });
  HostArray out(DType::bf16, 3), f(DType::f64, 1), i(DType::i32, 1);
  f.set(0, tricky);
  i.set(0, 16842753); // 2^24 + 2^16 + 1: just above a bf16 midpoint
  out.poison();
  k.launch({1}, {}, out.arg(), f.arg(), i.arg(), tricky);
  EXPECT_EQ(out.get(0), 1.0078125);
  EXPECT_EQ(out.get(1), 16908288.0);
  EXPECT_EQ(out.get(2), 1.0078125);
  EXPECT_EQ(tessel::round_to_dtype(tricky, tessel::bf16), 1.0078125);
}

TEST(Semantics, FloatConstantsAreRoundedToTheirType) {
  auto k = tl::kernel("const_round", [](tl::Ptr out) {
    tl::store(out + tl::arange(0, 16), tl::full({16}, 0.1, tl::f32).to(tl::f64));
  });
  HostArray out(DType::f64, 16);
  k.launch({1}, {}, out.arg());
  for (size_t i = 0; i < 16; ++i)
    EXPECT_EQ(out.get(i), double(0.1f));
}

TEST(Semantics, LoopBoundsNearInt32MaxTerminate) {
  auto k = tl::kernel("near_max", [](tl::Ptr out, tl::Int lo, tl::Int hi, tl::Int step) {
    auto count = tl::scalar(0, tl::i32);
    tl::for_range(lo, hi, step, [&](tl::Int) { count = count + 1; });
    tl::store(out, count);
  });
  HostArray out(DType::i32, 1);
  k.launch({1}, {}, out.arg(), 2147483000, INT32_MAX, 1024);
  EXPECT_EQ(out.get(0), 1);
  k.launch({1}, {}, out.arg(), 0, 10, 0); // a step <= 0 runs no iteration
  EXPECT_EQ(out.get(0), 0);
  k.launch({1}, {}, out.arg(), 0, 10, -1);
  EXPECT_EQ(out.get(0), 0);
}

TEST(Semantics, CompoundAssignments) {
  auto k = tl::kernel("compound", [](tl::Ptr out) {
    auto x = tl::arange(0, 8) + 100;
    x %= 7;
    x <<= 2;
    x |= 1;
    x ^= 3;
    x >>= 1;
    x &= 0xff;
    tl::store(out + tl::arange(0, 8), x);
  });
  HostArray out(DType::i32, 8);
  k.launch({1}, {}, out.arg());
  for (int i = 0; i < 8; ++i) {
    int x = i + 100;
    x %= 7;
    x <<= 2;
    x |= 1;
    x ^= 3;
    x >>= 1;
    x &= 0xff;
    EXPECT_EQ(out.get(size_t(i)), x);
  }
}

TEST(Semantics, FractionalScalarWithIntegerTilePromotesToF32) {
  auto k = tl::kernel("promote_where", [](tl::Ptr out) {
    auto i = tl::arange(0, 8);
    tl::store(out + i, tl::where(i < 4, i, 0.5));
  });
  HostArray out(DType::f32, 8);
  k.launch({1}, {}, out.arg());
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(out.get(size_t(i)), i < 4 ? i : 0.5);
}

// `!x` takes the handle itself (the bool conversion that rejects a C++ `if` on a handle must not
// make `!` ambiguous): it is x == 0, per element, on an integer tile with many zeros.
TEST(Semantics, LogicalNotIsEqualToZero) {
  auto k = tl::kernel("logical_not", [](tl::Ptr out, tl::Ptr in) {
    auto i = tl::arange(0, 64);
    tl::store(out + i, (!tl::load(in + i)).to(tl::i32));
  });
  HostArray in(DType::i32, 64), out(DType::i32, 64);
  in.fill_random(3, -2, 2);
  out.poison();
  k.launch({1}, {}, out.arg(), in.arg());
  int zeros = 0;
  for (size_t i = 0; i < 64; ++i) {
    zeros += in.get(i) == 0;
    EXPECT_EQ(out.get(i), in.get(i) == 0 ? 1 : 0) << i;
  }
  EXPECT_GT(zeros, 0);
}

TEST(SemanticsErrors, TileTooLarge) {
  auto k = tl::kernel("huge",
                      [](tl::Ptr p) { tl::store(p, tl::sum(tl::zeros({1 << 25}, tl::f32), 0)); });
  float buf[1];
  expect_error([&] { k.ir_for(false, buf); }, {"zeros", "more than 2^24 elements"});
}

TEST(SemanticsErrors, CombineFunctionMustOnlyCompute) {
  auto k = tl::kernel("impure_combine", [](tl::Ptr p) {
    auto x = tl::load(p + tl::arange(0, 8));
    tl::store(p, tl::reduce(x, 0, [&](tl::Tensor a, tl::Tensor b) { return a + tl::load(p) * b; }));
  });
  float buf[8];
  expect_error([&] { k.ir_for(false, buf); }, {"reduce", "may only compute", "load"});
}

TEST(LaunchErrors2, GridWithTooManyPrograms) {
  auto k = tl::kernel("big_grid", [](tl::Ptr p) { tl::store(p, tl::scalar(1, tl::f32)); });
  float buf[1];
  expect_error([&] { k.launch({INT32_MAX, INT32_MAX, 4}, {}, buf); }, {"more than 2^48 programs"});
}

TEST(LaunchErrors2, InvalidKernelName) {
  expect_error([] { tl::kernel("my-kernel", [](tl::Ptr) {}); },
               {"kernel name 'my-kernel' is not valid"});
}

// ~uint64_t(0) is a u64 argument now (tests/device/types_test.cpp,
// ElementTypes.IntArgumentsTypedByValue).

} // namespace
