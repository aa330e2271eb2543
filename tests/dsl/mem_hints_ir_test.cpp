// Hints and memory modifiers as the DSL records them and as the IR states them (issue 14): traced
// IR (the `hint` op and its lists; load/store `cache`, `evict`, `volatile`), print -> parse ->
// print identity of a kernel that uses every form, one verifier rule per test (IR text that breaks
// it) and one test per DSL diagnostic, each naming the user's
// file:line.
#include "support/expect_error.h"
#include "tessel/ir/parser.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/verifier.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tl = tessel::lang;
using tessel::testing::expect_error;
using CM = tl::CacheModifier;
using EP = tl::EvictionPolicy;

namespace {

std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }

float g_f32[64];
int g_line = 0;

bool has(const std::string& s, const std::string& what) {
  return s.find(what) != std::string::npos;
}

const tessel::Kernel& every_form() {
  static const tessel::Kernel k =
      tl::kernel("every_mem_form", [](tl::Ptr out, tl::Ptr in, tl::Int n, tl::Int stride) {
        auto row = tl::multiple_of(tl::program_id(0) * stride, 16);
        auto offs = tl::max_contiguous(tl::multiple_of(tl::arange(0, 16), 16), 16);
        auto m = offs < n;
        auto a = tl::load(in + row + offs, m, 0.0, {.cache_modifier = CM::cg});
        auto b = tl::load(in + offs, {.eviction_policy = EP::first});
        auto c = tl::load(in + offs, m, {.is_volatile = true});
        auto d = tl::load(in, {.cache_modifier = CM::cs, .eviction_policy = EP::last});
        tl::store(out + offs, a + b + c + d, m, {.cache_modifier = CM::wt});
        tl::store(out + offs + 16, a, {.eviction_policy = EP::last});
        tl::store(out, d, {.is_volatile = true});
        auto cols = tl::max_constancy(tl::expand_dims(offs, 0) * 0, std::vector<int64_t>{1, 16});
        tl::store(out + 32 + tl::expand_dims(offs, 1) + cols, tl::reshape(a, {16, 1}));
      });
  return k;
}

TEST(MemHintsIr, TracedOpsCarryTheirAttributes) {
  std::string ir = every_form().ir_for(false, g_f32, g_f32, 16, 32);
  EXPECT_TRUE(has(ir, "hint %")) << ir;
  EXPECT_TRUE(has(ir, "{multiple_of = [16]}")) << ir;
  EXPECT_TRUE(has(ir, "{max_contiguous = [16]}")) << ir;
  EXPECT_TRUE(has(ir, "{max_constancy = [1, 16]}")) << ir;
  // CacheModifier cg = 2, cs = 3, wt = 7; EvictionPolicy first = 1, last = 2.
  EXPECT_TRUE(has(ir, "{cache = 2} : tensor<16xf32>")) << ir;
  EXPECT_TRUE(has(ir, "{evict = 1} : tensor<16xf32>")) << ir;
  EXPECT_TRUE(has(ir, "{volatile = 1} : tensor<16xf32>")) << ir;
  EXPECT_TRUE(has(ir, "{cache = 3, evict = 2} : f32")) << ir;
  EXPECT_TRUE(has(ir, "{cache = 7}")) << ir;
  EXPECT_TRUE(has(ir, "{evict = 2}")) << ir;
}

TEST(MemHintsIr, KernelWithEveryFormRoundTripsAndVerifies) {
  for (bool optimized : {false, true}) {
    std::string ir = every_form().ir_for(optimized, g_f32, g_f32, 16, 32);
    auto m = tessel::ir::parse_module(ir, "mem_hints.tir");
    EXPECT_EQ(tessel::ir::print(*m), ir);
    auto e = tessel::ir::verify(*m);
    EXPECT_FALSE(e) << e->message;
  }
}

// ---- verifier rules
// ------------------------------------------------------------------------------

std::string verify_message(const std::string& body) {
  std::string text = "kernel @k(%arg0: tensor<4xptr<f32>>, %arg1: tensor<4xf32>, "
                     "%arg2: tensor<4xi1>, %arg3: tensor<4xi32>, %arg4: tensor<4x4xi32>) {\n" +
                     body + "  return\n}\n";
  auto e = tessel::ir::verify(*tessel::ir::parse_module(text, "v.tir"));
  return e ? e->message : "";
}

