// CUDA graphs on a real GPU (skipped without one): warm launches of a kernel, of tessel::ops and of
// an AOT bundle's kernel are recorded with cuStreamBeginCapture / cuStreamEndCapture, the graph
// is launched twice, and the results are compared with a plain C++ reference. A launch path that
// synchronised, allocated or loaded a module would fail the capture (CUDA_ERROR_STREAM_CAPTURE_*).
// The capture entry points are not in tessel's driver table (runtime/cuda_api.h) — tessel never
// captures on its own — so the test resolves them from the same libcuda.so.1.
#include "aot/test_bundles.h"
#include "tessel/aot/bundle.h"
#include "tessel/ops/softmax.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/runtime/stream.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cmath>
#include <random>
#include <vector>

namespace {

namespace tl = tessel::lang;
using tessel::DeviceKind;
using tessel::runtime::DeviceBuffer;

struct Graphs {
  int (*begin)(void* stream, int mode) = nullptr;
  int (*end)(void* stream, void** graph) = nullptr;
  int (*instantiate)(void** exec, void* graph, unsigned long long flags) = nullptr;
  int (*launch)(void* exec, void* stream) = nullptr;
  int (*exec_destroy)(void* exec) = nullptr;
  int (*destroy)(void* graph) = nullptr;

  static Graphs open() {
    Graphs g;
    void* lib = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (!lib)
      return g;
    g.begin = reinterpret_cast<decltype(g.begin)>(::dlsym(lib, "cuStreamBeginCapture_v2"));
    g.end = reinterpret_cast<decltype(g.end)>(::dlsym(lib, "cuStreamEndCapture"));
    g.instantiate =
        reinterpret_cast<decltype(g.instantiate)>(::dlsym(lib, "cuGraphInstantiateWithFlags"));
    g.launch = reinterpret_cast<decltype(g.launch)>(::dlsym(lib, "cuGraphLaunch"));
    g.exec_destroy = reinterpret_cast<decltype(g.exec_destroy)>(::dlsym(lib, "cuGraphExecDestroy"));
    g.destroy = reinterpret_cast<decltype(g.destroy)>(::dlsym(lib, "cuGraphDestroy"));
    return g;
  }
  bool ok() const { return begin && end && instantiate && launch && exec_destroy && destroy; }
};

constexpr int kCaptureModeThreadLocal = 1; // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL

const tessel::Kernel& scale_kernel() {
  static const tessel::Kernel k =
      tl::kernel("graph_capture_scale", "out, x, n, BLOCK",
                 [](tl::Ptr out, tl::Ptr x, tl::Int n, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto mask = offs < n;
                   tl::store(out + offs, tl::load(x + offs, mask) * 2.0f, mask);
                 });
  return k;
}

TEST(GpuGraphs, WarmLaunchesAreCapturedAndReplayed) {
  if (tessel::runtime::Device::count() == 0)
    GTEST_SKIP() << "no CUDA GPU: " << tessel::runtime::driver_info().error;
  Graphs g = Graphs::open();
  ASSERT_TRUE(g.ok()) << "the driver lacks the CUDA graph entry points";
  const int rows = 16, cols = 1024, n = rows * cols;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> d(-3.f, 3.f);
  std::vector<float> x(n);
  for (float& v : x)
    v = d(rng);
  DeviceBuffer dx = DeviceBuffer::allocate_on(DeviceKind::cuda, n * sizeof(float));
  DeviceBuffer dscaled = DeviceBuffer::allocate_on(DeviceKind::cuda, n * sizeof(float));
  DeviceBuffer dsum = DeviceBuffer::allocate_on(DeviceKind::cuda, n * sizeof(float));
  DeviceBuffer dsoft = DeviceBuffer::allocate_on(DeviceKind::cuda, n * sizeof(float));
  dx.copy_from_host(x.data(), n * sizeof(float));
  tessel::runtime::Stream stream;
  tessel::LaunchOptions options;
  options.stream = &stream;
  tessel::aot::Bundle bundle = tessel::aot::Bundle::load(tessel::testing::test_bundle("bundle"));
  void *px = dx.data(), *pscaled = dscaled.data(), *psum = dsum.data();
  int32_t count = n;
  void* add_params[] = {&psum, &pscaled, &px, &count};
  const tessel::aot::KernelAbi add{"vector_add",
                                   "out:ptr:f32:a16 a:ptr:f32:a16 b:ptr:f32:a16 n:i32:d1"};
  const tessel::aot::Launch add_launch{
      .grid = {(n + 1023) / 1024}, .stream = &stream, .device = DeviceKind::cuda};
  auto work = [&] {
    scale_kernel().launch({n / 256}, options, dscaled.view(tessel::f32, {n}),
                          dx.view(tessel::f32, {n}), n, 256); // scaled = 2x
    bundle.launch(add, add_launch, add_params);               // sum = 3x
    tessel::ops::softmax(dsum.view(tessel::f32, {rows, cols}),
                         dsoft.view(tessel::f32, {rows, cols}), {}, &stream); // softmax(3x)
  };
  work(); // cold: compiles and loads everything
  stream.synchronize();
  dsoft.fill_bytes(0xff); // NaN: the graph must write every element

  ASSERT_EQ(g.begin(stream.handle(), kCaptureModeThreadLocal), 0);
  work();
  void* graph = nullptr;
  ASSERT_EQ(g.end(stream.handle(), &graph), 0) << "a warm launch broke the capture";
  void* exec = nullptr;
  ASSERT_EQ(g.instantiate(&exec, graph, 0), 0);
  ASSERT_EQ(g.launch(exec, stream.handle()), 0);
  ASSERT_EQ(g.launch(exec, stream.handle()), 0);
  stream.synchronize();
  g.exec_destroy(exec);
  g.destroy(graph);

  std::vector<float> soft(n);
  dsoft.copy_to_host(soft.data(), n * sizeof(float));
  for (int r = 0; r < rows; ++r) {
    double max = -INFINITY, sum = 0;
    for (int c = 0; c < cols; ++c)
      max = std::max(max, 3.0 * x[size_t(r * cols + c)]);
    for (int c = 0; c < cols; ++c)
      sum += std::exp(3.0 * x[size_t(r * cols + c)] - max);
    for (int c = 0; c < cols; ++c)
      ASSERT_NEAR(soft[size_t(r * cols + c)], std::exp(3.0 * x[size_t(r * cols + c)] - max) / sum,
                  1e-5)
          << "row " << r << " column " << c;
  }
}

} // namespace
