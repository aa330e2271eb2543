// The escape hatches (tessel/lang/escape_hatch.h): inline PTX (tl::inline_asm_elementwise) run in
// the PTX simulator against its C++ fallback on the CPU backend and a plain reference, on random
// inputs with a fixed seed and poisoned outputs; CUDA C++ through NVRTC (tl::extern_cuda) in the
// simulator and as cubins for sm_80 and sm_90a; the cache key following the asm and the source;
// and one test per diagnostic, asserting its text.
#include "support/expect_error.h"
#include "support/require_sim_device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

namespace rt = tessel::runtime;
namespace tl = tessel::lang;
using tessel::DType;
using tessel::half;
using tessel::testing::expect_error;

constexpr int kBlock = 128;
constexpr int kN = 1000; // not a multiple of the block: masked tails

bool have_nvrtc() { return tessel::codegen::gpu::nvrtc_identity() != "nvrtc absent"; }

#define REQUIRE_NVRTC()                                                                            \
  do {                                                                                             \
    if (!have_nvrtc())                                                                             \
      GTEST_SKIP() << "NVRTC (libnvrtc) not found";                                                \
  } while (0)

// ---- running a kernel `out = f(in...)` of signature (out, in..., n, BLOCK)
// ------------------------

template <class T> std::vector<T> poisoned() {
  std::vector<T> v(kN);
  std::memset(static_cast<void*>(v.data()), 0x5a, v.size() * sizeof(T));
  return v;
}

template <class Out, class... In>
std::vector<Out> run_cpu(const tessel::Kernel& k, const std::vector<In>&... ins) {
  std::vector<Out> out = poisoned<Out>();
  tessel::LaunchOptions cpu;
  cpu.device = tessel::DeviceKind::cpu;
  k.launch({(kN + kBlock - 1) / kBlock}, cpu, out.data(), ins.data()..., kN, kBlock);
  return out;
}

template <class T> rt::DeviceBuffer upload(const std::vector<T>& v) {
  auto b = rt::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, v.size() * sizeof(T));
  b.copy_from_host(v.data(), v.size() * sizeof(T));
  return b;
}

template <class Out, class... In, size_t... I>
std::vector<Out> run_sim_at(const tessel::Kernel& k, std::index_sequence<I...>,
                            const std::vector<In>&... ins) {
  std::vector<Out> out = poisoned<Out>();
  rt::DeviceBuffer out_buf = upload(out);
  std::array<rt::DeviceBuffer, sizeof...(In)> bufs{upload(ins)...}; // braces: in order
  k.launch({(kN + kBlock - 1) / kBlock}, {}, out_buf.view(tessel::dtype_of_v<Out>, {kN}),
           bufs[I].view(tessel::dtype_of_v<In>, {kN})..., kN, kBlock);
  out_buf.copy_to_host(out.data(), out.size() * sizeof(Out));
  return out;
}

template <class Out, class... In>
std::vector<Out> run_sim(const tessel::Kernel& k, const std::vector<In>&... ins) {
  return run_sim_at<Out>(k, std::index_sequence_for<In...>{}, ins...);
}

template <class T> std::vector<T> random_bits(uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<T> v(kN);
  for (T& x : v) {
    uint32_t r = rng();
    std::memcpy(&x, &r, sizeof(T));
  }
  return v;
}

std::vector<half> random_halves(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-100.0f, 100.0f);
  std::vector<half> v(kN);
  for (half& x : v)
    x = half(d(rng));
  return v;
}

// ---- inline asm
// ------------------------------------------------------------------------------------

int32_t wrapping_add(int32_t x, int32_t y) { return int32_t(uint32_t(x) + uint32_t(y)); }

const tessel::Kernel& add_s32_kernel() {
  static const tessel::Kernel k = tl::kernel(
      "asm_add_s32", "out, a, b, n, BLOCK",
      [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n, tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto m = offs < n;
        auto s = tl::inline_asm_elementwise("add.s32 $0, $1, $2;", "=r,r,r",
                                            {tl::load(a + offs, m), tl::load(b + offs, m)}, tl::i32,
                                            /*is_pure=*/true, /*pack=*/1, &wrapping_add);
        tl::store(out + offs, s, m);
      });
  return k;
}

