// The math functions of issue 14 (dsl/math_functions.cpp) on random inputs with a fixed seed, in
// f32, f64, f16 and bf16, on the CPU backend and on the simulated device (libdevice's PTX), against
// a long double reference, each within the ulp bound docs/semantics.md gives (0: exactly rounded);
// n = 1000 with 256-element programs, so the last program is masked. Outputs are poisoned first.
// And their PTX for sm_80 and sm_90a through nvJitLink, without spills. Special values and domain
// edges are rows of the semantics table (scalar_semantics_test.cpp).
#include "support/require_sim_device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace rt = tessel::runtime;
namespace tl = tessel::lang;
using tessel::DType;
using T = const tl::Tensor&;
using L = long double;

constexpr int kBlock = 256;
constexpr int kN = 1000;

// erfinv by Newton's method in long double from a double start (erf near 0, erfc near +-1).
L erfinv_reference(L y) {
  if (std::fabs(y) > 1 || std::isnan(y))
    return NAN;
  if (std::fabs(y) == 1)
    return std::copysign(L(INFINITY), y);
  L x = std::copysign(std::sqrt(-std::log((1 - std::fabs(y)) * (1 + std::fabs(y)))), y) * 0.8L;
  if (std::fabs(y) < 0.5L)
    x = y * 0.886226925452758L;
  for (int i = 0; i < 60; ++i) {
    // erf(x) - y, from erfc where |y| > 0.5: sign(y) ((1 - |y|) - erfc(|x|)).
    const L residual = std::fabs(y) > 0.5L
                           ? (y < 0 ? -1 : 1) * ((1 - std::fabs(y)) - std::erfc(std::fabs(x)))
                           : std::erf(x) - y;
    x -= residual * 0.886226925452758013649L * std::exp(x * x);
  }
  return x;
}

// (The exactly rounded ones are computed in double: one rounding of the exact value for f64, and
// a double result rounds to f32/f16/bf16 as the exact value does — double has more than 2p + 2
// bits — where long double's rounding followed by another would not.)
// One function: the tile op on (x in [-1, 1), z of magnitude 2^-20 to 2^20 with a few huge values,
// u in [-10, 10)), its reference, and its bound in ulps for f32 and for f64 (16-bit types: 0 or
// 1, the f32 result rounded once more).
struct Fn {
  const char* name;
  tl::Tensor (*op)(T x, T z, T u);
  L (*ref)(L x, L z, L u);
  int f32_ulps, f64_ulps;
};

