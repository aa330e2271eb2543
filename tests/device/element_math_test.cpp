// The element-math ops (dsl/element_math.cpp) on random inputs with a fixed seed, on the CPU and on
// the simulated device, against a plain C++ reference; and their PTX for sm_80 (the hardware's popc
// and clz, no spills, no local memory). Edge cases are rows of the semantics table
// (scalar_semantics_test.cpp).
#include "support/require_sim_device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace {

namespace rt = tessel::runtime;
namespace tl = tessel::lang;
using tessel::DType;

constexpr int kBlock = 256;
constexpr int kN = 1000;

// popc, clz, the f32 bits, signbit and clamp(x, -1, 1, all) of each element.
const tessel::Kernel& math_kernel() {
  static const tessel::Kernel k =
      tl::kernel("element_math_mix", "pop, lz, bits, sign, clamped, xi, xf, n, BLOCK",
                 [](tl::Ptr pop, tl::Ptr lz, tl::Ptr bits, tl::Ptr sign, tl::Ptr clamped,
                    tl::Ptr xi, tl::Ptr xf, tl::Int n, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto m = offs < n;
                   auto i = tl::load(xi + offs, m);
                   auto f = tl::load(xf + offs, m);
                   tl::store(pop + offs, tl::popc(i), m);
                   tl::store(lz + offs, tl::clz(i), m);
                   tl::store(bits + offs, tl::bitcast(f, DType::i32), m);
                   tl::store(sign + offs, tl::signbit(f).to(tl::i32), m);
                   auto lo = tl::full({BLOCK}, -1.0, tl::f32), hi = tl::full({BLOCK}, 1.0, tl::f32);
                   tl::store(clamped + offs, tl::clamp(f, lo, hi, tl::PropagateNan::all), m);
                 });
  return k;
}

struct Data {
  std::vector<int32_t> xi = std::vector<int32_t>(kN);
  std::vector<float> xf = std::vector<float>(kN);
};

Data random_data() {
  Data d;
  std::mt19937 rng(14);
  for (int j = 0; j < kN; ++j) {
    d.xi[j] = int32_t(rng() >> (rng() % 32));        // every leading-zero count
    d.xf[j] = std::bit_cast<float>(uint32_t(rng())); // NaNs, infinities, subnormals, -0 included
  }
  d.xi[0] = 0;
  d.xf[1] = -0.0f;
  return d;
}

struct Results {
  std::vector<int32_t> pop = std::vector<int32_t>(kN, 0x5a5a5a5a), lz = pop, bits = pop, sign = pop;
  std::vector<float> clamped = std::vector<float>(kN, 1234.5f);
};

void expect_reference(const Data& d, const Results& r, const char* where) {
  for (int j = 0; j < kN; ++j) {
    const uint32_t u = uint32_t(d.xi[j]);
    const uint32_t fb = std::bit_cast<uint32_t>(d.xf[j]);
    ASSERT_EQ(r.pop[j], std::popcount(u)) << where << " popc of " << d.xi[j];
    ASSERT_EQ(r.lz[j], std::countl_zero(u)) << where << " clz of " << d.xi[j];
    ASSERT_EQ(uint32_t(r.bits[j]), fb) << where << " bitcast at " << j;
    ASSERT_EQ(r.sign[j], int32_t(fb >> 31)) << where << " signbit at " << j;
    const float x = d.xf[j];
    if (std::isnan(x)) {
      ASSERT_TRUE(std::isnan(r.clamped[j])) << where << " clamp of NaN at " << j;
    } else {
      const float want = x < -1 ? -1.0f : x > 1 ? 1.0f : x;
      ASSERT_EQ(std::bit_cast<uint32_t>(r.clamped[j]), std::bit_cast<uint32_t>(want))
          << where << " clamp of " << x;
    }
  }
}

TEST(ElementMath, CpuMatchesAPlainReference) {
  Data d = random_data();
  Results r;
  tessel::LaunchOptions cpu;
  cpu.device = tessel::DeviceKind::cpu;
  math_kernel().launch({(kN + kBlock - 1) / kBlock}, cpu, r.pop.data(), r.lz.data(), r.bits.data(),
                       r.sign.data(), r.clamped.data(), d.xi.data(), d.xf.data(), kN, kBlock);
  expect_reference(d, r, "cpu");
}

TEST(ElementMath, SimulatorMatchesAPlainReference) {
  REQUIRE_SIM_DEVICE();
  Data d = random_data();
  Results r;
  auto upload = [](const void* p, size_t bytes) {
    auto b = rt::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, bytes);
    b.copy_from_host(p, bytes);
    return b;
  };
  const size_t b4 = kN * 4;
  auto pop = upload(r.pop.data(), b4), lz = upload(r.lz.data(), b4),
       bits = upload(r.bits.data(), b4), sign = upload(r.sign.data(), b4),
       cl = upload(r.clamped.data(), b4), xi = upload(d.xi.data(), b4),
       xf = upload(d.xf.data(), b4);
  math_kernel().launch({(kN + kBlock - 1) / kBlock}, {}, pop.view(DType::i32, {kN}),
                       lz.view(DType::i32, {kN}), bits.view(DType::i32, {kN}),
                       sign.view(DType::i32, {kN}), cl.view(DType::f32, {kN}),
                       xi.view(DType::i32, {kN}), xf.view(DType::f32, {kN}), kN, kBlock);
  pop.copy_to_host(r.pop.data(), b4);
  lz.copy_to_host(r.lz.data(), b4);
  bits.copy_to_host(r.bits.data(), b4);
  sign.copy_to_host(r.sign.data(), b4);
  cl.copy_to_host(r.clamped.data(), b4);
  expect_reference(d, r, "sim");
}

// sm_80: popc.b32 and clz.b32 from the hardware, a bitcast that is a register move, no spills.
TEST(ElementMath, PtxForSm80UsesPopcAndClzWithoutSpills) {
  if (!std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()) ||
      !std::filesystem::exists(tessel::codegen::gpu::libdevice_path()))
    GTEST_SKIP() << "CUDA toolkit (libdevice, nvJitLink) not found";
  std::vector<uint8_t> buf(64);
  auto v = [&](DType t) { return tessel::TensorView(buf.data(), t, {8}); };
  const tessel::CompileResult r = math_kernel().compile(
      tessel::Target::parse("sm_80"),
      tessel::Signature::from_args(v(DType::i32), v(DType::i32), v(DType::i32), v(DType::i32),
                                   v(DType::f32), v(DType::i32), v(DType::f32), kN, kBlock));
  EXPECT_TRUE(r.resources.parsed) << r.info_log;
  EXPECT_EQ(r.resources.spill_stores, 0);
  EXPECT_EQ(r.resources.spill_loads, 0);
  EXPECT_EQ(r.ptx.find(".local"), std::string::npos);
  EXPECT_NE(r.ptx.find("popc.b32"), std::string::npos) << r.ptx;
  EXPECT_NE(r.ptx.find("clz.b32"), std::string::npos) << r.ptx;
}

} // namespace