TEST(InlineAsm, AddS32OnTheCpuRunsTheFallback) {
  auto a = random_bits<int32_t>(1), b = random_bits<int32_t>(2);
  std::vector<int32_t> out = run_cpu<int32_t>(add_s32_kernel(), a, b);
  for (int i = 0; i < kN; ++i)
    ASSERT_EQ(out[i], wrapping_add(a[i], b[i])) << i;
}

TEST(InlineAsm, AddS32InTheSimulatorMatchesTheFallback) {
  REQUIRE_SIM_DEVICE();
  auto a = random_bits<int32_t>(1), b = random_bits<int32_t>(2);
  std::vector<int32_t> sim = run_sim<int32_t>(add_s32_kernel(), a, b);
  EXPECT_EQ(sim, run_cpu<int32_t>(add_s32_kernel(), a, b));
}

half add_halves(half x, half y) { return half(float(x) + float(y)); } // exact in f32, one rounding

// Two f16 per asm instance: add.rn.f16x2 on one 32-bit register per operand.
const tessel::Kernel& add_f16x2_kernel() {
  static const tessel::Kernel k = tl::kernel(
      "asm_add_f16x2", "out, a, b, n, BLOCK",
      [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n, tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto m = offs < n;
        auto s = tl::inline_asm_elementwise("add.rn.f16x2 $0, $1, $2;", "=r,r,r",
                                            {tl::load(a + offs, m), tl::load(b + offs, m)}, tl::f16,
                                            /*is_pure=*/true, /*pack=*/2, &add_halves);
        tl::store(out + offs, s, m);
      });
  return k;
}

TEST(InlineAsm, PackedF16x2InTheSimulatorMatchesTheFallbackBitForBit) {
  REQUIRE_SIM_DEVICE();
  auto a = random_halves(3), b = random_halves(4);
  std::vector<half> cpu = run_cpu<half>(add_f16x2_kernel(), a, b);
  std::vector<half> sim = run_sim<half>(add_f16x2_kernel(), a, b);
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(cpu[i].bits, add_halves(a[i], b[i]).bits) << "cpu " << i;
    ASSERT_EQ(sim[i].bits, cpu[i].bits) << "sim " << i;
  }
}

uint32_t byte_swap(uint32_t x) { return __builtin_bswap32(x); }
uint32_t majority(uint32_t a, uint32_t b, uint32_t c) { return (a & b) | (a & c) | (b & c); }

// Bit tricks: prmt reverses the bytes, lop3 with the truth table 0xE8 is the bitwise majority;
// pack 4 of u8 shifts one packed register through `prmt` too (a byte rotation within each word).
const tessel::Kernel& bit_trick_kernel() {
  static const tessel::Kernel k = tl::kernel(
      "asm_bit_tricks", "out, a, b, c, n, BLOCK",
      [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Ptr c, tl::Int n, tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto m = offs < n;
        auto x = tl::load(a + offs, m), y = tl::load(b + offs, m), z = tl::load(c + offs, m);
        auto swapped = tl::inline_asm_elementwise("prmt.b32 $0, $1, 0, 0x0123;", "=r,r", {x},
                                                  tl::u32, true, 1, &byte_swap);
        auto maj = tl::inline_asm_elementwise("lop3.b32 $0, $1, $2, $3, 0xE8;", "=r,r,r,r",
                                              {swapped, y, z}, tl::u32, true, 1, &majority);
        tl::store(out + offs, maj, m);
      });
  return k;
}

TEST(InlineAsm, PrmtAndLop3InTheSimulatorMatchTheFallbacks) {
  auto a = random_bits<uint32_t>(5), b = random_bits<uint32_t>(6), c = random_bits<uint32_t>(7);
  std::vector<uint32_t> cpu = run_cpu<uint32_t>(bit_trick_kernel(), a, b, c);
  for (int i = 0; i < kN; ++i)
    ASSERT_EQ(cpu[i], majority(byte_swap(a[i]), b[i], c[i])) << "cpu " << i;
  REQUIRE_SIM_DEVICE();
  EXPECT_EQ(run_sim<uint32_t>(bit_trick_kernel(), a, b, c), cpu);
}

// Four i8 per asm instance in one 32-bit register: one xor flips the sign bit of each byte.
int8_t flip_sign(int8_t v) { return int8_t(uint8_t(v) ^ 0x80u); }