const std::vector<Fn>& functions() {
  static const std::vector<Fn> fns = {
      {"div_rn", [](T, T z, T u) { return tl::div_rn(z, u); },
       [](L, L z, L u) { return L(double(z) / double(u)); }, 0, 0},
      {"fdiv", [](T, T z, T u) { return tl::fdiv(z, u); },
       [](L, L z, L u) { return L(double(z) / double(u)); }, 2, 0},
      {"sqrt_rn", [](T, T z, T) { return tl::sqrt_rn(tl::abs(z)); },
       [](L, L z, L) { return L(std::sqrt(std::fabs(double(z)))); }, 0, 0},
      {"copysign", [](T x, T z, T) { return tl::copysign(z, x); },
       [](L x, L z, L) { return std::copysign(z, x); }, 0, 0},
      {"trunc", [](T, T z, T) { return tl::trunc(z); }, [](L, L z, L) { return std::trunc(z); }, 0,
       0},
      {"round", [](T, T z, T) { return tl::round(z); }, [](L, L z, L) { return std::round(z); }, 0,
       0},
      {"rint", [](T, T z, T) { return tl::rint(z); }, [](L, L z, L) { return std::nearbyint(z); },
       0, 0},
      {"pow", [](T, T z, T u) { return tl::pow(tl::abs(z), u); },
       [](L, L z, L u) { return std::pow(std::fabs(z), u); }, 4, 2},
      {"atan2", [](T x, T z, T) { return tl::atan2(z, x); },
       [](L x, L z, L) { return std::atan2(z, x); }, 3, 2},
      {"hypot", [](T x, T z, T) { return tl::hypot(z, x); },
       [](L x, L z, L) { return std::hypot(z, x); }, 3, 2},
      {"log1p", [](T, T z, T) { return tl::log1p(z); }, [](L, L z, L) { return std::log1p(z); }, 2,
       2},
      {"expm1", [](T, T, T u) { return tl::expm1(u); }, [](L, L, L u) { return std::expm1(u); }, 2,
       2},
      {"sinh", [](T, T, T u) { return tl::sinh(u); }, [](L, L, L u) { return std::sinh(u); }, 3, 2},
      {"cosh", [](T, T, T u) { return tl::cosh(u); }, [](L, L, L u) { return std::cosh(u); }, 3, 2},
      {"tan", [](T, T z, T) { return tl::tan(z); }, [](L, L z, L) { return std::tan(z); }, 4, 2},
      {"atan", [](T, T z, T) { return tl::atan(z); }, [](L, L z, L) { return std::atan(z); }, 2, 2},
      {"asin", [](T x, T, T) { return tl::asin(x); }, [](L x, L, L) { return std::asin(x); }, 2, 2},
      {"acos", [](T x, T, T) { return tl::acos(x); }, [](L x, L, L) { return std::acos(x); }, 2, 2},
      {"erfinv", [](T x, T, T) { return tl::erfinv(x); },
       [](L x, L, L) { return erfinv_reference(x); }, 3, 5},
      {"cbrt", [](T, T z, T) { return tl::cbrt(z); }, [](L, L z, L) { return std::cbrt(z); }, 1, 2},
      {"log10", [](T, T z, T) { return tl::log10(tl::abs(z)); },
       [](L, L z, L) { return std::log10(std::fabs(z)); }, 2, 2},
      {"exp10", [](T, T, T u) { return tl::exp10(u); },
       [](L, L, L u) { return std::pow(10.0L, u); }, 2, 2},
  };
  return fns;
}

// out[k * n + i] = functions()[k](x[i], z[i], u[i]) for i < n.
const tessel::Kernel& kernel() {
  static const tessel::Kernel k =
      tl::kernel("math_functions_all", "out, x, z, u, n, BLOCK",
                 [](tl::Ptr out, tl::Ptr x, tl::Ptr z, tl::Ptr u, tl::Int n, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto m = offs < n;
                   auto xv = tl::load(x + offs, m), zv = tl::load(z + offs, m),
                        uv = tl::load(u + offs, m);
                   int k = 0;
                   for (const Fn& f : functions())
                     tl::store(out + (k++) * n + offs, f.op(xv, zv, uv), m);
                 });
  return k;
}

// Host values of one dtype, as doubles (exactly the dtype's values) and as bytes.
struct Column {
  DType t;
  std::vector<double> v;
  std::vector<uint8_t> bytes() const {
    const unsigned w = tessel::dtype_bytes(t);
    std::vector<uint8_t> b(v.size() * w);
    for (size_t i = 0; i < v.size(); ++i) {
      if (t == DType::f64) {
        std::memcpy(&b[i * 8], &v[i], 8);
      } else if (t == DType::f32) {
        float f = float(v[i]);
        std::memcpy(&b[i * 4], &f, 4);
      } else {
        uint16_t h = t == DType::f16 ? tessel::float_to_half(float(v[i]))
                                     : tessel::float_to_bfloat16(float(v[i]));
        std::memcpy(&b[i * 2], &h, 2);
      }
    }
    return b;
  }
};

