// The simulated device's target (TESSEL_SIM_TARGET) is part of a Kernel's in-memory specialization
// key: one process that launches one kernel on the simulated sm_80 and then on the simulated
// sm_90a compiles it twice (before, the second launch reused the sm_80 code), going back to sm_80
// compiles nothing, and TESSEL_DUMP=recompile / TESSEL_MAX_RECOMPILES name the target change.
#include "device/backend_buffers.h"
#include "support/expect_error.h"
#include "support/scoped_env.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tessel::testing {
namespace {

namespace tl = tessel::lang;

constexpr float kPoison = -99.0f;

Kernel make_fill(const char* name) {
  return tl::kernel(name, "out, n, value, BLOCK",
                    [](tl::Ptr out, tl::Int n, tl::Float value, tl::Const<int> BLOCK) {
                      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                      tl::store(out + offs, value + tl::zeros({BLOCK}, tl::f32), offs < n);
                    });
}

// Launches `k` on the simulated device under TESSEL_SIM_TARGET=`target` and checks what it wrote
// into a poisoned buffer (n = 100 of 128 elements).
void fill_on(const Kernel& k, const char* target, float value) {
  ScopedEnv sim_target("TESSEL_SIM_TARGET", target);
  Buffer<float> out(DeviceKind::sim, std::vector<float>(128, kPoison));
  k.launch({4}, on(DeviceKind::sim), out.view(), 100, value, 32);
  const std::vector<float> got = out.read();
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], i < 100 ? value : kPoison) << target << " at " << i;
}

class SimTargetKey : public ::testing::Test {
protected:
  void SetUp() override {
    if (cpu_and_sim().size() < 2)
      GTEST_SKIP() << "needs the simulator, libdevice and nvJitLink";
  }
};

TEST_F(SimTargetKey, EachTargetCompilesItsOwnSpecialization) {
  const Kernel k = make_fill("sim_target_fill");
  fill_on(k, "sm_80", 1.5f);
  EXPECT_EQ(k.stats().compiles, 1);
  fill_on(k, "sm_90a", 2.5f);
  EXPECT_EQ(k.stats().compiles, 2) << "the sm_90a launch must not reuse the sm_80 code";
  fill_on(k, "sm_80", 3.5f);
  fill_on(k, "sm_90a", 4.5f);
  EXPECT_EQ(k.stats().compiles, 2) << "each target's code is kept";
  EXPECT_EQ(k.stats().launches, 4);
}

// TESSEL_SIM_TARGET unset is sm_80: the same specialization (the key holds the parsed target).
TEST_F(SimTargetKey, UnsetMeansSm80) {
  const Kernel k = make_fill("sim_target_default");
  fill_on(k, "sm_80", 1.0f);
  {
    ScopedEnv unset("TESSEL_SIM_TARGET", nullptr);
    Buffer<float> out(DeviceKind::sim, std::vector<float>(128, kPoison));
    k.launch({4}, on(DeviceKind::sim), out.view(), 100, 2.0f, 32);
    EXPECT_EQ(out.read()[0], 2.0f);
  }
  EXPECT_EQ(k.stats().compiles, 1);
}

TEST_F(SimTargetKey, RecompileReasonNamesTheTargets) {
  const Kernel k = make_fill("sim_target_why");
  fill_on(k, "sm_80", 1.0f);
  ScopedEnv limit("TESSEL_MAX_RECOMPILES", "0");
  expect_error([&] { fill_on(k, "sm_90a", 2.0f); },
               {"new specialization of 'sim_target_why': device and launch options: sim sm_80 "
                "num_warps=4 num_stages=2 -> sim sm_90a num_warps=4 num_stages=2"});
}

// A name that is no target still fails at the launch, naming the variable.
TEST_F(SimTargetKey, ABadTargetIsStillAnError) {
  const Kernel k = make_fill("sim_target_bad");
  expect_error([&] { fill_on(k, "sm_42", 1.0f); },
               {"kernel 'sim_target_bad': TESSEL_SIM_TARGET='sm_42' is not a target"});
}

} // namespace
} // namespace tessel::testing
