// One test per launch diagnostic of jit/: each asserts that the message names the launch's
// file:line (Kernel::launch records its caller through GridAt), the kernel, the parameter (by
// name when the kernel was defined with names, else by index and kind) and what was wrong.
#include "support/expect_error.h"
#include "support/host_array.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tl = tessel::lang;
using tessel::DType;
using tessel::testing::expect_error;
using tessel::testing::HostArray;

namespace {

std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }

// The kernel most tests launch, with named parameters.
tessel::Kernel make_named_fill(const char* name) {
  return tl::kernel(name, "out, n, value, BLOCK",
                    [](tl::Ptr out, tl::Int n, tl::Float value, tl::Const<int> BLOCK) {
                      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                      tl::store(out + offs, value + tl::zeros({BLOCK}, tl::f32), offs < n);
                    });
}

tessel::Kernel make_unnamed_fill(const char* name) {
  return tl::kernel(name, [](tl::Ptr out, tl::Int n, tl::Float value, tl::Const<int> BLOCK) {
    auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
    tl::store(out + offs, value + tl::zeros({BLOCK}, tl::f32), offs < n);
  });
}

// ---- null pointers (rejected before anything runs, on every device) ----

TEST(LaunchNull, NullRawPointerOnCpuLaunch) {
  auto k = make_named_fill("null_cpu");
  float* out = nullptr;
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, {}, out, 16, 1.0f, 16); },
               {here(line), "kernel 'null_cpu'", "parameter 'out' (Ptr)",
                "is a null pointer (a pointer)", "pass the address of a buffer"});
  EXPECT_EQ(k.stats().traces, 0); // refused before tracing
}

TEST(LaunchNull, NullptrLiteralUnnamedKernel) {
  auto k = make_unnamed_fill("null_literal");
  int line = 0; // taken next to the launch, so that formatting cannot move them apart
  expect_error(
      [&] {
        line = __LINE__ + 1;
        k.launch({1}, {}, nullptr, 16, 1.0f, 16);
      },
      [&] {
        return std::vector<std::string>{here(line), "kernel 'null_literal'", "parameter 0 (Ptr)",
                                        "is a null pointer (nullptr)"};
      });
}

TEST(LaunchNull, NullptrForATypedPointerSaysNullNotElementType) {
  auto k = tl::kernel("null_typed", "x", [](tl::PtrOf<int32_t> x) {
    tl::store(x + tl::arange(0, 16), tl::zeros({16}, tl::i32));
  });
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, {}, nullptr); },
               {here(line), "parameter 'x' (PtrOf<i32>): is a null pointer (nullptr)"});
}

TEST(LaunchNull, TensorViewWithNullData) {
  auto k = make_named_fill("null_view");
  tessel::TensorView view(nullptr, tessel::f32, {16});
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, {}, view, 16, 1.0f, 16); },
               {here(line), "parameter 'out' (Ptr)", "a TensorView whose data is null"});
}

TEST(LaunchNull, NullEvenWhenTheGridIsEmpty) {
  auto k = make_named_fill("null_empty_grid");
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({0}, {}, nullptr, 0, 1.0f, 16); },
               {here(line), "parameter 'out' (Ptr)", "null pointer"});
}

TEST(LaunchNull, NullPointerOnTheSimulatedDevice) {
  auto k = make_named_fill("null_sim");
  tessel::LaunchOptions opts;
  opts.device = tessel::DeviceKind::sim;
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, opts, nullptr, 16, 1.0f, 16); },
               {here(line), "kernel 'null_sim'", "parameter 'out' (Ptr)", "null pointer"});
}

TEST(LaunchNull, NullPointerOnCuda) {
  // Refused by the argument check, before CUDA is needed, so this runs without a GPU too.
  auto k = make_named_fill("null_cuda");
  tessel::LaunchOptions opts;
  opts.device = tessel::DeviceKind::cuda;
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, opts, nullptr, 16, 1.0f, 16); },
               {here(line), "kernel 'null_cuda'", "parameter 'out' (Ptr)", "null pointer"});
}

