// Tensor maps TMA cannot take are a tessel::Error before the launch, naming the kernel, the
// descriptor's pointer parameter, the line that made it and the field: on the simulated device
// compiled for sm_90a (the same checks run before cuTensorMapEncodeTiled on a GPU).
#include "device/backend_buffers.h"
#include "support/expect_error.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

namespace tessel::testing {
namespace {

namespace tl = tessel::lang;

class TmaLaunchErrors : public ::testing::Test {
protected:
  void SetUp() override {
    bool sim = false;
    for (DeviceKind k : cpu_and_sim())
      sim = sim || k == DeviceKind::sim;
    if (!sim)
      GTEST_SKIP() << "needs the simulator, libdevice and nvJitLink";
    setenv("TESSEL_SIM_TARGET", "sm_90a", /*overwrite=*/1);
  }
  void TearDown() override { unsetenv("TESSEL_SIM_TARGET"); }
};

const Kernel& row_copy() {
  static const Kernel k =
      tl::kernel("tma_row_copy", "out, in, m, n, ld",
                 [](tl::Ptr out, tl::Ptr in, tl::Int m, tl::Int n, tl::Int ld) {
                   auto src = tl::make_tensor_descriptor(in, {m, n}, {ld, 1}, {8, 16});
                   auto dst = tl::make_tensor_descriptor(out, {m, n}, {ld, 1}, {8, 16});
                   dst.store({tl::program_id(0) * 8, 0}, src.load({tl::program_id(0) * 8, 0}));
                 });
  return k;
}

TEST_F(TmaLaunchErrors, UnalignedBase) {
  Buffer<float> in(DeviceKind::sim, std::vector<float>(1024, 1.0f));
  Buffer<float> out(DeviceKind::sim, std::vector<float>(1024, 0.0f));
  TensorView shifted = in.view();
  shifted.data = static_cast<float*>(shifted.data) + 1; // 4 bytes past a 16-byte boundary
  shifted.shape[0] -= 1;
  expect_error(
      [&] { row_copy().launch({2}, on(DeviceKind::sim), out.view(), shifted, 16, 16, 16); },
      {"kernel 'tma_row_copy'", "tensor descriptor of parameter 'in'", "launch_errors_test.cpp",
       "is not 16-byte aligned"});
}

TEST_F(TmaLaunchErrors, StrideNotAMultipleOf16Bytes) {
  Buffer<float> in(DeviceKind::sim, std::vector<float>(1024, 1.0f));
  Buffer<float> out(DeviceKind::sim, std::vector<float>(1024, 0.0f));
  expect_error(
      [&] { row_copy().launch({2}, on(DeviceKind::sim), out.view(), in.view(), 16, 15, 15); },
      {"tensor descriptor of parameter 'in'", "strides[0] = 15 elements of f32 is 60 bytes",
       "pad the rows"});
}

TEST_F(TmaLaunchErrors, ZeroExtent) {
  Buffer<float> in(DeviceKind::sim, std::vector<float>(1024, 1.0f));
  Buffer<float> out(DeviceKind::sim, std::vector<float>(1024, 0.0f));
  expect_error(
      [&] { row_copy().launch({2}, on(DeviceKind::sim), out.view(), in.view(), 0, 16, 16); },
      {"tensor descriptor of parameter 'in'", "shape[0] = 0 is outside 1..2^32"});
}

} // namespace
} // namespace tessel::testing