const tessel::Kernel& pack4_kernel() {
  static const tessel::Kernel k = tl::kernel(
      "asm_pack4_i8", "out, a, n, BLOCK",
      [](tl::Ptr out, tl::Ptr a, tl::Int n, tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto m = offs < n;
        auto s = tl::inline_asm_elementwise("xor.b32 $0, $1, 0x80808080;", "=r,r",
                                            {tl::load(a + offs, m)}, tl::i8, true, 4, &flip_sign);
        tl::store(out + offs, s, m);
      });
  return k;
}

TEST(InlineAsm, PackFourBytesPerRegisterInTheSimulator) {
  auto a = random_bits<int8_t>(8);
  std::vector<int8_t> cpu = run_cpu<int8_t>(pack4_kernel(), a);
  for (int i = 0; i < kN; ++i)
    ASSERT_EQ(cpu[i], flip_sign(a[i])) << i;
  REQUIRE_SIM_DEVICE();
  EXPECT_EQ(run_sim<int8_t>(pack4_kernel(), a), cpu);
}

// is_pure = false: the asm stays even when its result is unused (the CPU evaluates the fallback
// for every element, once).
std::atomic<int> g_volatile_calls{0};
const tessel::Kernel& volatile_kernel() {
  static const tessel::Kernel k =
      tl::kernel("asm_volatile", "out, a, n, BLOCK",
                 [](tl::Ptr out, tl::Ptr a, tl::Int n, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto m = offs < n;
                   auto x = tl::load(a + offs, m);
                   (void)tl::inline_asm_elementwise("mov.b32 $0, $1;", "=r,r", {x}, tl::i32,
                                                    /*is_pure=*/false, 1, [](int32_t v) {
                                                      g_volatile_calls.fetch_add(1);
                                                      return v;
                                                    });
                   tl::store(out + offs, x, m);
                 });
  return k;
}

TEST(InlineAsm, AnImpureAsmRunsForEveryElementEvenUnused) {
  g_volatile_calls = 0;
  auto a = random_bits<int32_t>(9);
  std::vector<int32_t> out = run_cpu<int32_t>(volatile_kernel(), a);
  EXPECT_EQ(out, a);
  EXPECT_EQ(g_volatile_calls.load(), ((kN + kBlock - 1) / kBlock) * kBlock);
  std::string ir = volatile_kernel().ir_for(/*optimized=*/true, out.data(), a.data(), kN, kBlock);
  EXPECT_NE(ir.find("inline_asm_volatile"), std::string::npos) << ir;
}

TEST(InlineAsm, WhatTheFallbackThrowsReachesTheLauncher) {
  static const tessel::Kernel k = tl::kernel(
      "asm_throwing_fallback", "out, a, n, BLOCK",
      [](tl::Ptr out, tl::Ptr a, tl::Int n, tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto m = offs < n;
        auto s = tl::inline_asm_elementwise("mov.b32 $0, $1;", "=r,r", {tl::load(a + offs, m)},
                                            tl::i32, true, 1, [](int32_t v) -> int32_t {
                                              if (v == 77)
                                                throw tessel::Error("fallback saw 77");
                                              return v;
                                            });
        tl::store(out + offs, s, m);
      });
  std::vector<int32_t> a(kN, 1), out(kN);
  a[500] = 77;
  tessel::LaunchOptions cpu;
  cpu.device = tessel::DeviceKind::cpu;
  expect_error([&] { k.launch({8}, cpu, out.data(), a.data(), kN, kBlock); }, {"fallback saw 77"});
  a[500] = 2; // the error is reported once; the next launch is clean
  k.launch({8}, cpu, out.data(), a.data(), kN, kBlock);
  EXPECT_EQ(out[500], 2);
  // A checked launch (bounds-checked CPU code) reports it too.
  a[500] = 77;
  tessel::LaunchOptions checked = cpu;
  checked.checked = true;
  expect_error([&] { k.launch({8}, checked, out.data(), a.data(), kN, kBlock); },
               {"fallback saw 77"});
}

// ---- extern CUDA C++ through NVRTC
// ----------------------------------------------------------------

const char* const kSquarePlusSin = R"(
__device__ float f(float x) { return x * x + __sinf(x); }
)";

