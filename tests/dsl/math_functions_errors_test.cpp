// One test per diagnostic of the math functions of issue 14 (dsl/math_functions.cpp): each
// asserts the user's file:line, the op and what was wrong.
#include "support/expect_error.h"
#include "tessel/tessel.h"

#include <string>
#include <vector>

namespace tl = tessel::lang;
using tessel::DType;
using tessel::testing::expect_error;

namespace {

std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }

float g_buffer[64];
int g_line = 0;

TEST(MathFunctionErrors, UnaryNeedsAFloatTile) {
  auto k = tl::kernel("log1p_int", [](tl::Ptr p) {
    auto i = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    tl::store(p + i, tl::log1p(i));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "log1p",
                     "needs a float tile (f16, bf16, f32, f64), got i32[16]; convert first, e.g. "
                     "x.to(tl::f32)"};
               });
}

TEST(MathFunctionErrors, BinaryNeedsFloatTiles) {
  auto k = tl::kernel("atan2_int", [](tl::Ptr p) {
    auto x = tl::load(p + tl::arange(0, 16));
    g_line = __LINE__ + 1;
    tl::store(p + tl::arange(0, 16), tl::atan2(x, tl::arange(0, 16)));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "atan2",
                                                 "needs a float tile (f16, bf16, f32, f64), got "
                                                 "i32[16]"};
               });
}

TEST(MathFunctionErrors, NumberOperandNeedsAFloatTile) {
  auto k = tl::kernel("pow_int", [](tl::Ptr p) {
    auto i = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    tl::store(p + i, tl::pow(i, 2.0));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "pow",
                                                 "needs a float tile (f16, bf16, f32, f64), got "
                                                 "i32[16]"};
               });
}

TEST(MathFunctionErrors, RejectsPointers) {
  auto k = tl::kernel("tan_ptr", [](tl::Ptr p) {
    g_line = __LINE__ + 1;
    auto t = tl::tan(p + tl::arange(0, 16));
    tl::store(p + tl::arange(0, 16), t);
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "tan", "not defined for pointers"};
               });
}

TEST(MathFunctionErrors, RejectsFp8Tiles) {
  auto k = tl::kernel("erfinv_fp8", [](tl::Ptr p) {
    auto x = tl::load(p + tl::arange(0, 16)).to(tl::f8e4m3);
    g_line = __LINE__ + 1;
    tl::store(p + tl::arange(0, 16), tl::erfinv(x).to(tl::f32));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "erfinv",
                                                 "needs a float tile (f16, bf16, f32, f64), got "
                                                 "f8e4m3[16]"};
               });
}

TEST(MathFunctionErrors, ShapesMustBroadcast) {
  auto k = tl::kernel("hypot_shapes", [](tl::Ptr p) {
    auto a = tl::load(p + tl::arange(0, 16));
    auto b = tl::load(p + tl::arange(0, 8));
    g_line = __LINE__ + 1;
    tl::store(p + tl::arange(0, 16), tl::hypot(a, b));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "hypot", "[16]", "[8]"};
               });
}

TEST(MathFunctionErrors, CdivNeedsIntegers) {
  auto k = tl::kernel("cdiv_float", [](tl::Ptr p) {
    auto x = tl::load(p + tl::arange(0, 16));
    g_line = __LINE__ + 1;
    tl::store(p + tl::arange(0, 16), tl::cdiv(x, 4));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "cdiv",
                     "needs integer operands (i8 to i64, u8 to u64), got f32[16]; for floats use "
                     "tl::ceil(x / d)"};
               });
}

} // namespace
