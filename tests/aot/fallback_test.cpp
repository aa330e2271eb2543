// The JIT fallback of AOT bundles: this program links libtessel as well as libtessel_runtime, so
// a bundle without code for the device's target is compiled from the tile IR it carries
// (jit/aot_fallback.cpp) instead of failing. The simulated device runs sm_80 PTX; the bundle
// has sm_90a only.
#include "tessel_aot.h"

#include "aot/test_bundles.h"
#include "tessel/aot/bundle.h"
#include "tessel/runtime/device_buffer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace {

using tessel::DeviceKind;
using tessel::runtime::DeviceBuffer;

TEST(AotFallback, CompilesTheTargetTheBundleLacksFromItsIr) {
  tessel::aot::Bundle bundle =
      tessel::aot::Bundle::load(tessel::testing::test_bundle("bundle_sm90a"));
  ASSERT_EQ(bundle.targets(), std::vector<std::string>{"sm_90a"});
  EXPECT_EQ(bundle.target_for(DeviceKind::sim), "jit sm_80");

  const int n = 777;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> a(n), b(n), out(n, NAN);
  for (int i = 0; i < n; ++i) {
    a[size_t(i)] = d(rng);
    b[size_t(i)] = d(rng);
  }
  auto upload = [](const std::vector<float>& v) {
    DeviceBuffer buf = DeviceBuffer::allocate_on(DeviceKind::sim, v.size() * sizeof(float));
    buf.copy_from_host(v.data(), v.size() * sizeof(float));
    return buf;
  };
  DeviceBuffer da = upload(a), db = upload(b), dout = upload(out);
  tessel_aot::vector_add(bundle, {.grid = {1}, .device = DeviceKind::sim},
                         static_cast<float*>(dout.data()), static_cast<float*>(da.data()),
                         static_cast<float*>(db.data()), n);
  dout.copy_to_host(out.data(), n * sizeof(float));
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(out[size_t(i)], a[size_t(i)] + b[size_t(i)]) << "element " << i;
}

} // namespace