float square_plus_sin(float x) { return x * x + std::sin(x); }

const tl::ExternFunction& square_plus_sin_fn() {
  static const tl::ExternFunction f =
      tl::extern_cuda(kSquarePlusSin, "f", tl::f32, {tl::f32}, &square_plus_sin);
  return f;
}

const tessel::Kernel& extern_kernel() {
  static const tessel::Kernel k =
      tl::kernel("extern_square_plus_sin", "out, x, n, BLOCK",
                 [](tl::Ptr out, tl::Ptr x, tl::Int n, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto m = offs < n;
                   tl::store(out + offs, square_plus_sin_fn()(tl::load(x + offs, m)), m);
                 });
  return k;
}

std::vector<float> random_floats(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-3.0f, 3.0f);
  std::vector<float> v(kN);
  for (float& x : v)
    x = d(rng);
  return v;
}

TEST(ExternCuda, OnTheCpuRunsTheFallback) {
  auto x = random_floats(10);
  std::vector<float> out = run_cpu<float>(extern_kernel(), x);
  for (int i = 0; i < kN; ++i)
    ASSERT_EQ(out[i], square_plus_sin(x[i])) << i;
}

TEST(ExternCuda, InTheSimulatorMatchesAPlainReference) {
  REQUIRE_SIM_DEVICE();
  REQUIRE_NVRTC();
  auto x = random_floats(10);
  std::vector<float> sim = run_sim<float>(extern_kernel(), x);
  for (int i = 0; i < kN; ++i) // __sinf is sin.approx.f32: about 2^-21 absolute on [-pi, pi]
    ASSERT_NEAR(sim[i], square_plus_sin(x[i]), 1e-5f) << i << " x=" << x[i];
}

tessel::Signature extern_signature() {
  static std::vector<float> buf(16);
  tessel::TensorView v(buf.data(), DType::f32, {16});
  return tessel::Signature::from_args(v, v, kN, kBlock);
}

TEST(ExternCuda, NvJitLinkLinksOneCubinForSm80AndSm90aWithoutSpills) {
  REQUIRE_SIM_DEVICE(); // the toolkit (nvJitLink, libdevice)
  REQUIRE_NVRTC();
  for (const char* target : {"sm_80", "sm_90a"}) {
    const tessel::CompileResult r =
        extern_kernel().compile(tessel::Target::parse(target), extern_signature());
    EXPECT_FALSE(r.binary.empty()) << target;
    EXPECT_TRUE(r.resources.parsed) << target << "\n" << r.info_log;
    EXPECT_EQ(r.resources.spill_stores, 0) << target;
    EXPECT_EQ(r.resources.spill_loads, 0) << target;
    // The reported PTX is one module: the wrapper's definition replaced its .extern declaration.
    EXPECT_EQ(r.ptx.find(".extern .func"), std::string::npos) << r.ptx;
    EXPECT_NE(r.ptx.find(".func"), std::string::npos) << r.ptx;
    EXPECT_NE(r.ptx.find("sin.approx"), std::string::npos) << r.ptx;
  }
}

// Two CUDA C++ functions from two sources in one kernel, each source with its own `helper` of the
// same signature (the same external symbol): both reach the cubin and the one merged PTX module
// the simulator runs, each calling its own helper.
const tessel::Kernel& two_externs_kernel() {
  static const tl::ExternFunction twice = tl::extern_cuda(
      "__device__ int helper(int x) { return 2 * x; }\n"
      "__device__ int twice(int x) { return helper(x); }",
      "twice", tl::i32, {tl::i32}, [](int32_t x) { return int32_t(uint32_t(x) * 2u); });
  static const tl::ExternFunction mix =
      tl::extern_cuda("__device__ int helper(int x) { return x + 7; }\n"
                      "__device__ unsigned mix(unsigned a, unsigned b) { return __funnelshift_l(a, "
                      "b, helper(0)) ^ a; }",
                      "mix", tl::u32, {tl::u32, tl::u32}, [](uint32_t a, uint32_t b) {
                        return uint32_t(((uint64_t(b) << 32 | a) << 7) >> 32) ^ a;
                      });
  static const tessel::Kernel k =
      tl::kernel("extern_two_functions", "out, a, b, n, BLOCK",
                 [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto m = offs < n;
                   auto x = tl::load(a + offs, m), y = tl::load(b + offs, m);
                   auto t = twice(x.to(tl::i32)).to(tl::u32);
                   tl::store(out + offs, mix(t, y), m);
                 });
  return k;
}

