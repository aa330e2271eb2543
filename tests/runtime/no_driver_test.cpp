// The runtime where there is no CUDA driver (this binary points TESSEL_CUDA_LIBRARY at a file that
// does not exist, so the case is the same on a machine with a GPU): every CUDA entry point throws
// a tessel::Error saying what it was doing and why the driver is missing, nothing else breaks, and
// kernels keep running on the CPU backend.
#include "support/expect_error.h"
#include "tessel/runtime/cuda_module.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/runtime/stream.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

namespace tl = tessel::lang;
namespace rt = tessel::runtime;
using tessel::testing::expect_error;

namespace {

// Before main, before anything could load the driver.
const bool kNoDriver = [] {
  ::setenv("TESSEL_CUDA_LIBRARY", "/nonexistent/libcuda.so.1", 1);
  return true;
}();

TEST(NoDriver, DriverInfoSaysWhy) {
  ASSERT_TRUE(kNoDriver);
  rt::DriverInfo info = rt::driver_info();
  EXPECT_FALSE(info.available);
  EXPECT_NE(info.error.find("cannot load /nonexistent/libcuda.so.1"), std::string::npos)
      << info.error;
  EXPECT_NE(info.error.find("driver is not installed"), std::string::npos) << info.error;
  EXPECT_FALSE(rt::cuda_available());
  EXPECT_EQ(rt::Device::count(), 0);
}

TEST(NoDriver, EveryEntryPointThrowsAClearError) {
  expect_error([] { rt::Device::get(0); }, {"CUDA is not available while looking for CUDA device 0",
                                            "cannot load", "CPU backend"});
  expect_error([] { rt::DeviceBuffer::allocate(1024); },
               {"CUDA is not available while allocating 1024 bytes on CUDA device 0"});
  expect_error([] { rt::Stream s; }, {"CUDA is not available while creating a CUDA stream"});
  expect_error([] { rt::Event e; }, {"CUDA is not available while creating a CUDA event"});
  expect_error(
      [] {
        rt::CudaModule::from_cubin(std::string("\x7f"
                                               "ELF....",
                                               8),
                                   "softmax");
      },
      {"CUDA is not available while loading the cubin of kernel 'softmax'"});
}

TEST(NoDriver, HostPointersAreHostMemory) {
  std::vector<float> v(4);
  EXPECT_EQ(rt::pointer_device(v.data()), tessel::DeviceKind::cpu);
  EXPECT_EQ(rt::pointer_device(nullptr), tessel::DeviceKind::cpu);
}

TEST(NoDriver, CpuBackendKeepsWorking) {
  // After the failures above (in this process when run as one binary), the CPU path is intact.
  EXPECT_THROW(rt::DeviceBuffer::allocate(16), tessel::Error);
  const tessel::Kernel add =
      tl::kernel("nodriver_add", [](tl::Ptr out, tl::Ptr a, tl::Int n, tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        tl::store(out + offs, tl::load(a + offs, offs < n) + 1.0f, offs < n);
      });
  std::vector<float> a(100), out(100);
  for (int i = 0; i < 100; ++i)
    a[size_t(i)] = float(i);
  add.launch({4}, {}, out.data(), a.data(), 100, 32);
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(out[size_t(i)], float(i) + 1.0f);
}

TEST(NoDriver, LaunchOnACudaBufferIsAClearError) {
  const tessel::Kernel fill = tl::kernel("nodriver_fill", [](tl::Ptr out, tl::Const<int> BLOCK) {
    tl::store(out + tl::arange(0, BLOCK), tl::zeros({BLOCK}, tl::f32));
  });
  float fake[16];
  tessel::TensorView device_view(fake, tessel::DType::f32, {16}, tessel::DeviceKind::cuda);
  // A CUDA view makes a CUDA launch, which without a driver is a clear error.
  expect_error([&] { fill.launch({1}, {}, device_view, 16); },
               {"kernel 'nodriver_fill'", "CUDA device buffers", "CUDA is not available", "libcuda",
                "TESSEL_DEVICE=sim"});
}

} // namespace