TEST(LaunchNull, NullCudaView) {
  auto k = make_named_fill("null_cuda_view");
  tessel::TensorView view(nullptr, tessel::f32, {16}, tessel::DeviceKind::cuda);
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, {}, view, 16, 1.0f, 16); },
               {here(line), "parameter 'out' (Ptr)", "a TensorView whose data is null"});
}

// ---- the call site in every launch error ----

TEST(LaunchSite, GridVariableNamesTheLaunchLineNotTheGridLine) {
  auto k = make_named_fill("site_grid_var");
  tessel::Grid grid{-3};
  tessel::LaunchOptions opts;
  HostArray out(DType::f32, 16);
  int line = __LINE__ + 1;
  expect_error([&] { k.launch(grid, opts, out.arg(), 16, 1.0f, 16); },
               {here(line), "kernel 'site_grid_var'", "grid dimension 0 is -3"});
}

TEST(LaunchSite, WrongArgumentCountWithNames) {
  auto k = make_named_fill("site_count");
  HostArray out(DType::f32, 16);
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, {}, out.arg(), 16); },
               {here(line), "kernel 'site_count'",
                "takes 4 arguments (Ptr out, Int n, Float value, Const<int> BLOCK) but was "
                "launched with 2"});
}

TEST(LaunchSite, WrongArgumentKindNamesTheParameter) {
  auto k = make_named_fill("site_kind");
  HostArray out(DType::f32, 16);
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, {}, out.arg(), out.arg(), 1.0f, 16); },
               {here(line), "parameter 'n' (Int): expects an integer, got a TensorView"});
}

TEST(LaunchSite, DtypeMismatchNamesTheParameter) {
  auto k = tl::kernel("site_dtype", "x", [](tl::PtrOf<float> x) {
    tl::store(x + tl::arange(0, 16), tl::zeros({16}, tl::f32));
  });
  std::vector<int32_t> ints(16);
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, {}, ints.data()); },
               {here(line), "parameter 'x' (PtrOf<f32>): expects elements of type f32, got i32"});
}

TEST(LaunchSite, ConstOutOfRangeNamesTheParameter) {
  auto k = tl::kernel("site_const", "out, SMALL", [](tl::Ptr out, tl::Const<int8_t> SMALL) {
    tl::store(out, tl::scalar(int(SMALL), tl::f32));
  });
  HostArray out(DType::f32, 1);
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, {}, out.arg(), 300); },
               {here(line), "parameter 'SMALL' (Const<int8_t>)", "value 300 is outside the range",
                "-128 to 127"});
}

// (An integer argument past i32 is typed i64 now: tests/device/types_test.cpp.)
TEST(LaunchSite, IntegerArgumentsPastI32AreNotAnError) {
  auto k = make_named_fill("site_int_range");
  HostArray out(DType::f32, 16);
  k.launch({1}, {}, out.arg(), int64_t(1) << 40, 1.0f, 16);
}

TEST(LaunchSite, MixedDevicesNameBothParameters) {
  auto k = tl::kernel("site_mixed", "dst, src",
                      [](tl::Ptr dst, tl::Ptr src) { tl::store(dst, tl::load(src)); });
  float host[4] = {};
  tessel::TensorView device_view(host, tessel::f32, {4}, tessel::DeviceKind::cuda);
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, {}, device_view, host); },
               {here(line), "different devices", "parameter 'dst' (Ptr) is in CUDA device 0",
                "parameter 'src' (Ptr) is in host memory"});
}

TEST(LaunchSite, ViewOnAnotherDeviceThanRequested) {
  auto k = make_named_fill("site_option_device");
  float host[16] = {};
  tessel::TensorView cuda_view(host, tessel::f32, {16}, tessel::DeviceKind::cuda);
  tessel::LaunchOptions opts;
  opts.device = tessel::DeviceKind::sim;
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, opts, cuda_view, 16, 1.0f, 16); },
               {here(line), "parameter 'out' (Ptr)", "is a buffer in CUDA device 0",
                "LaunchOptions::device asks for the simulated device"});
}

