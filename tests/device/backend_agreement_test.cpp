// Regressions for places where the GPU backend disagreed with the CPU backend and with ir.h, each
// run on the CPU backend and on the simulated device: a for_range with a run-time step <= 0 (no
// iteration) or near INT32_MAX (no wrap), a scalar read-modify-write (done once, whatever
// num_warps), a read-modify-write of a tensor smaller than the threads (replicated: done once).
// The element-level rules (compares on i1, division by zero, shifts, casts, fmod) are in
// scalar_semantics_test.cpp.
#include "support/require_sim_device.h"
#include "tessel/codegen/gpu.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <climits>
#include <filesystem>
#include <optional>
#include <vector>

namespace {

namespace rt = tessel::runtime;
namespace tl = tessel::lang;

// i32 buffers on the CPU (host memory) or the simulated device, read back after a launch.
struct Buffer {
  tessel::DeviceKind where;
  std::vector<int32_t> host;
  std::optional<rt::DeviceBuffer> device;

  Buffer(tessel::DeviceKind w, std::vector<int32_t> init) : where(w), host(std::move(init)) {
    if (where != tessel::DeviceKind::sim)
      return;
    device = rt::DeviceBuffer::allocate_on(where, host.size() * 4);
    device->copy_from_host(host.data(), host.size() * 4);
  }
  tessel::TensorView view() {
    int64_t n = int64_t(host.size());
    return device ? device->view(tessel::i32, {n})
                  : tessel::TensorView(host.data(), tessel::i32, {n});
  }
  std::vector<int32_t> read() {
    if (device)
      device->copy_to_host(host.data(), host.size() * 4);
    return host;
  }
};

constexpr tessel::DeviceKind kBoth[] = {tessel::DeviceKind::cpu, tessel::DeviceKind::sim};

tessel::LaunchOptions on(tessel::DeviceKind where, int num_warps = 4) {
  tessel::LaunchOptions o;
  o.device = where;
  o.num_warps = num_warps;
  return o;
}

// out = {iterations, last iv}.
const tessel::Kernel& loop_counter() {
  static const tessel::Kernel k =
      tl::kernel("agree_loop_counter", [](tl::Ptr out, tl::Int lo, tl::Int hi, tl::Int step) {
        auto count = tl::scalar(0, tl::i32);
        auto last = tl::scalar(-1, tl::i32);
        tl::for_range(lo, hi, step, [&](tl::Int iv) {
          count = count + 1;
          last = iv + 0;
        });
        tl::store(out, count);
        tl::store(out + 1, last);
      });
  return k;
}

std::vector<int32_t> count_loop(tessel::DeviceKind where, int32_t lo, int32_t hi, int32_t step) {
  Buffer out(where, {-7, -7});
  loop_counter().launch({1}, on(where), out.view(), lo, hi, step);
  return out.read();
}

// ir.h: "a step <= 0 runs no iteration" (the GPU loop never ended).
TEST(BackendAgreement, ForRangeWithStepNotPositiveRunsNoIteration) {
  REQUIRE_SIM_DEVICE();
  for (tessel::DeviceKind where : kBoth)
    for (int32_t step : {0, -1, -3}) {
      SCOPED_TRACE(step);
      EXPECT_EQ(count_loop(where, 0, 10, step), (std::vector<int32_t>{0, -1}));
    }
}

// ir.h: iv < hi "computed without overflow" (the GPU's i32 iv wrapped to INT_MIN and kept going).
TEST(BackendAgreement, ForRangeNearInt32MaxDoesNotWrap) {
  REQUIRE_SIM_DEVICE();
  for (tessel::DeviceKind where : kBoth) {
    EXPECT_EQ(count_loop(where, INT32_MAX - 5, INT32_MAX, 2),
              (std::vector<int32_t>{3, INT32_MAX - 1}));
    EXPECT_EQ(count_loop(where, INT32_MAX - 1, INT32_MAX, 7),
              (std::vector<int32_t>{1, INT32_MAX - 1}));
    EXPECT_EQ(count_loop(where, 0, 9, 4), (std::vector<int32_t>{3, 8}));
  }
}

// A scalar store is issued by one thread: `store(p, load(p) + 1)` adds 1, not num_warps.
TEST(BackendAgreement, ScalarReadModifyWriteHappensOnceForAnyNumWarps) {
  REQUIRE_SIM_DEVICE();
  const tessel::Kernel k = tl::kernel("agree_scalar_rmw", [](tl::Ptr p, tl::Ptr q, tl::Int flag) {
    tl::store(p, tl::load(p) + 1);
    tl::store(q, tl::load(q) + 1, flag > 0); // masked scalar store
  });
  for (tessel::DeviceKind where : kBoth)
    for (int warps : {1, 2, 4, 8}) {
      SCOPED_TRACE(warps);
      for (int flag : {0, 1}) {
        Buffer p(where, {10}), q(where, {20});
        k.launch({1}, on(where, warps), p.view(), q.view(), flag);
        EXPECT_EQ(p.read()[0], 11);
        EXPECT_EQ(q.read()[0], 20 + flag);
      }
    }
}

// A tensor of 4 elements has copies in many threads: each element is still updated once.
TEST(BackendAgreement, ReplicatedTensorReadModifyWriteHappensOnce) {
  REQUIRE_SIM_DEVICE();
  const tessel::Kernel k = tl::kernel("agree_small_rmw", [](tl::Ptr p) {
    auto offs = tl::arange(0, 4);
    tl::store(p + offs, tl::load(p + offs) * 2 + 1);
  });
  for (tessel::DeviceKind where : kBoth)
    for (int warps : {1, 2, 4, 8}) {
      SCOPED_TRACE(warps);
      Buffer p(where, {1, 2, 3, 4, 99});
      k.launch({1}, on(where, warps), p.view());
      EXPECT_EQ(p.read(), (std::vector<int32_t>{3, 5, 7, 9, 99}));
    }
}

} // namespace