TEST(MemHintsIr, VerifierAcceptsWellFormedForms) {
  EXPECT_EQ(verify_message("  %0 = load %arg0, %arg2 {cache = 5, evict = 2} : tensor<4xf32>\n"
                           "  store %arg0, %0 {cache = 6, evict = 1}\n"
                           "  %1 = load %arg0 {volatile = 1} : tensor<4xf32>\n"
                           "  %2 = hint %arg3 {multiple_of = [8], max_contiguous = [4]} : "
                           "tensor<4xi32>\n"
                           "  %3 = hint %arg0 {multiple_of = [16]} : tensor<4xptr<f32>>\n"),
            "");
}

TEST(MemHintsIr, VerifierRejectsAStoreCacheModifierOnALoad) {
  EXPECT_TRUE(has(verify_message("  %0 = load %arg0 {cache = 7} : tensor<4xf32>\n"),
                  "the cache modifier .wt is not one of a load's (ca, cg, cs, lu or cv)"));
}

TEST(MemHintsIr, VerifierRejectsALoadCacheModifierOnAStore) {
  EXPECT_TRUE(has(verify_message("  store %arg0, %arg1 {cache = 1}\n"),
                  "the cache modifier .ca is not one of a store's (wb, cg, cs or wt)"));
}

TEST(MemHintsIr, VerifierRejectsACacheModifierOutOfRange) {
  EXPECT_TRUE(has(verify_message("  %0 = load %arg0 {cache = 9} : tensor<4xf32>\n"),
                  "cache must be a cache modifier from 1 (ca) to 7 (wt), found 9"));
}

TEST(MemHintsIr, VerifierRejectsAnEvictionPolicyOutOfRange) {
  EXPECT_TRUE(has(verify_message("  %0 = load %arg0 {evict = 0} : tensor<4xf32>\n"),
                  "evict must be 1 (evict_first) or 2 (evict_last), found 0"));
}

TEST(MemHintsIr, VerifierRejectsVolatileOtherThanOne) {
  EXPECT_TRUE(has(verify_message("  store %arg0, %arg1 {volatile = 2}\n"),
                  "volatile must be 1 when present, found 2"));
}

TEST(MemHintsIr, VerifierRejectsVolatileWithACacheModifier) {
  EXPECT_TRUE(has(verify_message("  %0 = load %arg0 {cache = 2, volatile = 1} : tensor<4xf32>\n"),
                  "a volatile load takes no cache modifier or eviction policy"));
}

TEST(MemHintsIr, VerifierRejectsAHintOnAFloatTile) {
  EXPECT_TRUE(has(verify_message("  %0 = hint %arg1 {multiple_of = [16]} : tensor<4xf32>\n"),
                  "applies to integer or pointer tiles (offsets, strides, pointers), found "
                  "tensor<4xf32>"));
}

TEST(MemHintsIr, VerifierRejectsAHintOnABooleanTile) {
  EXPECT_TRUE(has(verify_message("  %0 = hint %arg2 {max_constancy = [4]} : tensor<4xi1>\n"),
                  "applies to integer or pointer tiles"));
}

TEST(MemHintsIr, VerifierRejectsAHintWithoutAnyFact) {
  EXPECT_TRUE(has(verify_message("  %0 = hint %arg3 : tensor<4xi32>\n"),
                  "needs at least one of multiple_of, max_contiguous, max_constancy"));
}

TEST(MemHintsIr, VerifierRejectsAHintWithOneValueForTwoDimensions) {
  EXPECT_TRUE(
      has(verify_message("  %0 = hint %arg4 {max_contiguous = [4]} : tensor<4x4xi32>\n"),
          "max_contiguous needs 2 value(s), one per dimension of tensor<4x4xi32>, found 1"));
}

TEST(MemHintsIr, VerifierRejectsAHintValueBelowOne) {
  EXPECT_TRUE(has(verify_message("  %0 = hint %arg3 {multiple_of = [0]} : tensor<4xi32>\n"),
                  "multiple_of values must be >= 1, found 0"));
}

// ---- DSL diagnostics
// -----------------------------------------------------------------------------

