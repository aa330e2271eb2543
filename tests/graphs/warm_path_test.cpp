// The warm launch path is capturable into a CUDA graph: once a kernel (or a tessel::ops op, or an
// AOT bundle's kernel) has been launched on a device, launching it again makes no driver call but
// cuLaunchKernelEx and cuCtxGetCurrent — no synchronisation, allocation, module load or blocking
// query, which stream capture forbids or which would stall it. This process runs on the counting
// driver (tests/graphs/counting_driver.cpp, via TESSEL_CUDA_LIBRARY), so it needs no GPU; the
// kernels' results are checked on a real GPU by capture_test.cpp.
#include "aot/test_bundles.h"
#include "tessel/aot/bundle.h"
#include "tessel/ops/norms.h"
#include "tessel/ops/softmax.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/runtime/stream.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <set>
#include <sstream>
#include <string>

// Heap allocations while `g_counting` is set: operator new is replaced for the whole process (the
// counting driver's log does not allocate), so an allocation on the warm path shows up here.
// (GCC takes the free() in operator delete for a mismatch with new; here new is malloc.)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
} // namespace

void* operator new(size_t n) {
  if (g_counting.load(std::memory_order_relaxed))
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1))
    return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace {

namespace tl = tessel::lang;
using tessel::DeviceKind;
using tessel::runtime::DeviceBuffer;

// The driver calls allowed on a warm launch: the launch, and the check that the right context is
// current (cheap, thread-local in the driver, and legal under capture).
const std::set<std::string> kAllowed = {"cuLaunchKernelEx", "cuCtxGetCurrent"};

struct CountingDriver {
  void (*reset)();
  long (*count)(const char*);
  const char* (*sequence)();

  static CountingDriver open() {
    const char* path = std::getenv("TESSEL_CUDA_LIBRARY");
    void* lib = path ? ::dlopen(path, RTLD_NOW | RTLD_NOLOAD) : nullptr;
    CountingDriver d{};
    if (!lib)
      return d;
    d.reset = reinterpret_cast<void (*)()>(::dlsym(lib, "tessel_counting_driver_reset"));
    d.count = reinterpret_cast<long (*)(const char*)>(::dlsym(lib, "tessel_counting_driver_count"));
    d.sequence =
        reinterpret_cast<const char* (*)()>(::dlsym(lib, "tessel_counting_driver_sequence"));
    return d;
  }
  bool ok() const { return reset && count && sequence; }

  // Runs `warm` with the log and the allocation counter cleared, then checks that every driver
  // call was allowed, that there were `launches` launches, and that nothing was allocated.
  template <class F> void expect_warm(long launches, F&& warm) const {
    reset();
    g_allocations = 0;
    g_counting = true;
    warm();
    g_counting = false;
    EXPECT_EQ(g_allocations.load(), 0) << "heap allocations on the warm path";
    std::istringstream calls(sequence());
    std::string seen = sequence();
    for (std::string call; calls >> call;)
      EXPECT_TRUE(kAllowed.count(call)) << call << " on the warm path; every call: " << seen;
    EXPECT_EQ(count("cuLaunchKernelEx"), launches) << "every call: " << seen;
  }
};

class WarmPath : public ::testing::Test {
protected:
  void SetUp() override {
    driver = CountingDriver::open();
    if (!tessel::runtime::cuda_available())
      (void)tessel::runtime::Device::count(); // loads the driver named by TESSEL_CUDA_LIBRARY
    driver = CountingDriver::open();
    ASSERT_TRUE(driver.ok()) << "run with TESSEL_CUDA_LIBRARY=<libtessel_counting_driver.so>";
    ASSERT_EQ(tessel::runtime::Device::get(0).properties().sm_version(), 90);
  }
  CountingDriver driver;
};

const tessel::Kernel& scale_kernel() {
  static const tessel::Kernel k =
      tl::kernel("graph_scale", "out, x, n, BLOCK",
                 [](tl::Ptr out, tl::Ptr x, tl::Int n, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto mask = offs < n;
                   tl::store(out + offs, tl::load(x + offs, mask) * 2.0f, mask);
                 });
  return k;
}

int* volatile g_sink = nullptr;

TEST(AllocationCounter, SeesAnAllocation) { // the check below can fail
  g_allocations = 0;
  g_counting = true;
  g_sink = new int(1);
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 1);
  delete g_sink;
}

