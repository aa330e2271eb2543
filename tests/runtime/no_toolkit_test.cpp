// tessel where the CUDA toolkit's run-time parts are missing (this binary points TESSEL_NVJITLINK
// and TESSEL_LIBDEVICE at files that do not exist, before anything loads them, so the case is the
// same on a machine that has them): CPU kernels run; every GPU request — a cubin, PTX of a kernel
// that needs libdevice, a launch on the simulated device — is a tessel::Error naming the missing
// library and the variable that points at it. tessel does not use NVRTC (kernels are compiled by
// LLVM's NVPTX backend, PTX to cubin by nvJitLink), so there is no NVRTC case.
#include "support/expect_error.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <vector>

namespace tl = tessel::lang;
using tessel::testing::expect_error;
using P = tessel::SignatureParam;

namespace {

const bool kNoToolkit = [] {
  ::setenv("TESSEL_NVJITLINK", "/nonexistent/libnvJitLink.so", 1);
  ::setenv("TESSEL_LIBDEVICE", "/nonexistent/libdevice.10.bc", 1);
  return true;
}();

const tessel::Kernel& exp_kernel() {
  static const tessel::Kernel k =
      tl::kernel("notoolkit_exp", [](tl::Ptr out, tl::Ptr in, tl::Int n, tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        tl::store(out + offs, tl::exp(tl::load(in + offs, offs < n)), offs < n);
      });
  return k;
}

tessel::Signature exp_signature() {
  return tessel::Signature{{P::pointer(tessel::DType::f32), P::pointer(tessel::DType::f32),
                            P::integer(16), P::constant(256)}};
}

TEST(NoToolkit, CpuKernelsRun) {
  ASSERT_TRUE(kNoToolkit);
  std::vector<float> in(1000), out(1000, -1.0f);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = float(i % 13) * 0.25f - 1.0f;
  exp_kernel().launch({4}, {}, out.data(), in.data(), 1000, 256);
  for (size_t i = 0; i < in.size(); ++i)
    ASSERT_NEAR(out[i], std::exp(in[i]), 1e-6f * std::exp(in[i])) << i;
}

TEST(NoToolkit, CubinNamesNvJitLink) {
  const tessel::Kernel copy = tl::kernel("notoolkit_copy", [](tl::Ptr out, tl::Ptr in) {
    tl::store(out + tl::arange(0, 128), tl::load(in + tl::arange(0, 128)));
  });
  tessel::Signature sig{{P::pointer(tessel::DType::f32), P::pointer(tessel::DType::f32)}};
  expect_error([&] { (void)copy.compile(tessel::Target::parse("sm_80"), sig); },
               {"kernel `notoolkit_copy` for sm_80: nvJitLink (needed to compile PTX to a cubin) "
                "was not found",
                "/nonexistent/libnvJitLink.so", "(from TESSEL_NVJITLINK)",
                "install the CUDA toolkit"});
}

TEST(NoToolkit, MathNeedsLibdevice) {
  tessel::CompileOptions options;
  options.until = tessel::CompileUntil::ptx;
  expect_error(
      [&] {
        (void)exp_kernel().compile(tessel::Target::parse("sm_90a"), exp_signature(), options);
      },
      {"kernel `notoolkit_exp` uses math functions", "/nonexistent/libdevice.10.bc",
       "TESSEL_LIBDEVICE"});
}

TEST(NoToolkit, SimulatedLaunchIsAClearError) {
  if (!tessel::runtime::sim_available())
    GTEST_SKIP() << "tessel was built without the PTX simulator";
  auto in = tessel::runtime::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, 4 * 256);
  auto out = tessel::runtime::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, 4 * 256);
  expect_error(
      [&] {
        exp_kernel().launch({1}, {}, out.view(tessel::DType::f32, {256}),
                            in.view(tessel::DType::f32, {256}), 256, 256);
      },
      {"kernel `notoolkit_exp` uses math functions: CUDA's libdevice", "TESSEL_LIBDEVICE"});
}

} // namespace
