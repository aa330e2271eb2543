// Kernel::launch on the simulated device: every sample against its C++ reference (f32, and f16
// for vector_add and softmax) with poisoned outputs; an out-of-bounds store is an error naming the
// kernel; a host pointer beside a simulated buffer is an error; a second launch does not compile.
// Sizes are small: the simulator runs about 150M thread-instructions a second.
#include "samples/reference.h"
#include "support/expect_error.h"
#include "support/require_sim_device.h"
#include "tessel/codegen/gpu.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/samples/samples.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <vector>

namespace {

namespace rt = tessel::runtime;
namespace ref = tessel::samples::reference;
namespace tl = tessel::lang;
using tessel::testing::expect_error;

constexpr float kPoison = -777.0f; // exact in f16 too

// A simulated buffer holding `host` converted to T.
template <class T> rt::DeviceBuffer upload(const std::vector<float>& host) {
  std::vector<T> v;
  v.reserve(host.size());
  for (float x : host)
    v.push_back(T(x));
  auto buf = rt::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, v.size() * sizeof(T));
  buf.copy_from_host(v.data(), v.size() * sizeof(T));
  return buf;
}

template <class T> std::vector<float> download(const rt::DeviceBuffer& buf, size_t n) {
  std::vector<T> v(n);
  buf.copy_to_host(v.data(), n * sizeof(T));
  std::vector<float> out;
  for (const T& x : v)
    out.push_back(float(x));
  return out;
}

template <class T> tessel::DType dtype() { return tessel::dtype_of_v<T>; }

template <class T> void vector_add(float tol) {
  const int64_t n = 1000, block = 256; // 4 programs, the last one partly masked
  auto a = ref::random_floats(n, 1), b = ref::random_floats(n, 2);
  auto da = upload<T>(a), db = upload<T>(b), dout = upload<T>(std::vector<float>(n + 64, kPoison));
  tessel::samples::vector_add().launch({(n + block - 1) / block}, {}, dout.view(dtype<T>(), {n}),
                                       da.view(dtype<T>(), {n}), db.view(dtype<T>(), {n}), n,
                                       block);
  std::vector<float> got = download<T>(dout, n + 64), want(n);
  std::vector<float> ar = download<T>(da, n), br = download<T>(db, n);
  ref::vector_add(ar, br, want);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::fabs(want[i]))) << i;
  for (int64_t i = n; i < n + 64; ++i)
    ASSERT_EQ(got[i], kPoison) << "masked-off element " << i << " was written";
}

TEST(SimDevice, VectorAddF32) {
  REQUIRE_SIM_DEVICE();
  vector_add<float>(0);
}
TEST(SimDevice, VectorAddF16) {
  REQUIRE_SIM_DEVICE();
  vector_add<tessel::half>(1e-3f);
}

template <class T> void softmax(float tol) {
  const int64_t rows = 3, cols = 200, block = 256;
  auto x = ref::random_floats(rows * cols, 3, -4, 4);
  auto dx = upload<T>(x), dout = upload<T>(std::vector<float>(rows * cols, kPoison));
  tessel::samples::softmax().launch({rows}, {}, dout.view(dtype<T>(), {rows, cols}),
                                    dx.view(dtype<T>(), {rows, cols}), cols, cols, block);
  std::vector<float> got = download<T>(dout, rows * cols), want(rows * cols);
  ref::softmax(download<T>(dx, rows * cols), want, rows, cols);
  auto e = ref::compare(got, want);
  EXPECT_LE(e.max_abs, tol);
}

TEST(SimDevice, SoftmaxF32) {
  REQUIRE_SIM_DEVICE();
  softmax<float>(1e-6f);
}
TEST(SimDevice, SoftmaxF16) {
  REQUIRE_SIM_DEVICE();
  softmax<tessel::half>(2e-3f);
}

TEST(SimDevice, LayerNormF32) {
  REQUIRE_SIM_DEVICE();
  const int64_t rows = 2, cols = 300, block = 512;
  const float eps = 1e-5f;
  auto x = ref::random_floats(rows * cols, 4), w = ref::random_floats(cols, 5),
       b = ref::random_floats(cols, 6);
  auto dx = upload<float>(x), dw = upload<float>(w), db = upload<float>(b),
       dy = upload<float>(std::vector<float>(rows * cols, kPoison));
  tessel::samples::layer_norm().launch(
      {rows}, {}, dy.view(tessel::f32, {rows, cols}), dx.view(tessel::f32, {rows, cols}),
      dw.view(tessel::f32, {cols}), db.view(tessel::f32, {cols}), cols, cols, eps, block);
  std::vector<float> want(rows * cols);
  ref::layer_norm(x, w, b, want, rows, cols, eps);
  EXPECT_LE(ref::compare(download<float>(dy, rows * cols), want).max_abs, 1e-4);
}