TEST(LaunchSite, BadNumWarpsOnAGpuLaunch) {
  auto k = make_named_fill("site_num_warps");
  HostArray out(DType::f32, 16);
  tessel::LaunchOptions opts;
  opts.device = tessel::DeviceKind::sim;
  opts.num_warps = 3;
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, opts, static_cast<float*>(out.data()), 16, 1.0f, 16); },
               {here(line), "kernel 'site_num_warps'", "LaunchOptions::num_warps is 3"});
}

TEST(LaunchSite, MaxRecompilesNamesTheLaunchAndTheChange) {
  auto k = make_named_fill("site_recompiles");
  HostArray out(DType::f32, 64);
  ::setenv("TESSEL_MAX_RECOMPILES", "0", 1);
  k.launch({2}, {}, out.arg(), 64, 1.0f, 32);
  int line = 0; // taken next to the launch, so that formatting cannot move them apart
  expect_error(
      [&] {
        line = __LINE__ + 1;
        k.launch({1}, {}, out.arg(), 64, 1.0f, 64);
      },
      [&] {
        return std::vector<std::string>{here(line), "TESSEL_MAX_RECOMPILES=0 exceeded",
                                        "parameter 'BLOCK' (Const<int>): 32 -> 64"};
      });
  ::unsetenv("TESSEL_MAX_RECOMPILES");
}

// ---- parameter names at the definition ----

TEST(KernelNames, CountMismatchIsAnErrorAtTheDefinition) {
  auto define = [] {
    return tl::kernel("names_count", "out, n", [](tl::Ptr, tl::Int, tl::Const<int>) {});
  };
  int line = __LINE__ - 2;
  expect_error(define, {here(line), "kernel 'names_count'", "2 parameter names (\"out, n\")",
                        "a lambda with 3 parameters"});
}

TEST(KernelNames, NameMustBeAnIdentifier) {
  int line = __LINE__ + 1;
  expect_error([] { tl::kernel("names_ident", "out, 2n", [](tl::Ptr, tl::Int) {}); },
               {here(line), "parameter name '2n'", "not a C++ identifier"});
}

TEST(KernelNames, EmptyNameIsAnError) {
  expect_error([] { tl::kernel("names_empty", "out,,n", [](tl::Ptr, tl::Int, tl::Int) {}); },
               {"parameter name ''", "not a C++ identifier"});
}

TEST(KernelNames, NameTwiceIsAnError) {
  expect_error([] { tl::kernel("names_twice", "a, b, a", [](tl::Ptr, tl::Ptr, tl::Ptr) {}); },
               {"kernel 'names_twice'", "parameter name 'a' appears twice"});
}

TEST(KernelNames, KernelDefWithTheWrongNumberOfNames) {
  tessel::lang::KernelDef def =
      tessel::lang::detail::make_kernel_def("names_def", [](tl::Ptr, tl::Int) {});
  def.param_names = {"only_one"};
  expect_error([&] { tessel::Kernel k(std::move(def)); },
               {"kernel 'names_def' has 2 parameters but 1 parameter names"});
}

TEST(KernelNames, NamesAreKeptInTheDefinitionAndSpacesIgnored) {
  auto k = tl::kernel("names_kept", " out ,n,  value , BLOCK ",
                      [](tl::Ptr, tl::Int, tl::Float, tl::Const<int>) {});
  EXPECT_EQ(k.def().param_names, (std::vector<std::string>{"out", "n", "value", "BLOCK"}));
}

TEST(KernelNames, NamedKernelStillRuns) {
  auto k = make_named_fill("names_run");
  HostArray out(DType::f32, 40);
  out.poison();
  k.launch({3}, {}, out.arg(), 40, 4.5f, 16);
  for (size_t i = 0; i < 40; ++i)
    ASSERT_EQ(out.get(i), 4.5);
}

} // namespace
