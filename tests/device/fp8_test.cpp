// fp8 conversions (f8e4m3 = OCP E4M3FN, f8e5m2) against a reference written here from the formats'
// definitions alone: decoding all 256 codes, and encoding many f32, f16, bf16 and f64 values —
// every code, every tie between neighbouring codes, a few f32 ulps around each, the overflow
// thresholds, specials and random bit patterns — with and without saturation, on the CPU backend
// and in the simulator (bit for bit), and through tessel's host conversions (dtype.h).
//
// The reference knows a format only by (mantissa bits, bias, largest finite code, overflow code):
// a magnitude code c in 0..127 means man * 2^(1-bias-M) when its exponent field is 0 and
// (1 + man/2^M) * 2^(e-bias) otherwise; encoding picks the nearest code by distance (ties to the
// even code), with the code just past the largest finite one standing for "overflow".
#include "support/require_sim_device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <vector>

namespace {

namespace rt = tessel::runtime;
namespace tl = tessel::lang;
using tessel::DType;

struct Format {
  DType dtype;
  int man_bits, bias;
  int max_code;      // largest finite magnitude code
  int overflow_code; // what an overflow gives without saturation (NaN for e4m3, inf for e5m2)
};
constexpr Format kE4M3{DType::f8e4m3, 3, 7, 0x7e, 0x7f};
constexpr Format kE5M2{DType::f8e5m2, 2, 15, 0x7b, 0x7c};

// The magnitude of code c (0..127) read as if every exponent field held a finite value.
double magnitude(const Format& f, int c) {
  const int e = c >> f.man_bits, m = c & ((1 << f.man_bits) - 1);
  if (e == 0)
    return m * std::pow(2.0, 1 - f.bias - f.man_bits);
  return (1.0 + m / std::pow(2.0, f.man_bits)) * std::pow(2.0, e - f.bias);
}

bool is_nan_code(const Format& f, int code) {
  const int c = code & 0x7f;
  return f.dtype == DType::f8e4m3 ? c == 0x7f : c > 0x7c;
}

double reference_decode(const Format& f, int code) {
  const double sign = code & 0x80 ? -1.0 : 1.0;
  if (is_nan_code(f, code))
    return std::numeric_limits<double>::quiet_NaN();
  if ((code & 0x7f) > f.max_code)
    return sign * std::numeric_limits<double>::infinity();
  return sign * magnitude(f, code & 0x7f);
}

// The code of x (any double), rounded to nearest, ties to even; -1 for NaN (any NaN code will do).
int reference_encode(const Format& f, double x, bool saturate) {
  if (std::isnan(x))
    return -1;
  const int sign = std::signbit(x) ? 0x80 : 0;
  const double a = std::fabs(x);
  int best = 0;
  if (std::isinf(a) || a >= magnitude(f, f.max_code + 1)) { // at or past the overflow candidate
    best = f.max_code + 1;
  } else {
    for (int c = 1; c <= f.max_code + 1; ++c) { // max_code + 1: the overflow candidate
      const double d = std::fabs(a - magnitude(f, c)), db = std::fabs(a - magnitude(f, best));
      if (d < db || (d == db && (c & 1) == 0 && (best & 1) == 1))
        best = c;
    }
  }
  if (best > f.max_code)
    best = saturate ? f.max_code : f.overflow_code;
  return sign | best;
}

// ---- inputs -------------------------------------------------------------------------------------

// Every code's value, the ties between neighbours and their f32 neighbours, beyond the largest
// value, specials, and random f32 bit patterns in and around the format's range.
std::vector<float> encode_inputs(const Format& f, size_t random_count) {
  std::vector<float> v;
  auto around = [&](double x) {
    const float c = float(x);
    v.push_back(c);
    v.push_back(std::nextafter(c, 0.0f));
    v.push_back(std::nextafter(c, INFINITY));
  };
  for (int c = 0; c <= f.max_code + 1; ++c) {
    around(magnitude(f, c));
    if (c > 0)
      around((magnitude(f, c) + magnitude(f, c - 1)) / 2); // a tie
  }
  for (double x : {0.0, 1e-30, 1e-45, 3e38, 1e10, 65504.0, 65536.0, 61440.0, 464.0, 480.0, 1000.0})
    around(x);
  std::mt19937 rng(8);
  std::uniform_int_distribution<uint32_t> bits(0, 0xffffffffu);
  for (size_t i = 0; i < random_count; ++i) {
    uint32_t u = bits(rng);
    if (i % 2) // most in the format's range: exponents near the bias
      u = (u & 0x807fffffu) | ((uint32_t(127 - f.bias - 12) + (u >> 23) % 34) << 23);
    v.push_back(std::bit_cast<float>(u));
  }
  const size_t n = v.size();
  for (size_t i = 0; i < n; ++i)
    v.push_back(-v[i]);
  v.push_back(INFINITY);
  v.push_back(-INFINITY);
  v.push_back(NAN);
  v.push_back(-NAN);
  return v;
}

// ---- running a cast on both devices
// --------------------------------------------------------------

tessel::Kernel cast_kernel(DType to, bool saturate) {
  return tl::kernel(std::string("fp8_cast_") + tessel::dtype_name(to) + (saturate ? "_sat" : ""),
                    [to, saturate](tl::Ptr out, tl::Ptr in, tl::Int n, tl::Const<int> B) {
                      auto offs = tl::program_id(0) * B + tl::arange(0, B);
                      auto m = offs < n;
                      auto x = tl::load(in + offs, m);
                      tl::store(out + offs, tl::cast(x, to, {.saturate = saturate}), m);
                    });
}

constexpr int kBlock = 256;

// out = cast(in) on the CPU backend and (when `sim`) on the simulated device; outputs poisoned.
std::vector<uint8_t> run(const tessel::Kernel& k, DType from, DType to,
                         const std::vector<uint8_t>& in, bool sim) {
  const int64_t n = int64_t(in.size() / tessel::dtype_bytes(from));
  const size_t out_bytes = size_t(n) * tessel::dtype_bytes(to);
  std::vector<uint8_t> out(out_bytes, sim ? 0xA5 : 0x5A);
  const int grid = int((n + kBlock - 1) / kBlock);
  if (!sim) {
    tessel::LaunchOptions cpu;
    cpu.device = tessel::DeviceKind::cpu;
    k.launch({grid}, cpu, tessel::TensorView(out.data(), to, {n}),
             tessel::TensorView(const_cast<uint8_t*>(in.data()), from, {n}), n, kBlock);
    return out;
  }
  auto din = rt::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, in.size());
  auto dout = rt::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, out_bytes);
  din.copy_from_host(in.data(), in.size());
  dout.copy_from_host(out.data(), out_bytes);
  k.launch({grid}, {}, dout.view(to, {n}), din.view(from, {n}), n, kBlock);
  dout.copy_to_host(out.data(), out_bytes);
  return out;
}

