// Kernel argument types of issue 14: tl::Float64 (an f64 scalar argument; tl::Float stays f32, as
// Triton's default), tl::Const<bool> and tl::Const<Enum> (a specialization per value: in the
// cache key, in the traced IR), on the CPU backend and in the simulator; and one test per launch
// diagnostic of enum constants (a value of the wrong enum, an integer for an enum, an enum for an
// integer), each naming the launch's file:line.
#include "device/backend_buffers.h"
#include "support/expect_error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace tl = tessel::lang;
using tessel::DeviceKind;
using tessel::testing::Buffer;
using tessel::testing::cpu_and_sim;
using tessel::testing::expect_error;
using tessel::testing::on;

namespace app {
enum class Blend : uint8_t { add, mul, max };
enum class Other { a, b };
} // namespace app

namespace {

std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }

// 1 + 2^-40 is not an f32: a scale rounded to f32 would give x exactly.
constexpr double kScale = 1.0 + 0x1p-40;

const tessel::Kernel& scale64() {
  static const tessel::Kernel k =
      tl::kernel("scale64", "out, x, s, n", [](tl::Ptr out, tl::Ptr x, tl::Float64 s, tl::Int n) {
        auto offs = tl::program_id(0) * 128 + tl::arange(0, 128);
        auto mask = offs < n;
        tl::store(out + offs, tl::load(x + offs, mask) * s, mask);
      });
  return k;
}

TEST(ArgTypes, Float64ArgumentKeepsItsBits) {
  for (DeviceKind where : cpu_and_sim()) {
    SCOPED_TRACE(tessel::device_kind_name(where));
    const int64_t n = 300;
    std::vector<double> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      x[size_t(i)] = double(i) - 150.5;
    Buffer<double> in(where, x);
    Buffer<double> out(where, std::vector<double>(size_t(n), NAN));
    scale64().launch({3}, on(where), out.view(), in.view(), kScale, n);
    std::vector<double> got = out.read();
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(got[size_t(i)], x[size_t(i)] * kScale) << "element " << i;
  }
}

TEST(ArgTypes, Float64IsAnF64ArgumentInTheIrAndFloatStaysF32) {
  double d[4];
  std::string ir = scale64().ir_for(false, d, d, kScale, 4);
  EXPECT_NE(ir.find("%arg2: f64"), std::string::npos) << ir;
  auto k = tl::kernel("scale32", [](tl::Ptr out, tl::Float s) {
    tl::store(out + tl::arange(0, 16), s + tl::zeros({16}, tl::f32));
  });
  float f[16];
  std::string ir32 = k.ir_for(false, f, 0.5);
  EXPECT_NE(ir32.find("%arg1: f32"), std::string::npos) << ir32;
}

// out = a (+) b by BLEND, negated when NEGATE: one specialization per (BLEND, NEGATE).
const tessel::Kernel& blend() {
  static const tessel::Kernel k = tl::kernel(
      "blend", "out, a, b, BLEND, NEGATE",
      [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Const<app::Blend> BLEND, tl::Const<bool> NEGATE) {
        auto offs = tl::arange(0, 64);
        auto x = tl::load(a + offs), y = tl::load(b + offs);
        tl::Tensor r;
        switch (app::Blend(BLEND)) {
        case app::Blend::add:
          r = x + y;
          break;
        case app::Blend::mul:
          r = x * y;
          break;
        case app::Blend::max:
          r = tl::maximum(x, y);
          break;
        }
        tl::store(out + offs, NEGATE ? -r : r);
      });
  return k;
}

TEST(ArgTypes, EnumAndBoolConstantsSpecializeTheKernel) {
  std::vector<float> a(64), b(64);
  for (int i = 0; i < 64; ++i) {
    a[size_t(i)] = float(i % 7) - 3;
    b[size_t(i)] = float(i % 5) - 2;
  }
  for (DeviceKind where : cpu_and_sim())
    for (app::Blend mode : {app::Blend::add, app::Blend::mul, app::Blend::max})
      for (bool negate : {false, true}) {
        SCOPED_TRACE(std::string(tessel::device_kind_name(where)) + " mode " +
                     std::to_string(int(mode)) + (negate ? " negated" : ""));
        Buffer<float> ba(where, a), bb(where, b), out(where, std::vector<float>(64, NAN));
        blend().launch({1}, on(where), out.view(), ba.view(), bb.view(), mode, negate);
        std::vector<float> got = out.read();
        for (size_t i = 0; i < 64; ++i) {
          float r = mode == app::Blend::add   ? a[i] + b[i]
                    : mode == app::Blend::mul ? a[i] * b[i]
                                              : std::max(a[i], b[i]);
          ASSERT_EQ(got[i], negate ? -r : r) << "element " << i;
        }
      }
}

TEST(ArgTypes, EachEnumValueIsItsOwnTrace) {
  float f[64];
  std::string add = blend().ir_for(false, f, f, f, app::Blend::add, false);
  std::string mul = blend().ir_for(false, f, f, f, app::Blend::mul, false);
  EXPECT_NE(add.find("= add "), std::string::npos) << add;
  EXPECT_NE(mul.find("= mul "), std::string::npos) << mul;
  EXPECT_EQ(mul.find("= add "), std::string::npos) << mul;
}

TEST(ArgTypesErrors, ValueOfAnotherEnumForAnEnumConstant) {
  float f[64];
  int line = __LINE__ + 1;
  expect_error([&] { blend().launch({1}, {}, f, f, f, app::Other::b, false); },
               {here(line), "kernel 'blend'", "parameter 'BLEND' (Const<app::Blend>)",
                "is a compile-time app::Blend, got a value of app::Other",
                "pass one of app::Blend's enumerators"});
}

TEST(ArgTypesErrors, IntegerForAnEnumConstant) {
  float f[64];
  int line = __LINE__ + 1;
  expect_error([&] { blend().launch({1}, {}, f, f, f, 1, false); },
               {here(line), "parameter 'BLEND' (Const<app::Blend>)",
                "is a compile-time app::Blend, got an integer"});
}

TEST(ArgTypesErrors, EnumForAnIntegerConstant) {
  auto k = tl::kernel("int_const", "out, BLOCK", [](tl::Ptr out, tl::Const<int> BLOCK) {
    tl::store(out + tl::arange(0, 16), float(int(BLOCK)) + tl::zeros({16}, tl::f32));
  });
  float f[16];
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, {}, f, app::Blend::mul); },
               {here(line), "parameter 'BLOCK' (Const<int>)", "got a value of the enum app::Blend",
                "declare the parameter tl::Const<app::Blend>"});
}

TEST(ArgTypesErrors, EnumForARunTimeInteger) {
  auto k = tl::kernel("int_arg", "out, n", [](tl::Ptr out, tl::Int n) {
    tl::store(out + tl::arange(0, 16), tl::zeros({16}, tl::f32), tl::arange(0, 16) < n);
  });
  float f[16];
  int line = __LINE__ + 1;
  expect_error([&] { k.launch({1}, {}, f, app::Blend::mul); },
               {here(line), "parameter 'n' (Int)", "expects an integer, got app::Blend"});
}

} // namespace
