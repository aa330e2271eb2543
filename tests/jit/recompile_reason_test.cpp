// Recompile reasons: each way a launch can select a new specialization is named exactly (which
// parameter, and what changed about it), in the TESSEL_MAX_RECOMPILES error and in the
// TESSEL_DUMP=recompile log.
#include "support/expect_error.h"
#include "support/host_array.h"
#include "support/scoped_env.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace tl = tessel::lang;
using tessel::DType;
using tessel::testing::expect_error;
using tessel::testing::HostArray;
using tessel::testing::ScopedEnv;

namespace {

tessel::Kernel make_kernel(const char* name) {
  return tl::kernel(name, "out, n, scale, BLOCK",
                    [](tl::Ptr out, tl::Int n, tl::Const<double> scale, tl::Const<int> BLOCK) {
                      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                      tl::store(out + offs, tl::zeros({BLOCK}, tl::f32) + scale, offs < n);
                    });
}

// Launches `k` once with `first`, then expects the launch `second` to be refused by
// TESSEL_MAX_RECOMPILES=0 with a reason that contains `reason`.
template <class First, class Second>
void expect_reason(const tessel::Kernel& k, First first, Second second, const std::string& reason) {
  ScopedEnv limit("TESSEL_MAX_RECOMPILES", "0");
  first();
  expect_error(second, {"new specialization of '" + k.name() + "': " + reason});
}

TEST(RecompileReason, ElementType) {
  auto k = make_kernel("why_dtype");
  HostArray f32(DType::f32, 64), f16(DType::f16, 64);
  expect_reason(
      k, [&] { k.launch({2}, {}, f32.arg(), 64, 1.0, 32); },
      [&] { k.launch({2}, {}, f16.arg(), 64, 1.0, 32); },
      "parameter 'out' (Ptr): element type f32 -> f16");
}

TEST(RecompileReason, Alignment) {
  auto k = make_kernel("why_align");
  HostArray buf(DType::f32, 65);
  float* aligned = static_cast<float*>(buf.data()); // HostArray storage is 16-byte aligned
  ASSERT_EQ(reinterpret_cast<uintptr_t>(aligned) % 16, 0u);
  expect_reason(
      k, [&] { k.launch({2}, {}, aligned, 64, 1.0, 32); },
      [&] { k.launch({2}, {}, aligned + 1, 64, 1.0, 32); },
      "parameter 'out' (Ptr): alignment 16 -> 1");
}

TEST(RecompileReason, IntegerDivisibility) {
  auto k = make_kernel("why_div");
  HostArray out(DType::f32, 64);
  expect_reason(
      k, [&] { k.launch({2}, {}, out.arg(), 64, 1.0, 32); },
      [&] { k.launch({2}, {}, out.arg(), 63, 1.0, 32); },
      "parameter 'n' (Int): was divisible by 16, now not");
}

TEST(RecompileReason, IntegerBecomesDivisible) {
  auto k = make_kernel("why_div_now");
  HostArray out(DType::f32, 64);
  expect_reason(
      k, [&] { k.launch({2}, {}, out.arg(), 63, 1.0, 32); },
      [&] { k.launch({2}, {}, out.arg(), 48, 1.0, 32); },
      "parameter 'n' (Int): was not divisible by 16, now is");
}

TEST(RecompileReason, IntegerEqualsOne) {
  auto k = make_kernel("why_one");
  HostArray out(DType::f32, 64);
  expect_reason(
      k, [&] { k.launch({2}, {}, out.arg(), 63, 1.0, 32); },
      [&] { k.launch({2}, {}, out.arg(), 1, 1.0, 32); }, "parameter 'n' (Int): equals 1 now");
}

TEST(RecompileReason, IntegerNoLongerOneAndNowDivisible) {
  auto k = make_kernel("why_not_one");
  HostArray out(DType::f32, 64);
  expect_reason(
      k, [&] { k.launch({2}, {}, out.arg(), 1, 1.0, 32); },
      [&] { k.launch({2}, {}, out.arg(), 32, 1.0, 32); },
      "parameter 'n' (Int): was 1, now not, was not divisible by 16, now is");
}

TEST(RecompileReason, IntegerConst) {
  auto k = make_kernel("why_const");
  HostArray out(DType::f32, 64);
  expect_reason(
      k, [&] { k.launch({2}, {}, out.arg(), 64, 1.0, 32); },
      [&] { k.launch({1}, {}, out.arg(), 64, 1.0, 64); },
      "parameter 'BLOCK' (Const<int>): 32 -> 64");
}

TEST(RecompileReason, FloatConst) {
  auto k = make_kernel("why_const_f");
  HostArray out(DType::f32, 64);
  expect_reason(
      k, [&] { k.launch({2}, {}, out.arg(), 64, 0.5, 32); },
      [&] { k.launch({2}, {}, out.arg(), 64, 1e-5, 32); },
      "parameter 'scale' (Const<double>): 0.5 -> 1e-05");
}

TEST(RecompileReason, TwoParametersAtOnce) {
  auto k = make_kernel("why_two");
  HostArray f32(DType::f32, 64), f16(DType::f16, 64);
  expect_reason(
      k, [&] { k.launch({2}, {}, f32.arg(), 64, 1.0, 32); },
      [&] { k.launch({1}, {}, f16.arg(), 64, 1.0, 64); },
      "parameter 'out' (Ptr): element type f32 -> f16; parameter 'BLOCK' (Const<int>): 32 -> 64");
}

TEST(RecompileReason, DeviceAndLaunchOptions) {
  // The limit refuses the simulated-device specialization before it is compiled, so this needs
  // neither the simulator nor a GPU. The simulated device's target is part of the key.
  ScopedEnv default_target("TESSEL_SIM_TARGET", nullptr);
  auto k = make_kernel("why_device");
  HostArray out(DType::f32, 64);
  tessel::LaunchOptions sim;
  sim.device = tessel::DeviceKind::sim;
  sim.num_warps = 2;
  expect_reason(
      k, [&] { k.launch({2}, {}, out.arg(), 64, 1.0, 32); },
      [&] { k.launch({2}, sim, static_cast<float*>(out.data()), 64, 1.0, 32); },
      "device and launch options: cpu -> sim sm_80 num_warps=2 num_stages=2");
}

TEST(RecompileReason, UnnamedKernelUsesIndexAndKind) {
  auto k = tl::kernel("why_unnamed", [](tl::Ptr out, tl::Int n) {
    auto offs = tl::arange(0, 16);
    tl::store(out + offs, tl::zeros({16}, tl::f32), offs < n);
  });
  HostArray out(DType::f32, 16);
  expect_reason(
      k, [&] { k.launch({1}, {}, out.arg(), 16); }, [&] { k.launch({1}, {}, out.arg(), 15); },
      "parameter 1 (Int): was divisible by 16, now not");
}

TEST(RecompileReason, WrittenToTheRecompileDump) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("tessel_recompile_dump_" + std::to_string(getpid()));
  fs::remove_all(dir);
  auto k = make_kernel("why_dumped");
  HostArray out(DType::f32, 64);
  {
    ScopedEnv dump("TESSEL_DUMP", "recompile");
    ScopedEnv dump_dir("TESSEL_DUMP_DIR", dir.c_str());
    k.launch({2}, {}, out.arg(), 64, 1.0, 32);
    k.launch({2}, {}, out.arg(), 63, 1.0, 32);
  }
  std::ifstream in(dir / "why_dumped.recompile");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(
      text.str(),
      "new specialization of 'why_dumped': parameter 'n' (Int): was divisible by 16, now not");
  fs::remove_all(dir);
}

} // namespace