TEST(ExternCuda, TwoFunctionsInOneKernelInTheSimulatorMatchTheFallbacks) {
  auto a = random_bits<uint32_t>(12), b = random_bits<uint32_t>(13);
  std::vector<uint32_t> cpu = run_cpu<uint32_t>(two_externs_kernel(), a, b);
  for (int i = 0; i < kN; ++i) {
    const uint32_t t = a[i] * 2u;
    ASSERT_EQ(cpu[i], uint32_t(((uint64_t(b[i]) << 32 | t) << 7) >> 32) ^ t) << i;
  }
  REQUIRE_SIM_DEVICE();
  REQUIRE_NVRTC();
  EXPECT_EQ(run_sim<uint32_t>(two_externs_kernel(), a, b), cpu);
}

// The inline-asm kernels' PTX is accepted by nvJitLink for sm_80 and sm_90a, without spills, with
// the asm in it as written.
TEST(InlineAsm, CubinsForSm80AndSm90aWithoutSpills) {
  REQUIRE_SIM_DEVICE(); // the toolkit (nvJitLink, libdevice)
  std::vector<uint8_t> buf(64);
  auto v = [&](DType t) { return tessel::TensorView(buf.data(), t, {8}); };
  struct Case {
    const tessel::Kernel& kernel;
    tessel::Signature signature;
    const char* asm_text;
  };
  const Case cases[] = {
      {add_f16x2_kernel(),
       tessel::Signature::from_args(v(DType::f16), v(DType::f16), v(DType::f16), kN, kBlock),
       "add.rn.f16x2"},
      {bit_trick_kernel(),
       tessel::Signature::from_args(v(DType::u32), v(DType::u32), v(DType::u32), v(DType::u32), kN,
                                    kBlock),
       "lop3.b32"},
      {pack4_kernel(), tessel::Signature::from_args(v(DType::i8), v(DType::i8), kN, kBlock),
       "xor.b32"},
  };
  for (const Case& c : cases)
    for (const char* target : {"sm_80", "sm_90a"}) {
      const tessel::CompileResult r = c.kernel.compile(tessel::Target::parse(target), c.signature);
      EXPECT_FALSE(r.binary.empty()) << target << " " << c.asm_text;
      EXPECT_TRUE(r.resources.parsed) << r.info_log;
      EXPECT_EQ(r.resources.spill_stores + r.resources.spill_loads, 0) << target << c.asm_text;
      EXPECT_NE(r.ptx.find(c.asm_text), std::string::npos) << r.ptx;
    }
}

// ---- the cache key follows the asm and the source
// -------------------------------------------------

template <int Variant> const tessel::Kernel& asm_variant() {
  static const tessel::Kernel k = tl::kernel(
      "asm_key_variant", "out, a, n, BLOCK",
      [](tl::Ptr out, tl::Ptr a, tl::Int n, tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto m = offs < n;
        const char* text = Variant == 0 ? "add.s32 $0, $1, 1;" : "add.s32 $0, $1, 2;";
        tl::store(out + offs,
                  tl::inline_asm_elementwise(text, "=r,r", {tl::load(a + offs, m)}, tl::i32, true,
                                             1, [](int32_t v) { return v + 1 + Variant; }),
                  m);
      });
  return k;
}

template <int Variant> const tessel::Kernel& extern_variant() {
  static const tl::ExternFunction f =
      tl::extern_cuda(Variant == 0 ? "__device__ float g(float x) { return x + 1.0f; }"
                                   : "__device__ float g(float x) { return x + 2.0f; }",
                      "g", tl::f32, {tl::f32}, [](float x) { return x + 1.0f + Variant; });
  static const tessel::Kernel k =
      tl::kernel("extern_key_variant", "out, a, n, BLOCK",
                 [](tl::Ptr out, tl::Ptr a, tl::Int n, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto m = offs < n;
                   tl::store(out + offs, f(tl::load(a + offs, m)), m);
                 });
  return k;
}