TEST(MemHintsDslErrors, StoreCacheModifierOnALoad) {
  auto k = tl::kernel("bad_load_cache", [](tl::Ptr out, tl::Ptr in) {
    g_line = __LINE__ + 1;
    auto x = tl::load(in + tl::arange(0, 16), {.cache_modifier = CM::wb});
    tl::store(out + tl::arange(0, 16), x);
  });
  expect_error([&] { k.ir_for(false, g_f32, g_f32); },
               [] {
                 return std::vector<std::string>{here(g_line), "load",
                                                 "the cache modifier .wb is not one of a load's",
                                                 "ca, cg, cs, lu or cv"};
               });
}

TEST(MemHintsDslErrors, LoadCacheModifierOnAStore) {
  auto k = tl::kernel("bad_store_cache", [](tl::Ptr out, tl::Ptr in) {
    auto x = tl::load(in + tl::arange(0, 16));
    g_line = __LINE__ + 1;
    tl::store(out + tl::arange(0, 16), x, {.cache_modifier = CM::lu});
  });
  expect_error([&] { k.ir_for(false, g_f32, g_f32); },
               [] {
                 return std::vector<std::string>{here(g_line), "store",
                                                 "the cache modifier .lu is not one of a store's",
                                                 "wb, cg, cs or wt"};
               });
}

TEST(MemHintsDslErrors, VolatileLoadWithAnEvictionPolicy) {
  auto k = tl::kernel("bad_volatile_load", [](tl::Ptr out, tl::Ptr in) {
    g_line = __LINE__ + 1;
    auto x = tl::load(in + tl::arange(0, 16), {.eviction_policy = EP::first, .is_volatile = true});
    tl::store(out + tl::arange(0, 16), x);
  });
  expect_error([&] { k.ir_for(false, g_f32, g_f32); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "load",
                     "a volatile load takes no cache modifier or eviction policy"};
               });
}

TEST(MemHintsDslErrors, VolatileStoreWithACacheModifier) {
  auto k = tl::kernel("bad_volatile_store", [](tl::Ptr out, tl::Ptr in) {
    auto x = tl::load(in + tl::arange(0, 16));
    g_line = __LINE__ + 1;
    tl::store(out + tl::arange(0, 16), x, {.cache_modifier = CM::cs, .is_volatile = true});
  });
  expect_error([&] { k.ir_for(false, g_f32, g_f32); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "store",
                     "a volatile store takes no cache modifier or eviction policy"};
               });
}

TEST(MemHintsDslErrors, HintOnAFloatTile) {
  auto k = tl::kernel("bad_hint_float", [](tl::Ptr out, tl::Ptr in) {
    auto x = tl::load(in + tl::arange(0, 16));
    g_line = __LINE__ + 1;
    tl::store(out + tl::arange(0, 16), tl::multiple_of(x, 16));
  });
  expect_error([&] { k.ir_for(false, g_f32, g_f32); },
               [] {
                 return std::vector<std::string>{here(g_line), "multiple_of",
                                                 "hints describe integer or pointer tiles",
                                                 "got f32[16]"};
               });
}

TEST(MemHintsDslErrors, HintWithTheWrongNumberOfValues) {
  auto k = tl::kernel("bad_hint_count", [](tl::Ptr out) {
    auto offs = tl::expand_dims(tl::arange(0, 16), 0) + tl::expand_dims(tl::arange(0, 4), 1);
    g_line = __LINE__ + 1;
    tl::store(out + tl::max_contiguous(offs, 16), tl::zeros({16}, tl::f32));
  });
  expect_error([&] { k.ir_for(false, g_f32); },
               [] {
                 return std::vector<std::string>{here(g_line), "max_contiguous",
                                                 "needs one value per dimension of i32[4, 16] (2)",
                                                 "got 1"};
               });
}

TEST(MemHintsDslErrors, HintValueBelowOne) {
  auto k = tl::kernel("bad_hint_value", [](tl::Ptr out) {
    g_line = __LINE__ + 1;
    tl::store(out + tl::max_constancy(tl::arange(0, 16), 0), tl::zeros({16}, tl::f32));
  });
  expect_error([&] { k.ir_for(false, g_f32); },
               [] {
                 return std::vector<std::string>{here(g_line), "max_constancy",
                                                 "values must be positive", "got 0"};
               });
}

} // namespace