double decode(DType t, const uint8_t* p) {
  if (t == DType::f64) {
    double d;
    std::memcpy(&d, p, 8);
    return d;
  }
  if (t == DType::f32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  return t == DType::f16 ? tessel::half_to_float(h) : tessel::bfloat16_to_float(h);
}

// `v` rounded to dtype t (through f32 for the 16-bit types: f32 keeps enough bits).
double round_to(DType t, L v) {
  if (t == DType::f64)
    return double(v);
  const float f = float(v);
  if (t == DType::f32)
    return f;
  return t == DType::f16 ? tessel::half_to_float(tessel::float_to_half(f))
                         : tessel::bfloat16_to_float(tessel::float_to_bfloat16(f));
}

double ulp_of(DType t, double x) {
  const int digits = t == DType::f64 ? 53 : t == DType::f32 ? 24 : t == DType::f16 ? 11 : 8;
  const int least = t == DType::f64 ? -1074 : t == DType::f32 ? -149 : t == DType::f16 ? -24 : -133;
  int e = 0;
  std::frexp(std::fabs(x), &e);
  return std::max(std::ldexp(1.0, e - digits), std::ldexp(1.0, least));
}

struct Inputs {
  Column x, z, u;
};

Inputs random_inputs(DType t) {
  std::mt19937_64 rng(1414);
  std::uniform_real_distribution<double> unit(-1, 1), expo(-20, 20);
  const bool narrow = t == DType::f16 || t == DType::bf16;
  Inputs in{{t, {}}, {t, {}}, {t, {}}};
  for (int i = 0; i < kN; ++i) {
    in.x.v.push_back(round_to(t, unit(rng)));
    const double mag = std::exp2(narrow ? expo(rng) / 2.5 : expo(rng));
    in.z.v.push_back(round_to(t, unit(rng) < 0 ? -mag : mag));
    in.u.v.push_back(round_to(t, 10 * unit(rng)));
  }
  if (t == DType::f32 || t == DType::f64) // Payne-Hanek reduction in tan, overflow in pow
    for (auto [i, big] : {std::pair{3, 1e20}, {7, -3e30}, {11, 1e35}, {13, 7e37}})
      in.z.v[size_t(i)] = round_to(t, big);
  return in;
}

// Bytes of every function's output on one device (poisoned with `poison` first).
std::vector<uint8_t> run(DType t, const Inputs& in, bool on_sim, uint8_t poison) {
  const size_t count = functions().size() * kN;
  std::vector<uint8_t> out(count * tessel::dtype_bytes(t), poison);
  std::vector<uint8_t> x = in.x.bytes(), z = in.z.bytes(), u = in.u.bytes();
  const int grid = (kN + kBlock - 1) / kBlock;
  if (!on_sim) {
    tessel::LaunchOptions cpu;
    cpu.device = tessel::DeviceKind::cpu;
    auto view = [&](std::vector<uint8_t>& b, int64_t n) {
      return tessel::TensorView(b.data(), t, {n});
    };
    kernel().launch({grid}, cpu, view(out, int64_t(count)), view(x, kN), view(z, kN), view(u, kN),
                    kN, kBlock);
    return out;
  }
  auto upload = [](const std::vector<uint8_t>& b) {
    auto buf = rt::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, b.size());
    buf.copy_from_host(b.data(), b.size());
    return buf;
  };
  auto dout = upload(out), dx = upload(x), dz = upload(z), du = upload(u);
  kernel().launch({grid}, {}, dout.view(t, {int64_t(count)}), dx.view(t, {kN}), dz.view(t, {kN}),
                  du.view(t, {kN}), kN, kBlock);
  dout.copy_to_host(out.data(), out.size());
  return out;
}