TEST(EscapeHatchCacheKey, ChangesWithTheAsmText) {
  std::vector<int32_t> buf(16);
  tessel::TensorView v(buf.data(), DType::i32, {16});
  const tessel::Signature sig = tessel::Signature::from_args(v, v, kN, kBlock);
  const tessel::Target cpu = tessel::Target::parse("cpu");
  const std::string k0 = asm_variant<0>().compile(cpu, sig).cache_key;
  const std::string k1 = asm_variant<1>().compile(cpu, sig).cache_key;
  ASSERT_FALSE(k0.empty());
  EXPECT_NE(k0, k1);
  EXPECT_EQ(k0, asm_variant<0>().compile(cpu, sig).cache_key); // and is stable
}

TEST(EscapeHatchCacheKey, ChangesWithTheCudaSource) {
  REQUIRE_SIM_DEVICE();
  REQUIRE_NVRTC();
  const tessel::Target sm80 = tessel::Target::parse("sm_80");
  const std::string k0 = extern_variant<0>().compile(sm80, extern_signature()).cache_key;
  const std::string k1 = extern_variant<1>().compile(sm80, extern_signature()).cache_key;
  ASSERT_FALSE(k0.empty());
  EXPECT_NE(k0, k1);
}

// The fallback is in the key only as its slot: two kernels whose fallbacks differ but whose IR is
// the same share an entry, and each still calls its own fallback.
TEST(EscapeHatchCacheKey, TheFallbackIsNotInTheKeyButEachKernelCallsItsOwn) {
  auto make = [](int32_t delta) {
    // Same name and IR; the fallbacks differ (a captured value).
    return tl::kernel("asm_same_ir", "out, a, n, BLOCK",
                      [delta](tl::Ptr out, tl::Ptr a, tl::Int n, tl::Const<int> BLOCK) {
                        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                        auto m = offs < n;
                        tl::store(out + offs,
                                  tl::inline_asm_elementwise(
                                      "add.s32 $0, $1, 5;", "=r,r", {tl::load(a + offs, m)},
                                      tl::i32, true, 1, [delta](int32_t v) { return v + delta; }),
                                  m);
                      });
  };
  const tessel::Kernel k5 = make(5), k6 = make(6);
  auto a = random_bits<int32_t>(11);
  for (int32_t& x : a)
    x >>= 4;
  std::vector<int32_t> o5 = run_cpu<int32_t>(k5, a), o6 = run_cpu<int32_t>(k6, a);
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(o5[i], a[i] + 5);
    ASSERT_EQ(o6[i], a[i] + 6);
  }
}

// ---- diagnostics
// ---------------------------------------------------------------------------------- Each erroneous
// call shares its line with `g_line = __LINE__`, so formatting is off below.
// clang-format off

int g_line = 0; // the line of the call a kernel below makes, recorded while it is traced

void launch_on_cpu(const tessel::Kernel& k) {
  std::vector<int32_t> buf(kN);
  tessel::LaunchOptions cpu;
  cpu.device = tessel::DeviceKind::cpu;
  k.launch({1}, cpu, buf.data(), buf.data(), kN, kBlock);
}

template <class Body> tessel::Kernel kernel_with(const char* name, Body body) {
  return tl::kernel(name, "out, a, n, BLOCK",
                    [body](tl::Ptr out, tl::Ptr a, tl::Int n, tl::Const<int> BLOCK) {
                      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                      auto m = offs < n;
                      tl::store(out + offs, body(tl::load(a + offs, m)), m);
                    });
}

std::string here() { return "escape_hatch_test.cpp:" + std::to_string(g_line); }

TEST(EscapeHatchErrors, ConstraintCountMustMatchTheOperands) {
  auto k = kernel_with("asm_bad_constraints", [](tl::Tensor x) {
    g_line = __LINE__; return tl::inline_asm_elementwise("add.s32 $0, $1, $1;", "=r,r,r", {x}, tl::i32, true, 1);
  });
  expect_error([&] { launch_on_cpu(k); }, [] {
    return std::vector<std::string>{here(), "inline_asm_elementwise",
                                    "constraints \"=r,r,r\" name 1 output(s) and 2 input(s)",
                                    "need 1 output(s) and 1 input(s)"};
  });
}

