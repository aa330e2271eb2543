// One test per diagnostic of the element-math ops (dsl/element_math.cpp): each asserts the user's
// file:line, the op and what was wrong.
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

TEST(ElementMathErrors, BitcastNeedsOneWidth) {
  auto k = tl::kernel("bitcast_width", [](tl::Ptr p) {
    auto x = tl::load(p + tl::arange(0, 16));
    g_line = __LINE__ + 1;
    tl::store(p + tl::arange(0, 16), tl::bitcast(x, DType::i16).to(tl::f32));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "bitcast",
                     "the types must have one width: f32[16] has 32-bit elements, i16 16; pick a "
                     "32-bit type"};
               });
}

TEST(ElementMathErrors, BitcastRejectsI1) {
  auto k = tl::kernel("bitcast_i1", [](tl::Ptr p) {
    auto x = tl::load(p + tl::arange(0, 16));
    g_line = __LINE__ + 1;
    tl::store(p + tl::arange(0, 16), tl::bitcast(x > 0, DType::i8).to(tl::f32));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "bitcast",
                     "i1 has no bits of its own to reinterpret; use x.to(...) to convert"};
               });
}

TEST(ElementMathErrors, BitcastRejectsPointers) {
  auto k = tl::kernel("bitcast_ptr", [](tl::Ptr p) {
    g_line = __LINE__ + 1;
    auto bits = tl::bitcast(p + tl::arange(0, 16), DType::i64);
    tl::store(p + tl::arange(0, 16), bits.to(tl::f32));
  });
  expect_error(
      [&] { k.ir_for(false, g_buffer); },
      [] {
        return std::vector<std::string>{here(g_line), "bitcast", "not defined for pointers"};
      });
}

TEST(ElementMathErrors, PopcNeedsIntegers) {
  auto k = tl::kernel("popc_float", [](tl::Ptr p) {
    auto x = tl::load(p + tl::arange(0, 16));
    g_line = __LINE__ + 1;
    tl::store(p + tl::arange(0, 16), tl::popc(x));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "popc",
                     "needs an integer tile (i8 to i64, u8 to u64), got f32[16]; for a float's "
                     "bits use tl::bitcast(x, DType::i32) first"};
               });
}

TEST(ElementMathErrors, IsnanNeedsFloats) {
  auto k = tl::kernel("isnan_int", [](tl::Ptr p) {
    auto i = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    tl::store(p + i, tl::isnan(i).to(tl::f32));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "isnan",
                     "needs a float tile (f16, bf16, f32, f64), got i32[16]; convert first, e.g. "
                     "x.to(tl::f32)"};
               });
}

} // namespace
