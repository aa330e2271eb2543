// Random numbers on the simulated GPU: the kernels of tests/dsl/random_kernels.h compiled by the
// GPU code generator and run in the PTX simulator give Random123's known answers, and the same
// bits as the CPU backend for philox / randint4x / randint / rand / randn, whatever num_warps. The
// PTX of each kernel compiles for sm_80 and sm_90a without spills or local memory.
#include "dsl/random_kernels.h"
#include "gpu/gpu_test_util.h"
#include "support/philox_reference.h"
#include "support/require_sim_device.h"
#include "tessel/runtime/device_buffer.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <optional>
#include <random>
#include <vector>

namespace tessel::testing {
namespace {

namespace rt = tessel::runtime;

// Elements on the CPU (host memory) or the simulated device, read back after a launch.
template <class T> struct Buffer {
  DeviceKind where;
  std::vector<T> host;
  std::optional<rt::DeviceBuffer> device;

  Buffer(DeviceKind w, std::vector<T> init) : where(w), host(std::move(init)) {
    if (where != DeviceKind::sim)
      return;
    device = rt::DeviceBuffer::allocate_on(where, host.size() * sizeof(T));
    device->copy_from_host(host.data(), host.size() * sizeof(T));
  }
  TensorView view() {
    const int64_t n = int64_t(host.size());
    return device ? device->view(dtype_of_v<T>, {n}) : TensorView(host.data(), dtype_of_v<T>, {n});
  }
  std::vector<T> read() {
    if (device)
      device->copy_to_host(host.data(), host.size() * sizeof(T));
    return host;
  }
};

LaunchOptions on(DeviceKind where, int num_warps = 4) {
  LaunchOptions o;
  o.device = where;
  o.num_warps = num_warps;
  return o;
}

TEST(RandomOnTheSimulator, PhiloxGivesRandom123KnownAnswers) {
  REQUIRE_SIM_DEVICE();
  const PhiloxWords ctr[] = {{0, 0, 0, 0},
                             {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                             {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}};
  const std::array<uint32_t, 2> key[] = {
      {0, 0}, {0xffffffff, 0xffffffff}, {0xa4093822, 0x299f31d0}};
  const PhiloxWords want[] = {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
                              {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
                              {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
  for (int v = 0; v < 3; ++v) {
    std::vector<int32_t> c(4 * 4, 0);
    for (int i = 0; i < 4; ++i)
      std::memcpy(&c[4 * i], ctr[v].data(), 16);
    Buffer<int32_t> in(DeviceKind::sim, c), out(DeviceKind::sim, std::vector<int32_t>(16, -1));
    philox_words_kernel().launch({1}, on(DeviceKind::sim), out.view(), in.view(),
                                 int32_t(key[v][0]), int32_t(key[v][1]), 4, 16);
    std::vector<int32_t> got = out.read();
    for (int i = 0; i < 4; ++i)
      for (int w = 0; w < 4; ++w)
        EXPECT_EQ(uint32_t(got[4 * i + w]), want[v][w]) << "vector " << v << " word " << w;
  }
}

template <class Offset>
std::vector<int32_t> randint4x_on(DeviceKind where, const std::vector<Offset>& offsets,
                                  int64_t seed, bool seed64, int num_warps) {
  const int n = int(offsets.size()), block = 128;
  Buffer<Offset> in(where, offsets);
  Buffer<int32_t> out(where,
                      std::vector<int32_t>(offsets.size() * 4, where == DeviceKind::sim ? -1 : -2));
  randint4x_kernel().launch({(n + block - 1) / block}, on(where, num_warps), out.view(), in.view(),
                            int32_t(uint64_t(seed)), int32_t(uint64_t(seed) >> 32), n, int(seed64),
                            block);
  return out.read();
}

TEST(RandomOnTheSimulator, Randint4xHasTheCpusBits) {
  REQUIRE_SIM_DEVICE();
  std::mt19937_64 gen(5);
  std::vector<int32_t> off32(300);
  std::vector<int64_t> off64(300);
  for (size_t i = 0; i < 300; ++i) {
    off32[i] = int32_t(gen());
    off64[i] = int64_t(gen());
  }
  const std::vector<int32_t> cpu32 = randint4x_on(DeviceKind::cpu, off32, -7, false, 4);
  const std::vector<int32_t> cpu64 =
      randint4x_on(DeviceKind::cpu, off64, 0x299f31d0a4093822, true, 4);
  for (int warps : {1, 4, 8}) {
    SCOPED_TRACE(warps);
    EXPECT_EQ(randint4x_on(DeviceKind::sim, off32, -7, false, warps), cpu32);
    EXPECT_EQ(randint4x_on(DeviceKind::sim, off64, 0x299f31d0a4093822, true, warps), cpu64);
  }
  // And both are the reference (checked element by element on the CPU in tests/dsl).
  PhiloxWords want = randint4x_reference(0x299f31d0a4093822, uint64_t(off64[9]));
  for (int w = 0; w < 4; ++w)
    EXPECT_EQ(uint32_t(cpu64[4 * 9 + w]), want[w]);
}

struct Floats {
  std::vector<int32_t> words;
  std::vector<float> uniform, normal;
};

Floats random_floats_on(DeviceKind where, int seed, int base, int n) {
  const int block = 256;
  Buffer<int32_t> words(where, std::vector<int32_t>(n, -1));
  Buffer<float> uniform(where, std::vector<float>(n, NAN)),
      normal(where, std::vector<float>(n, NAN));
  random_floats_kernel().launch({(n + block - 1) / block}, on(where), words.view(), uniform.view(),
                                normal.view(), seed, base, n, block);
  return {words.read(), uniform.read(), normal.read()};
}

TEST(RandomOnTheSimulator, RandintRandAndRandnHaveTheCpusBits) {
  REQUIRE_SIM_DEVICE();
  const int n = 1000;
  Floats cpu = random_floats_on(DeviceKind::cpu, 31337, 17, n);
  Floats sim = random_floats_on(DeviceKind::sim, 31337, 17, n);
  EXPECT_EQ(sim.words, cpu.words);
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(std::bit_cast<uint32_t>(sim.uniform[i]), std::bit_cast<uint32_t>(cpu.uniform[i]))
        << i;
    // randn's log and cos are built from exactly rounded operations (dsl/random.cpp): the same
    // bits on both backends, and close to the f64 Box-Muller of the same words.
    ASSERT_EQ(std::bit_cast<uint32_t>(sim.normal[i]), std::bit_cast<uint32_t>(cpu.normal[i]))
        << i << ": sim " << sim.normal[i] << ", cpu " << cpu.normal[i];
    const double want = normal_reference(randint4x_reference(31337, 17 + i));
    ASSERT_NEAR(sim.normal[i], want, 2e-5 * (1 + std::fabs(want))) << i;
  }
}

TEST(RandomPtx, NoSpillsOnSm80AndSm90a) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  struct Case {
    const Kernel* kernel;
    std::vector<int64_t> consts;
  };
  const Case cases[] = {{&philox_words_kernel(), {256}},
                        {&randint4x_kernel(), {0, 256}},
                        {&randint4x_kernel(), {1, 256}},
                        {&random_floats_kernel(), {1024}}};
  for (const Case& c : cases)
    for (const char* target : {"sm_80", "sm_90a"}) {
      auto module = trace_dsl(*c.kernel, c.consts, DType::i32);
      codegen::gpu::CompileOptions opts;
      opts.num_warps = 4;
      auto out =
          codegen::gpu::compile(*module->functions.front(), codegen::parse_target(target), opts);
      SCOPED_TRACE(c.kernel->name() + " " + target);
      EXPECT_TRUE(out.resources.parsed) << out.info_log;
      EXPECT_EQ(out.resources.spill_stores, 0);
      EXPECT_EQ(out.resources.spill_loads, 0);
      EXPECT_EQ(codegen::gpu::ptx_stats(out.ptx).get("local"), 0);
      // Philox's multiplies are the hardware's: mul.hi.u32 (umulhi) and mul.lo.s32.
      EXPECT_NE(out.ptx.find("mul.hi.u32"), std::string::npos);
    }
}

} // namespace
} // namespace tessel::testing