TEST(SimDevice, MatmulF32) {
  REQUIRE_SIM_DEVICE();
  const int64_t m = 40, n = 48, k = 40, bm = 32, bn = 32, bk = 16; // edge tiles masked
  auto a = ref::random_floats(m * k, 7), b = ref::random_floats(k * n, 8);
  auto da = upload<float>(a), db = upload<float>(b),
       dc = upload<float>(std::vector<float>(m * n, kPoison));
  const tessel::Kernel& mm = tessel::samples::matmul();
  mm.launch({((m + bm - 1) / bm) * ((n + bn - 1) / bn)}, {}, dc.view(tessel::f32, {m, n}),
            da.view(tessel::f32, {m, k}), db.view(tessel::f32, {k, n}), m, n, k, k, 1, n, 1, n, 1,
            bm, bn, bk, /*GROUP_M=*/8);
  // f32 dots run as tf32 on the GPU by default (docs/gpu_codegen.md): the reference rounds the
  // operands the same way (to nearest, ties away).
  auto tf32 = [](std::vector<float> v) {
    for (float& x : v)
      x = std::bit_cast<float>((std::bit_cast<uint32_t>(x) + 0x1000u) & 0xffffe000u);
    return v;
  };
  std::vector<float> want(m * n);
  ref::matmul(tf32(a), tf32(b), want, m, n, k);
  EXPECT_LE(ref::compare(download<float>(dc, m * n), want).max_abs, 1e-4);
}

TEST(SimDevice, SecondLaunchDoesNotCompileAndNumWarpsIsPartOfTheKey) {
  REQUIRE_SIM_DEVICE();
  const tessel::Kernel k = tl::kernel("sim_scale", [](tl::Ptr out, tl::Ptr in, tl::Const<int> B) {
    auto offs = tl::arange(0, B);
    tl::store(out + offs, tl::load(in + offs) * 2.0);
  });
  auto in = upload<float>(ref::random_floats(64, 9)), out = upload<float>(std::vector<float>(64));
  k.launch({1}, {}, out.view(tessel::f32, {64}), in.view(tessel::f32, {64}), 64);
  EXPECT_EQ(k.stats().compiles, 1);
  EXPECT_NE(k.stats().source(), tessel::KernelSource::memory);
  k.launch({1}, {}, out.view(tessel::f32, {64}), in.view(tessel::f32, {64}), 64);
  EXPECT_EQ(k.stats().compiles, 1);
  EXPECT_EQ(k.stats().source(), tessel::KernelSource::memory);
  EXPECT_EQ(k.stats().launches, 2);
  tessel::LaunchOptions two_warps;
  two_warps.num_warps = 2;
  k.launch({1}, two_warps, out.view(tessel::f32, {64}), in.view(tessel::f32, {64}), 64);
  EXPECT_EQ(k.stats().compiles, 2);
  std::vector<float> got = download<float>(out, 64), x = download<float>(in, 64);
  for (int i = 0; i < 64; ++i)
    ASSERT_EQ(got[i], 2 * x[i]) << i;
  tessel::LaunchOptions three_warps;
  three_warps.num_warps = 3;
  expect_error(
      [&] {
        k.launch({1}, three_warps, out.view(tessel::f32, {64}), in.view(tessel::f32, {64}), 64);
      },
      {"kernel 'sim_scale'", "num_warps is 3", "power of two"});
}

TEST(SimDevice, OutOfBoundsStoreIsAnErrorNamingTheKernel) {
  REQUIRE_SIM_DEVICE();
  // Stores 64 elements, unmasked, into a buffer of 16.
  const tessel::Kernel k = tl::kernel("sim_oob_store", [](tl::Ptr out, tl::Const<int> B) {
    tl::store(out + tl::arange(0, B), tl::zeros({B}, tl::f32));
  });
  auto out = rt::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, 16 * 4);
  expect_error([&] { k.launch({1}, {}, out.view(tessel::f32, {16}), 64); },
               {"kernel 'sim_oob_store'", "simulated device", "memcheck", "ptx line", "thread",
                "address 0x"});
}