template <class T> std::vector<uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Encodes `values` (held in `from`, whose doubles they are) and checks every code.
void check_encode(const Format& f, DType from, const std::vector<double>& values,
                  const std::vector<uint8_t>& in, bool saturate, bool sim) {
  const tessel::Kernel k = cast_kernel(f.dtype, saturate);
  const std::vector<uint8_t> got = run(k, from, f.dtype, in, sim);
  int failures = 0;
  for (size_t i = 0; i < values.size() && failures < 10; ++i) {
    const int want = reference_encode(f, values[i], saturate);
    const bool ok = want < 0 ? is_nan_code(f, got[i]) : got[i] == want;
    if (!ok)
      ++failures;
    EXPECT_TRUE(ok) << tessel::dtype_name(from) << " " << values[i] << " (" << std::hexfloat
                    << values[i] << std::defaultfloat << ") -> " << tessel::dtype_name(f.dtype)
                    << (saturate ? " saturating" : "") << " on " << (sim ? "sim" : "cpu")
                    << ": got 0x" << std::hex << int(got[i]) << ", want 0x" << want << std::dec;
  }
}

void check_f32_encode(const Format& f, bool sim) {
  const std::vector<float> in = encode_inputs(f, sim ? 2000 : 60000);
  const std::vector<double> values(in.begin(), in.end());
  for (bool saturate : {false, true})
    check_encode(f, DType::f32, values, bytes_of(in), saturate, sim);
}

