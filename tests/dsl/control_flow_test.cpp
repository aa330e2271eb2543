// Run-time control flow: carried values found automatically (tensor and scalar), nested loops,
// if/else results, while loops — traced, then executed on the CPU backend against C++ loops.
#include "support/host_array.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <string>

namespace tl = tessel::lang;
using tessel::DType;
using tessel::testing::HostArray;

namespace {

// Row sums of an (rows x n) matrix in chunks of 32 columns: a loop-carried tensor accumulator.
TEST(ControlFlow, ForLoopCarriesATensor) {
  auto k = tl::kernel("row_sum", [](tl::Ptr out, tl::Ptr in, tl::Int n) {
    auto row = tl::program_id(0);
    auto cols = tl::arange(0, 32);
    auto acc = tl::zeros({32}, tl::f32);
    tl::for_range(0, n, 32, [&](tl::Int k0) {
      auto c = k0 + cols;
      acc = acc + tl::load(in + row * n + c, c < n, 0.0);
    });
    tl::store(out + row, tl::sum(acc, 0));
  });
  const int64_t rows = 5, n = 100;
  HostArray in(DType::f32, rows * n), out(DType::f32, rows);
  in.fill_random(1, -1, 1);
  out.poison();
  k.launch({rows}, {}, out.arg(), in.arg(), n);
  for (int64_t r = 0; r < rows; ++r) {
    double want = 0;
    for (int64_t c = 0; c < n; ++c)
      want += in.get(size_t(r * n + c));
    EXPECT_NEAR(out.get(size_t(r)), want, 1e-4) << "row " << r;
  }
  std::string ir = k.ir_for(false, out.arg(), in.arg(), n);
  EXPECT_NE(ir.find("= for "), std::string::npos) << ir;
}

// A scalar counter and a tensor carried together; an inner loop nested in an outer loop.
TEST(ControlFlow, NestedLoopsCarryScalarsAndTensors) {
  auto k = tl::kernel("nested", [](tl::Ptr out, tl::Int outer, tl::Int inner) {
    auto count = tl::scalar(0, tl::i32);
    auto v = tl::zeros({16}, tl::i32);
    tl::for_range(0, outer, 1, [&](tl::Int i) {
      tl::for_range(0, inner, 1, [&](tl::Int j) {
        count = count + 1;
        v = v + i * j;
      });
    });
    tl::store(out + tl::arange(0, 16), v + count);
  });
  HostArray out(DType::i32, 16);
  out.poison();
  k.launch({1}, {}, out.arg(), 4, 6);
  int expect_v = 0;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j)
      expect_v += i * j;
  for (size_t i = 0; i < 16; ++i)
    EXPECT_EQ(out.get(i), expect_v + 24);
}

TEST(ControlFlow, ZeroTripLoopKeepsInitialValues) {
  auto k = tl::kernel("zero_trip", [](tl::Ptr out, tl::Int n) {
    auto v = tl::full({8}, 7, tl::f32);
    tl::for_range(0, n, 1, [&](tl::Int) { v = v * 2; });
    tl::store(out + tl::arange(0, 8), v);
  });
  HostArray out(DType::f32, 8);
  out.poison();
  k.launch({1}, {}, out.arg(), 0);
  for (size_t i = 0; i < 8; ++i)
    EXPECT_EQ(out.get(i), 7);
  k.launch({1}, {}, out.arg(), 3);
  for (size_t i = 0; i < 8; ++i)
    EXPECT_EQ(out.get(i), 56);
}

TEST(ControlFlow, IfElseProducesBranchResults) {
  auto k = tl::kernel("branch", [](tl::Ptr out) {
    auto pid = tl::program_id(0);
    auto v = tl::full({8}, 1, tl::f32);
    auto w = tl::full({8}, 10, tl::f32);
    tl::if_(
        pid % 2 == 0, [&] { v = v + 100; },
        [&] {
          v = v - 100;
          w = w * 3;
        });
    tl::store(out + pid * 8 + tl::arange(0, 8), v + w);
  });
  HostArray out(DType::f32, 4 * 8);
  out.poison();
  k.launch({4}, {}, out.arg());
  for (int p = 0; p < 4; ++p)
    for (int i = 0; i < 8; ++i)
      EXPECT_EQ(out.get(size_t(p * 8 + i)), p % 2 == 0 ? 111 : -69) << p;
}

