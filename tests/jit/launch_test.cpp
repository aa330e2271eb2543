// The launch path: the specialization table (a second launch neither traces nor compiles),
// concurrent first launches compile once, recompile limits, grids, and TensorView arguments.
#include "support/expect_error.h"
#include "support/host_array.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>
#include <vector>

namespace tl = tessel::lang;
using tessel::DType;
using tessel::testing::HostArray;

namespace {

tessel::Kernel make_fill() {
  return tl::kernel("fill", [](tl::Ptr out, tl::Int n, tl::Float value, tl::Const<int> BLOCK) {
    auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
    tl::store(out + offs, value + tl::zeros({BLOCK}, tl::f32), offs < n);
  });
}

TEST(Launch, SecondLaunchWithTheSameSignatureDoesNotCompile) {
  auto k = make_fill();
  HostArray out(DType::f32, 100);
  k.launch({4}, {}, out.arg(), 100, 2.5f, 32);
  EXPECT_EQ(k.stats().compiles, 1);
  EXPECT_EQ(k.stats().traces, 1);
  out.poison();
  k.launch({4}, {}, out.arg(), 100, 3.5f, 32); // a different run-time value: same code
  EXPECT_EQ(k.stats().compiles, 1);
  EXPECT_EQ(k.stats().launches, 2);
  for (size_t i = 0; i < 100; ++i)
    ASSERT_EQ(out.get(i), 3.5);
}

TEST(Launch, SignatureChangesCompileNewSpecializations) {
  auto k = make_fill();
  HostArray f32(DType::f32, 64), f16(DType::f16, 64);
  k.launch({2}, {}, f32.arg(), 64, 1.0f, 32);
  k.launch({2}, {}, f16.arg(), 64, 1.0f, 32); // element type
  k.launch({1}, {}, f32.arg(), 64, 1.0f, 64); // Const value
  k.launch({2}, {}, f32.arg(), 63, 1.0f, 32); // divisibility by 16 of n
  EXPECT_EQ(k.stats().compiles, 4);
  k.launch({2}, {}, f16.arg(), 64, 7.0f, 32);
  EXPECT_EQ(k.stats().compiles, 4);
  for (size_t i = 0; i < 64; ++i)
    ASSERT_EQ(f16.get(i), 7.0);
}

TEST(Launch, ConcurrentFirstLaunchesCompileOnce) {
  auto k = make_fill();
  std::vector<HostArray> outs;
  for (int t = 0; t < 8; ++t)
    outs.emplace_back(DType::f32, 256);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] { k.launch({8}, {}, outs[size_t(t)].arg(), 256, float(t), 32); });
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(k.stats().compiles, 1);
  for (int t = 0; t < 8; ++t)
    for (size_t i = 0; i < 256; ++i)
      ASSERT_EQ(outs[size_t(t)].get(i), t);
}

TEST(Launch, EmptyGridRunsNothing) {
  auto k = make_fill();
  HostArray out(DType::f32, 32);
  out.poison();
  k.launch({0}, {}, out.arg(), 32, 1.0f, 32);
  EXPECT_TRUE(std::isnan(out.get(0)));
}

TEST(Launch, TensorViewArgument) {
  auto k = make_fill();
  HostArray out(DType::bf16, 40);
  tessel::TensorView view(out.data(), tessel::bf16, {40});
  k.launch({2}, {}, view, 40, -2.0f, 32);
  for (size_t i = 0; i < 40; ++i)
    ASSERT_EQ(out.get(i), -2.0);
}

TEST(Launch, ThreeDimensionalGrid) {
  auto k = tl::kernel("grid3", [](tl::Ptr out) {
    auto x = tl::program_id(0), y = tl::program_id(1), z = tl::program_id(2);
    auto nx = tl::num_programs(0), ny = tl::num_programs(1);
    auto id = x + nx * (y + ny * z);
    tl::store(out + id, x * 100 + y * 10 + z);
  });
  HostArray out(DType::i32, 3 * 4 * 5);
  out.poison();
  k.launch({3, 4, 5}, {}, out.arg());
  for (int z = 0; z < 5; ++z)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 3; ++x)
        ASSERT_EQ(out.get(size_t(x + 3 * (y + 4 * z))), x * 100 + y * 10 + z);
}

TEST(Launch, MaxRecompilesTurnsTheNextCompileIntoAnError) {
  auto k = make_fill();
  HostArray out(DType::f32, 64);
  ::setenv("TESSEL_MAX_RECOMPILES", "1", 1);
  k.launch({2}, {}, out.arg(), 64, 1.0f, 32);
  k.launch({1}, {}, out.arg(), 64, 1.0f, 64); // first recompile: allowed
  tessel::testing::expect_error([&] { k.launch({4}, {}, out.arg(), 64, 1.0f, 16); },
                                {"TESSEL_MAX_RECOMPILES=1 exceeded", "parameter 3 (Const<int>)"});
  ::unsetenv("TESSEL_MAX_RECOMPILES");
}

} // namespace