// f64 inputs just beside each tie: a cast that rounded to f32 first would land on the tie.
void check_f64_encode(const Format& f, bool sim) {
  std::vector<double> in;
  for (int c = 1; c <= f.max_code + 1; ++c) {
    const double tie = (magnitude(f, c) + magnitude(f, c - 1)) / 2;
    for (double d : {-0x1p-40, 0.0, 0x1p-40})
      for (double s : {1.0, -1.0})
        in.push_back(s * tie * (1 + d));
  }
  in.push_back(1e300);
  in.push_back(-1e-300);
  check_encode(f, DType::f64, in, bytes_of(in), /*saturate=*/false, sim);
}

// Every f16 and bf16 value with an exponent near the format's: exact in f32, so one rounding.
void check_narrow_encode(const Format& f, DType from, bool sim) {
  std::vector<uint16_t> in;
  std::vector<double> values;
  for (uint32_t u = 0; u < 0x10000; u += sim ? 7 : 1) {
    const double v = from == DType::f16 ? tessel::half_to_float(uint16_t(u))
                                        : tessel::bfloat16_to_float(uint16_t(u));
    in.push_back(uint16_t(u));
    values.push_back(v);
  }
  check_encode(f, from, values, bytes_of(in), /*saturate=*/false, sim);
}

void check_decode(const Format& f, DType to, bool sim) {
  std::vector<uint8_t> codes(256);
  for (int c = 0; c < 256; ++c)
    codes[size_t(c)] = uint8_t(c);
  const tessel::Kernel k = cast_kernel(to, false);
  const std::vector<uint8_t> got = run(k, f.dtype, to, codes, sim);
  for (int c = 0; c < 256; ++c) {
    const double want = reference_decode(f, c);
    double have = 0;
    if (to == DType::f32) {
      float x;
      std::memcpy(&x, got.data() + 4 * c, 4);
      have = x;
    } else if (to == DType::f64) {
      std::memcpy(&have, got.data() + 8 * c, 8);
    } else {
      uint16_t h;
      std::memcpy(&h, got.data() + 2 * c, 2);
      have = to == DType::f16 ? tessel::half_to_float(h) : tessel::bfloat16_to_float(h);
    }
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(have)) << "code 0x" << std::hex << c;
      continue;
    }
    EXPECT_EQ(have, want) << "code 0x" << std::hex << c << " -> " << tessel::dtype_name(to)
                          << (sim ? " on sim" : " on cpu");
    EXPECT_EQ(std::signbit(have), std::signbit(want)) << "code 0x" << std::hex << c;
  }
}

// ---- tests --------------------------------------------------------------------------------------

TEST(Fp8, HostConversionsMatchTheReference) {
  for (const Format& f : {kE4M3, kE5M2}) {
    for (int c = 0; c < 256; ++c) {
      const double want = reference_decode(f, c);
      const float have = f.dtype == DType::f8e4m3 ? tessel::f8e4m3_to_float(uint8_t(c))
                                                  : tessel::f8e5m2_to_float(uint8_t(c));
      if (std::isnan(want))
        EXPECT_TRUE(std::isnan(have)) << c;
      else
        EXPECT_EQ(double(have), want) << c;
    }
    for (float x : encode_inputs(f, 20000))
      for (bool sat : {false, true}) {
        const int want = reference_encode(f, x, sat);
        const int have = f.dtype == DType::f8e4m3 ? tessel::float_to_f8e4m3(x, sat)
                                                  : tessel::float_to_f8e5m2(x, sat);
        if (want < 0)
          EXPECT_TRUE(is_nan_code(f, have)) << x;
        else
          EXPECT_EQ(have, want) << x << " saturate " << sat;
      }
  }
}

