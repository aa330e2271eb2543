// The shape, sort, scan and tuple-reduction ops as traced IR: they are compositions of existing
// ops (no new opcodes), a kernel using all of them prints, parses back to the same text and
// verifies; sum and cumsum promote i1/i8/i16 to i32 unless a dtype is given; and one test per
// diagnostic, each naming the user's file:line.
#include "support/expect_error.h"
#include "tessel/ir/parser.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/verifier.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace tl = tessel::lang;
using tessel::testing::expect_error;

namespace {

std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }

// The SSA name ("%7") that the first line of `ir` whose right-hand side matches `rhs` defines,
// or "" if none does. Tests check which value an op consumes through it rather than through
// fixed numbers: the numbering follows the order in which the compiler evaluates a call's
// arguments while tracing (gcc right to left, clang left to right).
std::string result_of(const std::string& ir, const std::string& rhs) {
  std::smatch m;
  if (!std::regex_search(ir, m, std::regex("(%[0-9]+) = " + rhs)))
    return "";
  return m[1].str();
}

float g_f32[256];
int8_t g_i8[256];
int16_t g_i16[256];
int32_t g_i32[256];
int g_line = 0;

const tessel::Kernel& every_op() {
  static const tessel::Kernel k = tl::kernel("every_shape_op", [](tl::Ptr out, tl::Ptr a) {
    auto i = tl::arange(0, 16);
    auto x = tl::load(a + i);
    auto two = tl::reshape(x, {8, 2});
    auto [p, q] = tl::split(two);
    auto s = tl::cat(p, q) + tl::flip(x) + tl::ravel(tl::join(p, q)) + tl::interleave(p, q);
    s = s + tl::gather(x, 15 - i, 0) + tl::sort(x) + tl::cumsum(x, 0, {.reverse = true}) +
        tl::cumprod(x, 0);
    auto [v, ix] = tl::topk(x, 4);
    auto [mean, var] = tl::mean_var(x, 0);
    auto [mx, at] = tl::max_with_indices(x, 0);
    s = s + tl::sum(v, 0) + mean + var + mx + at.to(tl::f32) + tl::sum(ix, 0).to(tl::f32) +
        tl::histogram(i, 16).to(tl::f32) + tl::sum(x, 0, {.deterministic = true});
    tl::store(out + i, s);
  });
  return k;
}

TEST(ShapesIr, EveryOpRoundTripsAndVerifies) {
  std::string ir = every_op().ir_for(false, g_f32, g_f32);
  auto m = tessel::ir::parse_module(ir, "shapes.tir");
  EXPECT_EQ(tessel::ir::print(*m), ir);
  auto e = tessel::ir::verify(*m);
  EXPECT_FALSE(e) << e->message;
}

// The ops are made of what the backends already lower: reshapes, permutes, selects and sums.
TEST(ShapesIr, JoinIsASelectOverANewMinorDim) {
  auto k = tl::kernel("join_ir", [](tl::Ptr out, tl::Ptr a) {
    auto x = tl::load(a + tl::arange(0, 8));
    auto j = tl::join(x, x * 2);
    tl::store(out + tl::expand_dims(tl::arange(0, 8), 1) * 2 + tl::expand_dims(tl::arange(0, 2), 0),
              j);
  });
  std::string ir = k.ir_for(false, g_f32, g_f32);
  EXPECT_NE(ir.find("= select "), std::string::npos) << ir;
  EXPECT_NE(ir.find(": tensor<8x2xf32>"), std::string::npos) << ir;
}