TEST(ControlFlow, IfWithoutElseKeepsTheOldValue) {
  auto k = tl::kernel("if_only", [](tl::Ptr out, tl::Int n) {
    auto v = tl::scalar(5, tl::i32);
    tl::if_(n > 3, [&] { v = v * n; });
    tl::store(out, v);
  });
  HostArray out(DType::i32, 1);
  k.launch({1}, {}, out.arg(), 2);
  EXPECT_EQ(out.get(0), 5);
  k.launch({1}, {}, out.arg(), 4);
  EXPECT_EQ(out.get(0), 20);
}

// Collatz steps of n: a while loop whose condition reads the carried values.
TEST(ControlFlow, WhileLoop) {
  auto k = tl::kernel("collatz", [](tl::Ptr out, tl::Int n) {
    auto x = n + 0;
    auto steps = tl::scalar(0, tl::i32);
    tl::while_([&] { return x != 1; },
               [&] {
                 auto even = x % 2 == 0;
                 x = tl::where(even, x / 2, 3 * x + 1);
                 steps = steps + 1;
               });
    tl::store(out, steps);
  });
  HostArray out(DType::i32, 1);
  for (int n : {1, 6, 27}) {
    out.poison();
    k.launch({1}, {}, out.arg(), n);
    int x = n, steps = 0;
    while (x != 1) {
      x = x % 2 == 0 ? x / 2 : 3 * x + 1;
      ++steps;
    }
    EXPECT_EQ(out.get(0), steps) << n;
  }
}

TEST(ControlFlow, HandleCopiedBeforeTheLoopIsNotCarried) {
  auto k = tl::kernel("copy_before", [](tl::Ptr out, tl::Int n) {
    auto acc = tl::scalar(1, tl::i32);
    auto init = acc; // a second handle to the same value: must stay 1
    tl::for_range(0, n, 1, [&](tl::Int) { acc = acc + init; });
    tl::store(out, acc * 100 + init);
  });
  HostArray out(DType::i32, 1);
  k.launch({1}, {}, out.arg(), 5);
  EXPECT_EQ(out.get(0), 6 * 100 + 1);
}

// What the by-value-capture check must not reject: handles captured by value that the body only
// reads (even in a `mutable` body), locals declared in the body and reassigned there, and
// temporaries. Only `sum`, captured by reference, is carried: a running sum of 2 * in.
TEST(ControlFlow, ByValueCapturesThatAreOnlyReadAreAllowed) {
  auto k = tl::kernel("read_only_captures", [](tl::Ptr out, tl::Ptr in, tl::Int n) {
    auto offs = tl::arange(0, 16);
    auto sum = tl::scalar(0, tl::f32);
    tl::for_range(0, n, 16, [=, &sum](tl::Int k0) mutable {
      auto c = k0 + offs;
      auto x = tl::load(in + c, c < n, 0.0);
      x = x * 2.0f;
      sum = sum + tl::sum(x, 0);
    });
    auto seen = tl::scalar(0, tl::i32);
    tl::if_(n > 0, [=, &seen] { seen = n * 0 + 1; });
    tl::store(out, sum);
    tl::store(out + 1, seen.to(tl::f32));
  });
  const int64_t n = 100;
  HostArray in(DType::f32, n), out(DType::f32, 2);
  in.fill_random(7, -1, 1);
  out.poison();
  k.launch({1}, {}, out.arg(), in.arg(), n);
  double want = 0;
  for (int64_t i = 0; i < n; ++i)
    want += 2 * in.get(size_t(i));
  EXPECT_NEAR(out.get(0), want, 1e-4);
  EXPECT_EQ(out.get(1), 1);
}

} // namespace