// A few values worked out by hand, so that the reference itself is checked.
TEST(Fp8, TheReferenceAgreesWithHandWorkedValues) {
  EXPECT_EQ(reference_encode(kE4M3, 448, false), 0x7e);
  EXPECT_EQ(reference_encode(kE4M3, 464, false), 0x7e);    // tie: 448 (mantissa 110) is even
  EXPECT_EQ(reference_encode(kE4M3, 464.01, false), 0x7f); // past it: NaN, no infinity
  EXPECT_EQ(reference_encode(kE4M3, 1e9, true), 0x7e);
  EXPECT_EQ(reference_encode(kE4M3, -INFINITY, true), 0xfe);
  EXPECT_EQ(reference_encode(kE4M3, 0x1p-9, false), 0x01);      // the smallest subnormal
  EXPECT_EQ(reference_encode(kE4M3, 0x1p-10, false), 0x00);     // tie with zero: zero is even
  EXPECT_EQ(reference_encode(kE4M3, 3 * 0x1p-10, false), 0x02); // tie 1.5 units: to 2
  EXPECT_EQ(reference_encode(kE4M3, 1.0625, false), 0x38);      // 1 + 1/16: tie, 1.0 is even
  EXPECT_EQ(reference_encode(kE4M3, 1.1875, false), 0x3a);      // 1 + 3/16: tie, to 1.25
  EXPECT_EQ(reference_encode(kE5M2, 57344, false), 0x7b);
  EXPECT_EQ(reference_encode(kE5M2, 61440, false), 0x7c); // tie: rounds to the even 2^16: inf
  EXPECT_EQ(reference_encode(kE5M2, 61439, false), 0x7b);
  EXPECT_EQ(reference_encode(kE5M2, INFINITY, true), 0x7b);
  EXPECT_EQ(reference_encode(kE5M2, 0x1p-16, false), 0x01);
  EXPECT_EQ(reference_decode(kE4M3, 0x7e), 448);
  EXPECT_EQ(reference_decode(kE4M3, 0x08), 0x1p-6); // the smallest normal
  EXPECT_TRUE(std::isnan(reference_decode(kE4M3, 0xff)));
  EXPECT_EQ(reference_decode(kE5M2, 0xfc), -INFINITY);
  EXPECT_TRUE(std::isnan(reference_decode(kE5M2, 0x7d)));
}

TEST(Fp8, EveryCodeDecodesExactlyOnTheCpu) {
  for (const Format& f : {kE4M3, kE5M2})
    for (DType to : {DType::f32, DType::f16, DType::bf16, DType::f64})
      check_decode(f, to, /*sim=*/false);
}

TEST(Fp8, F32EncodesRoundToNearestEvenOnTheCpu) {
  for (const Format& f : {kE4M3, kE5M2})
    check_f32_encode(f, /*sim=*/false);
}

TEST(Fp8, F64F16Bf16EncodesRoundOnceOnTheCpu) {
  for (const Format& f : {kE4M3, kE5M2}) {
    check_f64_encode(f, /*sim=*/false);
    check_narrow_encode(f, DType::f16, /*sim=*/false);
    check_narrow_encode(f, DType::bf16, /*sim=*/false);
  }
}

TEST(Fp8, TheSimulatorGivesTheSameBits) {
  REQUIRE_SIM_DEVICE();
  for (const Format& f : {kE4M3, kE5M2}) {
    for (DType to : {DType::f32, DType::f16})
      check_decode(f, to, /*sim=*/true);
    check_f32_encode(f, /*sim=*/true);
    check_f64_encode(f, /*sim=*/true);
    check_narrow_encode(f, DType::bf16, /*sim=*/true);
  }
}

// sm_89 has the fp8 cvt instructions: the GPU code uses them (fixed up for NaN and the
// non-saturating overflow) and must give the emulation's bits, every code and every encode case.
// TESSEL_SIM_TARGET=sm_89 while in scope (also when a check throws).
struct SimTargetSm89 {
  SimTargetSm89() { setenv("TESSEL_SIM_TARGET", "sm_89", /*overwrite=*/1); }
  ~SimTargetSm89() { unsetenv("TESSEL_SIM_TARGET"); }
};

