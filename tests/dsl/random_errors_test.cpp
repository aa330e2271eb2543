// One test per diagnostic of the random-number ops and umulhi (dsl/random.cpp,
// dsl/ops_elementwise.cpp): each asserts the user's file:line, the op and what was wrong.
#include "support/expect_error.h"
#include "tessel/tessel.h"

#include <string>
#include <vector>

namespace tl = tessel::lang;
using tessel::testing::expect_error;

namespace {

std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }

float g_buffer[64];
int g_line = 0;

TEST(RandomErrors, SeedMustBeAScalar) {
  auto k = tl::kernel("bad_seed_shape", [](tl::Ptr p) {
    auto i = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    tl::store(p + i, tl::rand(i, i));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "rand",
                     "the seed must be a scalar (an i32 or i64 value), "
                     "got i32[16]; vary the offset per element instead"};
               });
}

TEST(RandomErrors, SeedMustBeAnInteger) {
  auto k = tl::kernel("bad_seed_type", [](tl::Ptr p, tl::Float seed) {
    auto i = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    tl::store(p + i, tl::randn(seed, i));
  });
  expect_error([&] { k.ir_for(false, g_buffer, 1.5f); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "randn", "the seed must be an integer (i32 or i64), got f32"};
               });
}

TEST(RandomErrors, OffsetMustBeI32OrI64) {
  auto k = tl::kernel("bad_offset_type", [](tl::Ptr p, tl::Int seed) {
    auto i = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    tl::store(p + i, tl::randint(seed, i.to(tl::i16)));
  });
  expect_error([&] { k.ir_for(false, g_buffer, 3); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "randint",
                     "the offset must be an i32 or i64 tile, got i16[16]; convert it with "
                     ".to(tl::i32)"};
               });
}

TEST(RandomErrors, OffsetMustNotBeAFloat) {
  auto k = tl::kernel("float_offset", [](tl::Ptr p, tl::Int seed) {
    auto i = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    auto words = tl::randint4x(seed, i.to(tl::f32));
    tl::store(p + i, words[0]);
  });
  expect_error([&] { k.ir_for(false, g_buffer, 3); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "randint4x",
                     "the offset must be an i32 or i64 tile, got f32[16]"};
               });
}

TEST(RandomErrors, PhiloxCounterWordsAreI32) {
  auto k = tl::kernel("bad_counter", [](tl::Ptr p, tl::Int seed) {
    auto i = tl::arange(0, 16);
    auto zero = tl::zeros({16}, tl::i32);
    g_line = __LINE__ + 1;
    auto words = tl::philox(seed, i, zero, i.to(tl::i64), zero);
    tl::store(p + i, words[0]);
  });
  expect_error([&] { k.ir_for(false, g_buffer, 3); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "philox", "counter word c2 must be an i32 tile, got i64[16]"};
               });
}

TEST(RandomErrors, UmulhiNeedsIntegers) {
  auto k = tl::kernel("float_umulhi", [](tl::Ptr p) {
    auto i = tl::arange(0, 16);
    auto x = tl::load(p + i);
    g_line = __LINE__ + 1;
    tl::store(p + i, tl::umulhi(i, x));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "umulhi",
                                                 "needs integer operands (i8 to i64), got i32[16] "
                                                 "and f32[16]"};
               });
}

} // namespace
