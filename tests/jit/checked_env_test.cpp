// TESSEL_DEBUG=1 turns checked mode (and device_assert) on for every CPU launch. tessel reads the
// variable once per process, at the first launch, so this test is alone in its executable and sets
// it first.
#include "support/expect_error.h"
#include "support/host_array.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace tl = tessel::lang;
using tessel::DType;
using tessel::TensorView;
using tessel::testing::HostArray;

namespace {

TEST(CheckedModeEnvironment, TesselDebugChecksLaunchesWithDefaultOptions) {
  ASSERT_EQ(setenv("TESSEL_DEBUG", "1", /*overwrite=*/1), 0);
  auto k = tl::kernel("read_past_end", [](tl::Ptr out, tl::Ptr in, tl::Const<int> BLOCK) {
    auto offs = tl::arange(0, BLOCK);
    tl::store(out + offs, tl::load(in + offs + 1));
  });
  HostArray in(DType::i32, 65), out(DType::i32, 64);
  TensorView in_view(in.data(), DType::i32, {64});
  tessel::testing::expect_error([&] { k.launch({1}, {}, out.arg(), in_view, 64); },
                                {"checked mode", "kernel 'read_past_end'", "out-of-bounds load",
                                 "parameter 1 (Ptr)", "element 64 of a view with 64 elements"});
}

// TESSEL_DEBUG=1 is also the option `debug`: device_assert checks (docs/language.md "Debugging").
TEST(CheckedModeEnvironment, TesselDebugChecksDeviceAsserts) {
  ASSERT_EQ(setenv("TESSEL_DEBUG", "1", /*overwrite=*/1), 0);
  auto k = tl::kernel("assert_positive", [](tl::Ptr in, tl::Const<int> BLOCK) {
    tl::device_assert(tl::load(in + tl::arange(0, BLOCK)) > 0, "in must be positive");
  });
  HostArray in(DType::i32, 64);
  TensorView in_view(in.data(), DType::i32, {64});
  tessel::testing::expect_error([&] { k.launch({1}, {}, in_view, 64); },
                                {"device_assert failed in kernel 'assert_positive'",
                                 "in must be positive", "at program (0, 0, 0) element [0]"});
}

} // namespace