TEST(EscapeHatchErrors, PackedConstraintsCountRegistersNotElements) {
  auto k = kernel_with("asm_bad_pack_constraints", [](tl::Tensor x) {
    g_line = __LINE__; return tl::inline_asm_elementwise("mov.b32 $0, $1;", "=r,r,r", {x}, tl::i32, true, 2);
  });
  expect_error([&] { launch_on_cpu(k); }, [] {
    return std::vector<std::string>{here(), "with pack 2 need 2 output(s) and 2 input(s)"};
  });
}

TEST(EscapeHatchErrors, RegisterClassMustBeAsWideAsItsOperand) {
  auto k = kernel_with("asm_bad_register_class", [](tl::Tensor x) {
    g_line = __LINE__; return tl::inline_asm_elementwise("mov.b32 $0, $1;", "=r,h", {x}, tl::i32, true, 1);
  });
  expect_error([&] { launch_on_cpu(k); }, [] {
    return std::vector<std::string>{here(), "constraint \"h\" (operand $1, argument 0) must name a 32-bit register: use r (or f)"};
  });
}

TEST(EscapeHatchErrors, OutputsComeBeforeInputs) {
  auto k = kernel_with("asm_output_last", [](tl::Tensor x) {
    g_line = __LINE__; return tl::inline_asm_elementwise("mov.b32 $0, $1;", "r,=r", {x}, tl::i32, true, 1);
  });
  expect_error([&] { launch_on_cpu(k); }, [] {
    return std::vector<std::string>{here(), "list an output ('=...') after an input"};
  });
}

TEST(EscapeHatchErrors, PackMustBeOneTwoOrFour) {
  auto k = kernel_with("asm_bad_pack", [](tl::Tensor x) {
    g_line = __LINE__; return tl::inline_asm_elementwise("mov.b32 $0, $1;", "=r,r", {x}, tl::i32, true, 3);
  });
  expect_error([&] { launch_on_cpu(k); },
               [] { return std::vector<std::string>{here(), "pack must be 1, 2 or 4"}; });
}

TEST(EscapeHatchErrors, AsmDtypeI1IsUnsupported) {
  auto k = kernel_with("asm_bad_dtype", [](tl::Tensor x) {
    g_line = __LINE__; return tl::inline_asm_elementwise("mov.b32 $0, $1;", "=r,r", {x < x}, tl::i32, true, 1).to(tl::i32);
  });
  expect_error([&] { launch_on_cpu(k); }, [] {
    return std::vector<std::string>{here(), "argument 0 is i1", "x.to(tl::i32)"};
  });
}

TEST(EscapeHatchErrors, FallbackSignatureMustMatchTheCall) {
  auto k = kernel_with("asm_bad_fallback", [](tl::Tensor x) {
    g_line = __LINE__; return tl::inline_asm_elementwise("mov.b32 $0, $1;", "=r,r", {x}, tl::i32, true, 1, [](float v) { return v; });
  });
  expect_error([&] { launch_on_cpu(k); }, [] {
    return std::vector<std::string>{here(), "the C++ fallback takes (f32) and returns f32",
                                    "the call passes (i32) and returns i32"};
  });
}

TEST(EscapeHatchErrors, TheCpuBackendNeedsAFallbackForInlineAsm) {
  auto k = kernel_with("asm_no_fallback", [](tl::Tensor x) {
    g_line = __LINE__; return tl::inline_asm_elementwise("mov.b32 $0, $1;", "=r,r", {x}, tl::i32, true, 1);
  });
  expect_error([&] { launch_on_cpu(k); }, [] {
    return std::vector<std::string>{here(), "the CPU backend cannot run PTX",
                                    "no C++ fallback", "TESSEL_DEVICE=sim"};
  });
}

TEST(EscapeHatchErrors, TheCpuBackendNeedsAFallbackForExternCuda) {
  static const tl::ExternFunction f =
      tl::extern_cuda("__device__ int h(int x) { return x; }", "h", tl::i32, {tl::i32});
  auto k = kernel_with("extern_no_fallback", [](tl::Tensor x) {
    g_line = __LINE__; return f(x);
  });
  expect_error([&] { launch_on_cpu(k); }, [] {
    return std::vector<std::string>{here(), "extern_cuda function 'h'",
                                    "cannot run CUDA C++", "no C++ fallback"};
  });
}