TEST(Fp8, NativeCvtOnSm89GivesTheSameBitsInTheSimulator) {
  REQUIRE_SIM_DEVICE();
  EXPECT_EQ(tessel::Target::parse("sm_89").ptx_version(), 81); // the first PTX with them on sm_89
  SimTargetSm89 sm89;
  for (const Format& f : {kE4M3, kE5M2}) {
    for (DType to : {DType::f32, DType::f16})
      check_decode(f, to, /*sim=*/true);
    check_f32_encode(f, /*sim=*/true);
    check_f64_encode(f, /*sim=*/true);
    check_narrow_encode(f, DType::bf16, /*sim=*/true);
  }
}

// The PTX: native cvt on sm_89 and sm_90a (both directions, both formats), none on sm_80.
TEST(Fp8, NativeCvtOnlyWhereTheTargetHasIt) {
  if (!std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()) ||
      !std::filesystem::exists(tessel::codegen::gpu::libdevice_path()))
    GTEST_SKIP() << "CUDA toolkit (libdevice, nvJitLink) not found";
  std::vector<uint8_t> buf(64);
  auto ptx = [&](const char* target, DType from, DType to, bool saturate) {
    const tessel::Kernel k = cast_kernel(to, saturate);
    return k
        .compile(tessel::Target::parse(target),
                 tessel::Signature::from_args(tessel::TensorView(buf.data(), to, {8}),
                                              tessel::TensorView(buf.data(), from, {8}), 1000,
                                              kBlock))
        .ptx;
  };
  for (const char* target : {"sm_89", "sm_90a"}) {
    SCOPED_TRACE(target);
    for (bool saturate : {false, true}) {
      EXPECT_NE(
          ptx(target, DType::f32, DType::f8e4m3, saturate).find("cvt.rn.satfinite.e4m3x2.f32"),
          std::string::npos);
      EXPECT_NE(
          ptx(target, DType::f32, DType::f8e5m2, saturate).find("cvt.rn.satfinite.e5m2x2.f32"),
          std::string::npos);
    }
    EXPECT_NE(ptx(target, DType::f8e4m3, DType::f32, false).find("cvt.rn.f16x2.e4m3x2"),
              std::string::npos);
    EXPECT_NE(ptx(target, DType::f8e5m2, DType::f32, false).find("cvt.rn.f16x2.e5m2x2"),
              std::string::npos);
  }
  EXPECT_EQ(ptx("sm_80", DType::f32, DType::f8e4m3, true).find("e4m3x2"), std::string::npos);
  EXPECT_EQ(ptx("sm_80", DType::f8e5m2, DType::f32, false).find("e5m2x2"), std::string::npos);
}

// The conversions compile for sm_80 and sm_90a without spills or local memory (nvJitLink's
// report), so the emulated bit arithmetic costs registers only.
TEST(Fp8, CastsCompileLeanForSm80AndSm90a) {
  if (!std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()) ||
      !std::filesystem::exists(tessel::codegen::gpu::libdevice_path()))
    GTEST_SKIP() << "CUDA toolkit (libdevice, nvJitLink) not found";
  std::vector<uint8_t> buf(64);
  struct Case {
    DType from, to;
    bool saturate;
  } cases[] = {{DType::f32, DType::f8e4m3, false}, {DType::f32, DType::f8e5m2, true},
               {DType::f8e4m3, DType::f32, false}, {DType::f8e5m2, DType::f16, false},
               {DType::f64, DType::f8e4m3, true},  {DType::bf16, DType::f8e5m2, false}};
  for (const char* target : {"sm_80", "sm_90a"})
    for (const Case& c : cases) {
      const tessel::Kernel k = cast_kernel(c.to, c.saturate);
      const tessel::CompileResult r = k.compile(
          tessel::Target::parse(target),
          tessel::Signature::from_args(tessel::TensorView(buf.data(), c.to, {8}),
                                       tessel::TensorView(buf.data(), c.from, {8}), 1000, kBlock));
      const std::string what = std::string(target) + " " + tessel::dtype_name(c.from) + " -> " +
                               tessel::dtype_name(c.to);
      EXPECT_TRUE(r.resources.parsed) << what << ": " << r.info_log;
      EXPECT_EQ(r.resources.spill_stores, 0) << what;
      EXPECT_EQ(r.resources.spill_loads, 0) << what;
      EXPECT_EQ(r.ptx.find(".local"), std::string::npos) << what;
    }
}

} // namespace