// Every result within its bound of the reference (NaN where the reference is NaN, infinities
// equal); the worst error of each function is printed.
void expect_within_bounds(DType t, const Inputs& in, const std::vector<uint8_t>& out,
                          const char* where) {
  const unsigned w = tessel::dtype_bytes(t);
  const bool narrow = t == DType::f16 || t == DType::bf16;
  size_t k = 0;
  for (const Fn& f : functions()) {
    const int bound = t == DType::f64 ? f.f64_ulps : narrow ? (f.f32_ulps ? 1 : 0) : f.f32_ulps;
    double worst = 0;
    for (int i = 0; i < kN; ++i) {
      const double got = decode(t, &out[(k * kN + i) * w]);
      const double want = round_to(t, f.ref(in.x.v[i], in.z.v[i], in.u.v[i]));
      const std::string what =
          std::string(where) + " " + f.name + "(x=" + std::to_string(in.x.v[i]) +
          ", z=" + std::to_string(in.z.v[i]) + ", u=" + std::to_string(in.u.v[i]) + ")";
      if (std::isnan(want) || std::isnan(got)) {
        ASSERT_EQ(std::isnan(want), std::isnan(got))
            << what << ": got " << got << ", want " << want;
        continue;
      }
      if (std::isinf(want) || std::isinf(got)) {
        ASSERT_EQ(got, want) << what;
        continue;
      }
      const double err = std::fabs(got - want) / ulp_of(t, want);
      worst = std::max(worst, err);
      ASSERT_LE(err, bound) << what << ": got " << got << ", want " << want;
    }
    std::printf("  %s %s %s: max error %.2f ulp (bound %d)\n", where, tessel::dtype_name(t), f.name,
                worst, bound);
    ++k;
  }
}

class MathFunctions : public ::testing::TestWithParam<DType> {};

TEST_P(MathFunctions, CpuIsWithinTheBounds) {
  const Inputs in = random_inputs(GetParam());
  expect_within_bounds(GetParam(), in, run(GetParam(), in, /*on_sim=*/false, 0x7f), "cpu");
}

TEST_P(MathFunctions, SimulatorIsWithinTheBounds) {
  REQUIRE_SIM_DEVICE();
  const Inputs in = random_inputs(GetParam());
  expect_within_bounds(GetParam(), in, run(GetParam(), in, /*on_sim=*/true, 0xa5), "sim");
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MathFunctions,
                         ::testing::Values(DType::f32, DType::f64, DType::f16, DType::bf16),
                         [](const auto& info) {
                           return std::string(tessel::dtype_name(info.param));
                         });

// sm_80 and sm_90a: nvJitLink accepts the PTX of every function, without spills; fdiv is the
// approximate div.full.f32, div_rn and sqrt_rn the IEEE instructions.
TEST(MathFunctionsPtx, CompilesForSm80AndSm90aWithoutSpills) {
  if (!std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()) ||
      !std::filesystem::exists(tessel::codegen::gpu::libdevice_path()))
    GTEST_SKIP() << "CUDA toolkit (libdevice, nvJitLink) not found";
  std::vector<uint8_t> buf(64);
  for (DType t : {DType::f32, DType::f64, DType::f16, DType::bf16}) {
    auto v = [&] { return tessel::TensorView(buf.data(), t, {8}); };
    for (const char* target : {"sm_80", "sm_90a"}) {
      SCOPED_TRACE(std::string(target) + " " + tessel::dtype_name(t));
      const tessel::CompileResult r =
          kernel().compile(tessel::Target::parse(target),
                           tessel::Signature::from_args(v(), v(), v(), v(), kN, kBlock));
      EXPECT_TRUE(r.resources.parsed) << r.info_log;
      EXPECT_EQ(r.resources.spill_stores, 0);
      EXPECT_EQ(r.resources.spill_loads, 0);
      if (t == DType::f32) {
        EXPECT_NE(r.ptx.find("div.full.f32"), std::string::npos);
        EXPECT_NE(r.ptx.find("div.rn.f32"), std::string::npos);
        EXPECT_NE(r.ptx.find("sqrt.rn.f32"), std::string::npos);
        EXPECT_NE(r.ptx.find("madc.hi"), std::string::npos); // tan's Payne-Hanek reduction
      }
    }
  }
}

} // namespace