TEST(EscapeHatchErrors, ExternDtypeF16IsUnsupported) {
  int line = 0;
  expect_error(
      [&] {
        line = __LINE__; (void)tl::extern_cuda("__device__ float k(float x) { return x; }", "k", tl::f16, {tl::f32});
      },
      [&] {
        return std::vector<std::string>{"escape_hatch_test.cpp:" + std::to_string(line),
                                        "the result dtype is f16",
                                        "i32, u32, i64, u64, f32 or f64"};
      });
}

TEST(EscapeHatchErrors, ExternCallWithTheWrongNumberOfArguments) {
  static const tl::ExternFunction f = tl::extern_cuda(
      "__device__ float two(float x, float y) { return x + y; }", "two", tl::f32, {tl::f32, tl::f32},
      [](float x, float y) { return x + y; });
  auto k = kernel_with("extern_bad_call_arity", [](tl::Tensor x) {
    g_line = __LINE__; return f(x.to(tl::f32)).to(tl::i32);
  });
  expect_error([&] { launch_on_cpu(k); }, [] {
    return std::vector<std::string>{here(), "'two' takes 2 argument(s) (f32, f32), the call passes 1"};
  });
}

// A kernel for sm_80 that calls `fn` on an f32 tile.
template <class F> tessel::CompileResult compile_extern_for_sm80(const char* name, const F& fn) {
  const tessel::Kernel k = tl::kernel(name, "out, x, n, BLOCK",
                                      [&fn](tl::Ptr out, tl::Ptr x, tl::Int n, tl::Const<int> BLOCK) {
                                        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                                        auto m = offs < n;
                                        tl::store(out + offs, fn(tl::load(x + offs, m)), m);
                                      });
  return k.compile(tessel::Target::parse("sm_80"), extern_signature());
}

TEST(EscapeHatchErrors, ExternDefinitionWithAnotherArity) {
  REQUIRE_SIM_DEVICE();
  REQUIRE_NVRTC();
  static const tl::ExternFunction f = tl::extern_cuda(
      "__device__ float one(float x) { return x; }", "one", tl::f32, {tl::f32, tl::f32});
  expect_error(
      [&] {
        compile_extern_for_sm80("extern_bad_definition_arity", [](tl::Tensor x) {
          g_line = __LINE__; return f(x, x);
        });
      },
      [] {
        return std::vector<std::string>{here(), "'one' is declared with 2 parameter(s) (float, float)",
                                        "its CUDA C++ definition takes another number",
                                        "too many arguments"};
      });
}

TEST(EscapeHatchErrors, NvrtcCompileErrorShowsItsLog) {
  REQUIRE_SIM_DEVICE();
  REQUIRE_NVRTC();
  static const tl::ExternFunction f = tl::extern_cuda(
      "__device__ float broken(float x) { return x + undefined_thing; }", "broken", tl::f32,
      {tl::f32});
  expect_error(
      [&] {
        compile_extern_for_sm80("extern_broken_source", [](tl::Tensor x) {
          g_line = __LINE__; return f(x);
        });
      },
      [] {
        return std::vector<std::string>{here(), "'broken' does not compile with NVRTC for sm_80",
                                        "NVRTC's log", "undefined_thing", "extern_cuda_broken.cu"};
      });
}

// As the no-toolkit tests do for nvJitLink: an unloadable NVRTC is an error naming the library,
// the paths tried and the fix.
TEST(EscapeHatchErrors, AbsentNvrtcNamesTheLibraryAndTheSearchPath) {
  REQUIRE_SIM_DEVICE();
  static const tl::ExternFunction f = tl::extern_cuda(
      "__device__ float lonely(float x) { return x; }", "lonely", tl::f32, {tl::f32});
  ::setenv("TESSEL_NVRTC", "/nonexistent/libnvrtc.so", 1);
  expect_error(
      [&] {
        compile_extern_for_sm80("extern_without_nvrtc", [](tl::Tensor x) {
          g_line = __LINE__; return f(x);
        });
      },
      [] {
        return std::vector<std::string>{here(), "'lonely'", "NVRTC (libnvrtc",
                                        "'/nonexistent/libnvrtc.so'", "from TESSEL_NVRTC",
                                        "set TESSEL_NVRTC"};
      });
  ::unsetenv("TESSEL_NVRTC");
}

// clang-format on

} // namespace
