// The runtime on a CUDA GPU: device properties, device memory and copies (sync and async),
// events, modules from a fatbin made by nvcc, launches (dynamic shared memory above 48 KiB, launch
// limits), a bad image, DLPack on the device, tessel kernels launched on device buffers. Every
// test skips, saying why, without a GPU. Under TESSEL_DEVICE=sim (ctest runs this binary a second
// time so, as runtime_tests.sim.*) the tests that need only "a device" run on the PTX simulator;
// those that need the driver itself (properties, streams and events, fatbins) skip.
#include "support/expect_error.h"
#include "tessel/codegen/gpu.h"
#include "tessel/runtime/cuda_module.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/runtime/dlpack.h"
#include "tessel/runtime/stream.h"
#include "tessel/samples/samples.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>
#include <string_view>
#include <vector>

#ifdef TESSEL_HAVE_TEST_FATBIN
#include "test_kernels_fatbin.h"
#endif

namespace rt = tessel::runtime;
using tessel::testing::expect_error;

namespace {

bool on_sim() { return rt::selected_device() == tessel::DeviceKind::sim; }

// Tests that need a device: the simulated one under TESSEL_DEVICE=sim, else a CUDA GPU.
#define SKIP_WITHOUT_DEVICE()                                                                      \
  do {                                                                                             \
    if (!on_sim())                                                                                 \
      SKIP_WITHOUT_GPU();                                                                          \
  } while (0)

// Tests of the CUDA driver itself.
#define SKIP_WITHOUT_GPU()                                                                         \
  do {                                                                                             \
    if (on_sim())                                                                                  \
      GTEST_SKIP() << "needs a real CUDA device (TESSEL_DEVICE=sim): it tests the driver "         \
                      "(properties, streams, events, cubin/fatbin modules)";                       \
    if (rt::Device::count() == 0)                                                                  \
      GTEST_SKIP() << "no CUDA GPU: "                                                              \
                   << (rt::cuda_available() ? "the driver sees no device"                          \
                                            : rt::driver_info().error);                            \
  } while (0)

#ifdef TESSEL_HAVE_TEST_FATBIN
#define SKIP_WITHOUT_KERNELS() (void)0
std::string_view fatbin() {
  return {reinterpret_cast<const char*>(test_kernels_fatbin), sizeof test_kernels_fatbin};
}
#else
#define SKIP_WITHOUT_KERNELS() GTEST_SKIP() << "nvcc was not found when building the tests"
std::string_view fatbin() { return {}; }
#endif

TEST(Gpu, DeviceProperties) {
  SKIP_WITHOUT_GPU();
  rt::Device d = rt::Device::get(0);
  const rt::DeviceProperties& p = d.properties();
  EXPECT_FALSE(p.name.empty());
  EXPECT_GE(p.sm_version(), 50);
  EXPECT_GT(p.sm_count, 0);
  EXPECT_EQ(p.max_shared_per_block, 48 << 10);
  EXPECT_GE(p.max_shared_per_block_optin, p.max_shared_per_block);
  EXPECT_EQ(p.warp_size, 32);
  EXPECT_GT(p.total_memory, 0);
  std::printf("device 0: %s, sm_%d, %d SMs, %lld MiB, %lld KiB shared/block opt-in\n",
              p.name.c_str(), p.sm_version(), p.sm_count, (long long)(p.total_memory >> 20),
              (long long)(p.max_shared_per_block_optin >> 10));
  expect_error([] { rt::Device::get(1000); }, {"CUDA device 1000 does not exist"});
}

TEST(Gpu, CopiesSyncAndAsyncWithEvents) {
  SKIP_WITHOUT_DEVICE();
  const size_t n = 1 << 20;
  std::vector<float> host(n), back(n, -1.0f);
  std::iota(host.begin(), host.end(), 0.0f);
  auto a = rt::DeviceBuffer::allocate(n * sizeof(float));
  auto b = rt::DeviceBuffer::allocate(n * sizeof(float));
  EXPECT_EQ(a.kind(), rt::selected_device());
  if (!on_sim()) {
    EXPECT_EQ(rt::pointer_device(a.data()), tessel::DeviceKind::cuda);
  }
  EXPECT_EQ(rt::pointer_device(host.data()), tessel::DeviceKind::cpu);
  a.copy_from_host(host.data(), n * sizeof(float));
  b.copy_from_device(a, n * sizeof(float));
  b.copy_to_host(back.data(), n * sizeof(float));
  EXPECT_EQ(back, host);
  if (on_sim()) { // no streams or events without the driver; the async copies are synchronous
    std::fill(back.begin(), back.end(), -1.0f);
    rt::Stream s = rt::Stream::default_stream();
    a.fill_bytes(0);
    a.copy_from_host_async(host.data(), n * sizeof(float), s);
    a.copy_to_host_async(back.data(), n * sizeof(float), s);
    EXPECT_EQ(back, host);
    return;
  }

  rt::Stream s;
  rt::Event start, stop;
  std::fill(back.begin(), back.end(), -1.0f);
  start.record(s);
  a.fill_bytes(0);
  a.copy_from_host_async(host.data(), n * sizeof(float), s);
  a.copy_to_host_async(back.data(), n * sizeof(float), s);
  stop.record(s);
  s.synchronize();
  EXPECT_EQ(back, host);
  EXPECT_GE(stop.elapsed_ms_since(start), 0.0f);
  expect_error([&] { a.copy_to_host(back.data(), 8, n * sizeof(float)); },
               {"do not fit in a device buffer"});
}

TEST(Gpu, LaunchesAKernelFromAFatbin) {
  SKIP_WITHOUT_GPU();
  SKIP_WITHOUT_KERNELS();
  auto module = rt::CudaModule::from_cubin(fatbin(), "vec_add");
  rt::CudaFunction fn = module.function("vec_add");
  int n = 100000;
  const size_t count = size_t(n);
  std::vector<float> a(count, 1.5f), b(count), out(count);
  std::iota(b.begin(), b.end(), 0.0f);
  rt::DeviceBuffer da = rt::DeviceBuffer::allocate(count * 4);
  rt::DeviceBuffer db = rt::DeviceBuffer::allocate(count * 4);
  rt::DeviceBuffer dout = rt::DeviceBuffer::allocate(count * 4);
  da.copy_from_host(a.data(), a.size() * 4);
  db.copy_from_host(b.data(), b.size() * 4);
  uint64_t pout = dout.device_address(), pa = da.device_address(), pb = db.device_address();
  void* params[] = {&pout, &pa, &pb, &n};
  rt::LaunchDims dims;
  dims.grid = {uint32_t((n + 255) / 256), 1, 1};
  dims.block = {256, 1, 1};
  rt::Stream s;
  rt::launch(fn, dims, params, &s);
  s.synchronize();
  dout.copy_to_host(out.data(), out.size() * 4);
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(out[size_t(i)], a[size_t(i)] + b[size_t(i)]) << i;
  EXPECT_GT(fn.num_registers(), 0);

  rt::LaunchDims too_many_threads = dims;
  too_many_threads.block = {2048, 1, 1};
  expect_error([&] { rt::launch(fn, too_many_threads, params, &s); },
               {"kernel 'vec_add'", "2048 threads exceeds"});
  rt::LaunchDims too_tall = dims;
  too_tall.grid = {1, 1u << 20, 1};
  expect_error([&] { rt::launch(fn, too_tall, params, &s); }, {"grid (1, 1048576, 1) exceeds"});
  rt::LaunchDims too_much_smem = dims;
  too_much_smem.shared_bytes = 16u << 20;
  expect_error([&] { rt::launch(fn, too_much_smem, params, &s); },
               {"bytes of dynamic shared memory exceed"});
  expect_error([&] { module.function("no_such_kernel"); },
               {"cuModuleGetFunction", "no_such_kernel", "CUDA_ERROR_NOT_FOUND"});
}

TEST(Gpu, DynamicSharedMemoryAbove48KiB) {
  SKIP_WITHOUT_GPU();
  SKIP_WITHOUT_KERNELS();
  rt::Device device = rt::Device::get(0);
  const rt::DeviceProperties& p = device.properties();
  if (p.max_shared_per_block_optin < (96 << 10))
    GTEST_SKIP() << "the device offers only " << p.max_shared_per_block_optin << " bytes";
  auto module = rt::CudaModule::from_cubin(fatbin(), "big_smem");
  rt::CudaFunction fn = module.function("big_smem");
  int n = (96 << 10) / 4;
  auto out = rt::DeviceBuffer::allocate(4 * 4);
  uint64_t pout = out.device_address();
  void* params[] = {&pout, &n};
  rt::LaunchDims dims;
  dims.grid = {4, 1, 1};
  dims.block = {256, 1, 1};
  dims.shared_bytes = uint32_t(n * 4);
  rt::launch(fn, dims, params);
  rt::Device::get(0).synchronize();
  float sums[4];
  out.copy_to_host(sums, sizeof sums);
  double expected = 0;
  for (int i = 0; i < n; ++i)
    expected += i % 7;
  for (float s : sums)
    EXPECT_EQ(double(s), expected);
}

TEST(Gpu, BadImageNamesTheKernelAndTheDriverError) {
  SKIP_WITHOUT_GPU();
  std::string junk = std::string("\x7f"
                                 "ELF",
                                 4) +
                     std::string(200, '\x01');
  expect_error([&] { rt::CudaModule::from_cubin(junk, "broken_kernel"); },
               {"cuModuleLoadData", "kernel 'broken_kernel'", "CUDA_ERROR_"});
  expect_error([&] { rt::CudaModule::from_cubin("not an image", "broken_kernel"); },
               {"neither a cubin"});
}

TEST(Gpu, DLPackRoundTripOnTheDevice) {
  SKIP_WITHOUT_DEVICE();
  auto buf = std::make_shared<rt::DeviceBuffer>(rt::DeviceBuffer::allocate(64 * 4));
  if (on_sim()) { // simulated memory cannot be handed to another framework
    expect_error(
        [&] {
          rt::to_dlpack(buf->view(tessel::f32, {8, 8}), buf);
        },
        {"simulated-device memory", "copy it to the host"});
    return;
  }
  tessel::TensorView v = buf->view(tessel::f32, {8, 8});
  EXPECT_EQ(v.device, tessel::DeviceKind::cuda);
  DLManagedTensor* t = rt::to_dlpack(v, buf);
  EXPECT_EQ(t->dl_tensor.device.device_type, kDLCUDA);
  tessel::TensorView back = rt::from_dlpack(*t);
  EXPECT_EQ(back.data, buf->data());
  EXPECT_EQ(back.device, tessel::DeviceKind::cuda);
  rt::check_tensor(back, "x", tessel::f32, 2, tessel::DeviceKind::cuda);
  t->deleter(t);
}

TEST(Gpu, DevicePointerOnACpuLaunchIsAClearError) {
  SKIP_WITHOUT_DEVICE();
  namespace tl = tessel::lang;
  const tessel::Kernel fill = tl::kernel("gpu_test_fill", [](tl::Ptr out, tl::Const<int> BLOCK) {
    tl::store(out + tl::arange(0, BLOCK), tl::zeros({BLOCK}, tl::f32));
  });
  auto buf = rt::DeviceBuffer::allocate(16 * 4);
  expect_error([&] { fill.launch({1}, {}, static_cast<float*>(buf.data()), 16); },
               {"kernel 'gpu_test_fill'",
                on_sim() ? "parameter 0 (Ptr) points at simulated-device memory"
                         : "parameter 0 (Ptr) points at CUDA device memory",
                "CPU backend"});
}

// The launch path of the runtime issue: Kernel::launch with device buffers runs on the device,
// compiled once, with num_warps from the launch options.
TEST(Gpu, KernelLaunchOnDeviceBuffers) {
  SKIP_WITHOUT_DEVICE();
  if (!std::filesystem::exists(tessel::codegen::gpu::libdevice_path()) ||
      !std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()))
    GTEST_SKIP() << "CUDA toolkit (libdevice, nvJitLink) not found";
  const int64_t n = 3000, block = 1024;
  std::vector<float> a(n), b(n), out(n + 16, -1.0f);
  std::iota(a.begin(), a.end(), 0.0f);
  std::iota(b.begin(), b.end(), 0.5f);
  auto da = rt::DeviceBuffer::allocate(n * 4), db = rt::DeviceBuffer::allocate(n * 4);
  auto dout = rt::DeviceBuffer::allocate((n + 16) * 4);
  da.copy_from_host(a.data(), n * 4);
  db.copy_from_host(b.data(), n * 4);
  dout.copy_from_host(out.data(), (n + 16) * 4);
  const tessel::Kernel& add = tessel::samples::vector_add();
  tessel::LaunchOptions options;
  options.num_warps = 8;
  for (int i = 0; i < 2; ++i)
    add.launch({(n + block - 1) / block}, options, dout.view(tessel::f32, {n}),
               da.view(tessel::f32, {n}), db.view(tessel::f32, {n}), n, block);
  dout.copy_to_host(out.data(), (n + 16) * 4);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(out[size_t(i)], a[size_t(i)] + b[size_t(i)]) << i;
  for (int64_t i = n; i < n + 16; ++i)
    ASSERT_EQ(out[size_t(i)], -1.0f) << "masked-off element " << i << " was written";
  EXPECT_EQ(add.stats().source(), tessel::KernelSource::memory);
}

} // namespace