TEST(SimDevice, HostPointerBesideASimBufferIsAnError) {
  REQUIRE_SIM_DEVICE();
  const tessel::Kernel k = tl::kernel("sim_mixed", [](tl::Ptr out, tl::Ptr in, tl::Const<int> B) {
    auto offs = tl::arange(0, B);
    tl::store(out + offs, tl::load(in + offs));
  });
  std::vector<float> host(16);
  auto buf = rt::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, 16 * 4);
  expect_error([&] { k.launch({1}, {}, buf.view(tessel::f32, {16}), host.data(), 16); },
               {"kernel 'sim_mixed'", "different devices",
                "parameter 0 (Ptr) is in the simulated device",
                "parameter 1 (Ptr) is in host memory", "DeviceBuffer"});
  expect_error([&] { k.launch({1}, {}, host.data(), buf.view(tessel::f32, {16}), 16); },
               {"parameter 0 (Ptr) is in host memory", "parameter 1 (Ptr) is in the simulated"});
  // A simulated address as a raw pointer would make a CPU launch that crashes.
  expect_error([&] { k.launch({1}, {}, host.data(), static_cast<const float*>(buf.data()), 16); },
               {"kernel 'sim_mixed'", "parameter 1 (Ptr) points at simulated-device memory"});
}

// LaunchOptions::device: raw pointers are addresses on the requested device (like a float* from
// cudaMalloc); a view on another device is an error naming the parameter.
TEST(SimDevice, ExplicitDeviceOptionTakesRawPointers) {
  REQUIRE_SIM_DEVICE();
  const tessel::Kernel k = tl::kernel("sim_raw", [](tl::Ptr out, tl::Ptr in, tl::Const<int> B) {
    auto offs = tl::arange(0, B);
    tl::store(out + offs, tl::load(in + offs) * 3.0f);
  });
  std::vector<float> host(64);
  for (int i = 0; i < 64; ++i)
    host[size_t(i)] = float(i);
  auto in = upload<float>(host);
  auto out = upload<float>(std::vector<float>(64, kPoison));
  tessel::LaunchOptions on_sim;
  on_sim.device = tessel::DeviceKind::sim;
  k.launch({1}, on_sim, static_cast<float*>(out.data()), static_cast<const float*>(in.data()), 64);
  std::vector<float> got = download<float>(out, 64);
  for (int i = 0; i < 64; ++i)
    ASSERT_EQ(got[size_t(i)], 3.0f * float(i)) << i;
  tessel::LaunchOptions on_cpu;
  on_cpu.device = tessel::DeviceKind::cpu;
  expect_error([&] { k.launch({1}, on_cpu, host.data(), in.view(tessel::f32, {64}), 64); },
               {"kernel 'sim_raw'", "parameter 1 (Ptr)", "in the simulated device",
                "LaunchOptions::device asks for host memory"});
}

TEST(SimDevice, BuffersCopyFillAndView) {
  REQUIRE_SIM_DEVICE();
  auto a = rt::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, 64);
  auto b = rt::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, 64);
  EXPECT_EQ(a.kind(), tessel::DeviceKind::sim);
  EXPECT_EQ(a.view(tessel::f32, {16}).device, tessel::DeviceKind::sim);
  a.fill_bytes(7);
  b.copy_from_device(a, 64);
  std::vector<unsigned char> back(64);
  b.copy_to_host(back.data(), 64);
  EXPECT_EQ(back, std::vector<unsigned char>(64, 7));
  expect_error([&] { b.copy_to_host(back.data(), 8, 60); }, {"do not fit in a device buffer"});
}

TEST(SimDevice, SelectDevice) {
  if (!rt::sim_available())
    GTEST_SKIP() << "tessel was built without the PTX simulator";
  expect_error([] { rt::select_device(tessel::DeviceKind::cpu); }, {"not a GPU device"});
  tessel::DeviceKind before = rt::selected_device();
  rt::select_device(tessel::DeviceKind::sim);
  auto buf = rt::DeviceBuffer::allocate(32);
  EXPECT_EQ(buf.kind(), tessel::DeviceKind::sim);
  rt::select_device(before);
}

} // namespace