// Triton's rule: sum and cumsum of i1/i8/i16 add in i32 unless a dtype is given.
TEST(ShapesIr, NarrowIntegerSumsPromoteToI32) {
  auto k = tl::kernel("sum_i8", [](tl::Ptr out, tl::Ptr a, tl::Const<int> MODE) {
    auto x = tl::load(a + tl::arange(0, 16));
    if (MODE == 0)
      tl::store(out, tl::sum(x, 0));
    else if (MODE == 1)
      tl::store(out, tl::sum(x, 0, {.dtype = tl::i8}));
    else
      tl::store(out + tl::arange(0, 16), tl::cumsum(x, 0));
  });
  std::string promoted = k.ir_for(false, g_i32, g_i8, 0);
  std::string wide = result_of(promoted, R"(cast %\d+ : tensor<16xi32>)");
  ASSERT_FALSE(wide.empty()) << promoted;
  EXPECT_NE(promoted.find("= reduce_sum " + wide + " {axis = 0} : i32"), std::string::npos)
      << promoted;
  std::string kept = k.ir_for(false, g_i32, g_i8, 1);
  EXPECT_FALSE(result_of(kept, R"(reduce_sum %\d+ \{axis = 0\} : i8)").empty()) << kept;
  std::string scan = k.ir_for(false, g_i32, g_i16, 2);
  std::string wide16 = result_of(scan, R"(cast %\d+ : tensor<16xi32>)");
  ASSERT_FALSE(wide16.empty()) << scan;
  EXPECT_NE(scan.find("= scan_sum " + wide16 + " {axis = 0} : tensor<16xi32>"), std::string::npos)
      << scan;
}

// ---- diagnostics: one per message ---------------------------------------------------------------

template <class F> void fails_at(F body, std::initializer_list<std::string> fragments) {
  auto k = tl::kernel("bad_shape_op", [&](tl::Ptr out, tl::Ptr a, tl::Ptr ia) {
    body(out, tl::load(a + tl::arange(0, 16)), tl::load(ia + tl::arange(0, 16)));
  });
  expect_error([&] { k.ir_for(false, g_f32, g_f32, g_i32); },
               [&] {
                 std::vector<std::string> f(fragments);
                 f.push_back(here(g_line));
                 return f;
               });
}

using T = tl::Tensor;