TEST_F(WarmPath, KernelLaunchMakesOnlyTheLaunchCall) {
  const int n = 4096;
  DeviceBuffer x = DeviceBuffer::allocate_on(DeviceKind::cuda, n * sizeof(float));
  DeviceBuffer out = DeviceBuffer::allocate_on(DeviceKind::cuda, n * sizeof(float));
  tessel::runtime::Stream stream;
  tessel::LaunchOptions options;
  options.stream = &stream;
  const tessel::Kernel& k = scale_kernel();
  driver.reset();
  k.launch({n / 256}, options, out.view(tessel::f32, {n}), x.view(tessel::f32, {n}), n, 256);
  // The cold launch loads the module: the log sees what the warm path must not do.
  EXPECT_EQ(driver.count("cuModuleLoadData"), 1) << driver.sequence();
  EXPECT_EQ(driver.count("cuModuleGetFunction"), 1) << driver.sequence();
  driver.expect_warm(10, [&] {
    for (int i = 0; i < 10; ++i)
      k.launch({n / 256}, options, out.view(tessel::f32, {n}), x.view(tessel::f32, {n}), n, 256);
  });
}

TEST_F(WarmPath, OpsMakeOnlyTheLaunchCall) {
  const int rows = 8, cols = 1024;
  DeviceBuffer x = DeviceBuffer::allocate_on(DeviceKind::cuda, rows * cols * sizeof(float));
  DeviceBuffer y = DeviceBuffer::allocate_on(DeviceKind::cuda, rows * cols * sizeof(float));
  DeviceBuffer w = DeviceBuffer::allocate_on(DeviceKind::cuda, cols * sizeof(float));
  DeviceBuffer rstd = DeviceBuffer::allocate_on(DeviceKind::cuda, rows * sizeof(float));
  tessel::runtime::Stream stream;
  auto xv = x.view(tessel::f32, {rows, cols}), yv = y.view(tessel::f32, {rows, cols});
  auto wv = w.view(tessel::f32, {cols}), rv = rstd.view(tessel::f32, {rows});
  tessel::ops::softmax(xv, yv, {}, &stream);
  tessel::ops::rms_norm(xv, wv, yv, rv, {}, &stream);
  driver.expect_warm(10, [&] {
    for (int i = 0; i < 5; ++i) {
      tessel::ops::softmax(xv, yv, {}, &stream);
      tessel::ops::rms_norm(xv, wv, yv, rv, {}, &stream);
    }
  });
}

TEST_F(WarmPath, AotBundleLaunchMakesOnlyTheLaunchCall) {
  tessel::aot::Bundle bundle = tessel::aot::Bundle::load(tessel::testing::test_bundle("bundle"));
  ASSERT_EQ(bundle.target_for(DeviceKind::cuda), "sm_90a");
  const int n = 1000;
  DeviceBuffer a = DeviceBuffer::allocate_on(DeviceKind::cuda, n * sizeof(float));
  tessel::runtime::Stream stream;
  void* p = a.data();
  int32_t count = n;
  void* params[] = {&p, &p, &p, &count};
  const tessel::aot::KernelAbi abi{"vector_add",
                                   "out:ptr:f32:a16 a:ptr:f32:a16 b:ptr:f32:a16 n:i32:d1"};
  const tessel::aot::Launch launch{.grid = {1}, .stream = &stream, .device = DeviceKind::cuda};
  bundle.launch(abi, launch, params);
  driver.expect_warm(10, [&] {
    for (int i = 0; i < 10; ++i)
      bundle.launch(abi, launch, params);
  });
}

TEST_F(WarmPath, AotJitFallbackLoadsACubinForTheGpu) {
  // An sm_80-only bundle on the counting driver's sm_90 device: no cubin of the bundle runs
  // there (another major version), so libtessel, linked into this test, compiles sm_90a from the
  // bundle's IR and the runtime loads that cubin.
  tessel::aot::Bundle bundle =
      tessel::aot::Bundle::load(tessel::testing::test_bundle("bundle_sm80"));
  EXPECT_EQ(bundle.target_for(DeviceKind::cuda), "jit sm_90a");
  DeviceBuffer a = DeviceBuffer::allocate_on(DeviceKind::cuda, 64 * sizeof(float));
  void* p = a.data();
  int32_t count = 64;
  void* params[] = {&p, &p, &p, &count};
  const tessel::aot::KernelAbi abi{"vector_add",
                                   "out:ptr:f32:a16 a:ptr:f32:a16 b:ptr:f32:a16 n:i32:d1"};
  driver.reset();
  bundle.launch(abi, {.grid = {1}, .device = DeviceKind::cuda}, params);
  EXPECT_EQ(driver.count("cuModuleLoadData"), 1) << driver.sequence();
  EXPECT_EQ(driver.count("cuLaunchKernelEx"), 1) << driver.sequence();
}

} // namespace