TEST(ShapesErrors, SplitNeedsALastDimOfTwo) {
  fails_at(
      [](T, T x, T) {
        g_line = __LINE__ + 1;
        tl::split(tl::reshape(x, {4, 4}));
      },
      {"split: the last dim of f32[4, 4] must be 2"});
}
TEST(ShapesErrors, SplitOfPointers) {
  fails_at(
      [](T out, T, T) {
        g_line = __LINE__ + 1;
        tl::split(tl::reshape(out + tl::arange(0, 2), {1, 2}));
      },
      {"split: cannot move the elements of a pointer tile"});
}
TEST(ShapesErrors, CatOfDifferentShapes) {
  fails_at(
      [](T, T x, T) {
        g_line = __LINE__ + 1;
        tl::cat(x, tl::reshape(x, {8, 2}));
      },
      {"cat: needs two tiles of one shape, got f32[16] and f32[8, 2]"});
}
TEST(ShapesErrors, DimOutOfRange) {
  fails_at(
      [](T, T x, T) {
        g_line = __LINE__ + 1;
        tl::flip(x, 1);
      },
      {"flip: dim 1 does not exist in f32[16] (valid: -1..0)"});
}
TEST(ShapesErrors, DimOfAScalar) {
  fails_at(
      [](T, T x, T) {
        g_line = __LINE__ + 1;
        tl::sort(tl::sum(x, 0));
      },
      {"sort: needs a tile, got the scalar f32"});
}
TEST(ShapesErrors, GatherWithFloatIndices) {
  fails_at(
      [](T, T x, T) {
        g_line = __LINE__ + 1;
        tl::gather(x, x, 0);
      },
      {"gather: the index must be integers, got f32[16]"});
}
TEST(ShapesErrors, GatherIndexOfAnotherShape) {
  fails_at(
      [](T, T x, T i) {
        g_line = __LINE__ + 1;
        tl::gather(tl::reshape(x, {4, 4}), tl::reshape(i, {2, 8}), 0);
      },
      {"gather: the index [2, 8] must have the shape of the source [4, 4] except along axis 0"});
}
TEST(ShapesErrors, GatherTooLarge) {
  fails_at(
      [](T, T x, T) {
        g_line = __LINE__ + 1;
        tl::gather(tl::zeros({8192}, tl::f32), tl::zeros({4096}, tl::i32), 0);
        (void)x;
      },
      {"gather: gathering [4096] from 8192 positions compares 33554432 pairs"});
}
TEST(ShapesErrors, HistogramOfFloats) {
  fails_at(
      [](T, T x, T) {
        g_line = __LINE__ + 1;
        tl::histogram(x, 8);
      },
      {"histogram: needs a 1-D tile of integers, got f32[16]"});
}
TEST(ShapesErrors, HistogramBinsNotAPowerOfTwo) {
  fails_at(
      [](T, T, T i) {
        g_line = __LINE__ + 1;
        tl::histogram(i, 10);
      },
      {"histogram: num_bins must be a positive power of two, got 10"});
}
TEST(ShapesErrors, HistogramMaskNotBool) {
  fails_at(
      [](T, T, T i) {
        g_line = __LINE__ + 1;
        tl::histogram(i, 8, i);
      },
      {"histogram: the mask must be i1, got i32[16]"});
}
TEST(ShapesErrors, TopkWithBadK) {
  fails_at(
      [](T, T x, T) {
        g_line = __LINE__ + 1;
        tl::topk(x, 3);
      },
      {"topk: k must be a power of two from 1 to the last dim of f32[16], got 3"});
}
TEST(ShapesErrors, InterleaveOfScalars) {
  fails_at(
      [](T, T x, T) {
        g_line = __LINE__ + 1;
        tl::interleave(tl::sum(x, 0), tl::sum(x, 0));
      },
      {"interleave: needs tiles, got two scalars"});
}
TEST(ShapesErrors, ScanOfValuesOfDifferentShapes) {
  fails_at(
      [](T, T x, T) {
        g_line = __LINE__ + 1;
        tl::associative_scan({x, tl::reshape(x, {8, 2})}, 0,
                             [](const tl::Values& a, const tl::Values&) { return a; });
      },
      {"associative_scan: the values must have one shape, got f32[16] and f32[8, 2]"});
}
TEST(ShapesErrors, ScanCombineReturnsTheWrongCount) {
  fails_at(
      [](T, T x, T i) {
        g_line = __LINE__ + 1;
        tl::associative_scan(
            {x, i}, 0, [](const tl::Values& a, const tl::Values&) { return tl::Values{a[0]}; });
      },
      {"associative_scan: the combine function returned 1 values for 2 inputs"});
}
TEST(ShapesErrors, ScanOfNoValues) {
  fails_at(
      [](T, T, T) {
        g_line = __LINE__ + 1;
        tl::associative_scan(tl::Values{}, 0,
                             [](const tl::Values& a, const tl::Values&) { return a; });
      },
      {"associative_scan: needs at least one value"});
}
TEST(ShapesErrors, ScanCombineReturnsAnEmptyHandle) {
  fails_at(
      [](T, T x, T) {
        g_line = __LINE__ + 1;
        tl::associative_scan(x, 0, [](T, T) { return T(); });
      },
      {"associative_scan: the combine function returned an empty handle"});
}
TEST(ShapesErrors, ReduceCombineReturnsTheWrongCount) {
  fails_at(
      [](T, T x, T) {
        g_line = __LINE__ + 1;
        tl::reduce({x}, 0, [](const tl::Values& a, const tl::Values& b) {
          return tl::Values{a[0], b[0]};
        });
      },
      {"reduce: the combine function returned 2 values for 1 inputs"});
}
TEST(ShapesErrors, ReduceCombineReturnsAnEmptyHandle) {
  fails_at(
      [](T, T x, T) {
        g_line = __LINE__ + 1;
        tl::reduce({x}, 0, [](const tl::Values&, const tl::Values&) { return tl::Values{T()}; });
      },
      {"reduce: the combine function returned an empty handle"});
}
TEST(ShapesErrors, ReduceOfNoValues) {
  fails_at(
      [](T, T, T) {
        g_line = __LINE__ + 1;
        tl::reduce(tl::Values{}, 0, [](const tl::Values& a, const tl::Values&) { return a; });
      },
      {"reduce: needs at least one value"});
}
TEST(ShapesErrors, ReduceOfValuesOfDifferentShapes) {
  fails_at(
      [](T, T x, T) {
        g_line = __LINE__ + 1;
        tl::reduce({x, tl::reshape(x, {8, 2})}, 0,
                   [](const tl::Values& a, const tl::Values&) { return a; });
      },
      {"reduce: the values must have one shape, got f32[16] and f32[8, 2]"});
}
TEST(ShapesErrors, MeanVarMaskNotBool) {
  fails_at(
      [](T, T x, T i) {
        g_line = __LINE__ + 1;
        tl::mean_var(x, 0, i);
      },
      {"mean_var: the mask must be i1, got i32[16]"});
}

} // namespace
