// The atomic ops as the DSL records them and as the IR states them: traced IR (ops, sem/scope
// attributes, broadcasting of scalar values and masks), print -> parse -> print identity of a
// kernel that uses every atomic, one verifier rule per test (IR text that breaks it), and one test
// per DSL diagnostic, each naming the user's file:line.
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

namespace {

std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }

float g_f32[64];
int32_t g_i32[64];
tessel::half g_f16[64];
int g_line = 0;

const tessel::Kernel& every_atomic() {
  static const tessel::Kernel k = tl::kernel("every_atomic", [](tl::Ptr x, tl::Ptr out, tl::Int n) {
    auto offs = tl::arange(0, 16);
    auto m = offs < n;
    auto a = tl::atomic_add(x + offs, 1, m, tl::MemSem::relaxed, tl::MemScope::cta);
    a = a + tl::atomic_max(x + offs, a, m, tl::MemSem::acquire, tl::MemScope::sys);
    a = a + tl::atomic_min(x + offs, a, tl::MemSem::release);
    a = a + tl::atomic_and(x + offs, a);
    a = a + tl::atomic_or(x + offs, 3, m);
    a = a + tl::atomic_xor(x + offs, a, m);
    a = a + tl::atomic_xchg(x + offs, a, m);
    a = a + tl::atomic_cas(x + offs, 0, a);
    a = a + tl::atomic_add(x, 5); // a scalar pointer
    tl::store(out + offs, a);
  });
  return k;
}

TEST(AtomicIr, TracedOpsCarrySemScopeAndBroadcastOperands) {
  std::string ir = every_atomic().ir_for(false, g_i32, g_i32, 16);
  for (const char* want : {"atomic_add", "atomic_max", "atomic_min", "atomic_and", "atomic_or",
                           "atomic_xor", "atomic_xchg", "atomic_cas"})
    EXPECT_NE(ir.find(std::string("= ") + want + " "), std::string::npos) << want << "\n" << ir;
  EXPECT_NE(ir.find("{sem = 0, scope = 0} : tensor<16xi32>"), std::string::npos)
      << ir; // relaxed, cta
  EXPECT_NE(ir.find("{sem = 1, scope = 2} : tensor<16xi32>"), std::string::npos)
      << ir; // acquire, sys
  EXPECT_NE(ir.find("{sem = 2, scope = 1} : tensor<16xi32>"), std::string::npos)
      << ir;                                                                 // release, gpu
  EXPECT_NE(ir.find("{sem = 3, scope = 1} : i32"), std::string::npos) << ir; // the scalar atomic
}

TEST(AtomicIr, KernelWithEveryAtomicRoundTripsAndVerifies) {
  std::string ir = every_atomic().ir_for(false, g_i32, g_i32, 16);
  auto m = tessel::ir::parse_module(ir, "atomics.tir");
  EXPECT_EQ(tessel::ir::print(*m), ir);
  auto e = tessel::ir::verify(*m);
  EXPECT_FALSE(e) << e->message;
}

// ---- verifier rules
// ------------------------------------------------------------------------------

std::string verify_message(const std::string& body) {
  std::string text =
      "kernel @k(%arg0: tensor<4xptr<f32>>, %arg1: tensor<4xf32>, %arg2: tensor<4xi1>, "
      "%arg3: tensor<4xptr<i32>>, %arg4: tensor<4xi32>, %arg5: tensor<4xptr<f16>>, "
      "%arg6: tensor<4xf16>) {\n" +
      body + "  return\n}\n";
  auto e = tessel::ir::verify(*tessel::ir::parse_module(text, "v.tir"));
  return e ? e->message : "";
}

TEST(AtomicIr, VerifierAcceptsWellFormedAtomics) {
  EXPECT_EQ(
      verify_message("  %0 = atomic_add %arg0, %arg1, %arg2 {sem = 3, scope = 1} : tensor<4xf32>\n"
                     "  %1 = atomic_cas %arg3, %arg4, %arg4 {sem = 0, scope = 2} : tensor<4xi32>\n"
                     "  %2 = atomic_add %arg5, %arg6 {sem = 0, scope = 0} : tensor<4xf16>\n"),
      "");
}

TEST(AtomicIr, VerifierRejectsBitwiseAtomicOnFloats) {
  EXPECT_NE(verify_message("  %0 = atomic_xor %arg0, %arg1 {sem = 3, scope = 1} : tensor<4xf32>\n")
                .find("applies to i32, i64, u32 or u64 elements, found tensor<4xptr<f32>>"),
            std::string::npos);
}

TEST(AtomicIr, VerifierRejectsMaxOnF16) {
  EXPECT_NE(verify_message("  %0 = atomic_max %arg5, %arg6 {sem = 3, scope = 1} : tensor<4xf16>\n")
                .find("applies to i32, i64, u32, u64, f32 or f64 elements"),
            std::string::npos);
}

TEST(AtomicIr, VerifierRejectsSemOutOfRange) {
  EXPECT_NE(verify_message("  %0 = atomic_add %arg0, %arg1 {sem = 7, scope = 1} : tensor<4xf32>\n")
                .find("sem must be 0 (relaxed), 1 (acquire), 2 (release) or 3 (acq_rel), found 7"),
            std::string::npos);
}

TEST(AtomicIr, VerifierRejectsScopeOutOfRange) {
  EXPECT_NE(verify_message("  %0 = atomic_add %arg0, %arg1 {sem = 0, scope = 3} : tensor<4xf32>\n")
                .find("scope must be 0 (cta), 1 (gpu) or 2 (sys), found 3"),
            std::string::npos);
}

TEST(AtomicIr, VerifierRejectsValueOfAnotherType) {
  EXPECT_NE(verify_message("  %0 = atomic_add %arg0, %arg4 {sem = 0, scope = 1} : tensor<4xf32>\n")
                .find("operand 1 must have the result's type tensor<4xf32>, found tensor<4xi32>"),
            std::string::npos);
}

TEST(AtomicIr, VerifierRejectsMaskThatIsNotBoolean) {
  EXPECT_NE(
      verify_message("  %0 = atomic_add %arg3, %arg4, %arg4 {sem = 0, scope = 1} : tensor<4xi32>\n")
          .find("mask must be i1 of the pointer's shape"),
      std::string::npos);
}

TEST(AtomicIr, VerifierRejectsResultOfAnotherType) {
  EXPECT_NE(verify_message("  %0 = atomic_xchg %arg3, %arg4 {sem = 0, scope = 1} : tensor<4xf32>\n")
                .find("result must be the pointee type i32 in the pointer's shape"),
            std::string::npos);
}

// ---- DSL diagnostics
// -----------------------------------------------------------------------------

TEST(AtomicDslErrors, BitwiseAtomicOnFloatPointer) {
  auto k = tl::kernel("bad_atomic_or", [](tl::Ptr p) {
    g_line = __LINE__ + 1;
    tl::atomic_or(p + tl::arange(0, 16), 1);
  });
  expect_error([&] { k.ir_for(false, g_f32); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "atomic_or", "applies to i32, i64, u32 or u64 elements",
                     "the pointer's elements are f32", "pass a pointer to one of those types"};
               });
}

TEST(AtomicDslErrors, MaxOnF16Pointer) {
  auto k = tl::kernel("bad_atomic_max", [](tl::Ptr p) {
    g_line = __LINE__ + 1;
    tl::atomic_max(p + tl::arange(0, 16), 1.0);
  });
  expect_error([&] { k.ir_for(false, g_f16); },
               [] {
                 return std::vector<std::string>{here(g_line), "atomic_max",
                                                 "applies to i32, i64, u32, u64, f32 or f64",
                                                 "the pointer's elements are f16"};
               });
}

TEST(AtomicDslErrors, AtomicOnANumberNotAPointer) {
  auto k = tl::kernel("bad_atomic_target", [](tl::Ptr p) {
    g_line = __LINE__ + 1;
    tl::atomic_add(tl::arange(0, 16), 1);
    (void)p;
  });
  expect_error([&] { k.ir_for(false, g_i32); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "atomic_add",
                     "the first operand must be a pointer or a tile of pointers", "i32[16]"};
               });
}

TEST(AtomicDslErrors, ValueThatTheElementTypeCannotHold) {
  auto k = tl::kernel("bad_atomic_value", [](tl::Ptr p) {
    g_line = __LINE__ + 1;
    tl::atomic_add(p + tl::arange(0, 16), 2.5);
  });
  expect_error([&] { k.ir_for(false, g_i32); },
               [] {
                 return std::vector<std::string>{here(g_line), "atomic_add",
                                                 "the value 2.5 is not a i32",
                                                 "pass a value of i32"};
               });
}

TEST(AtomicDslErrors, MaskThatIsNotBoolean) {
  auto k = tl::kernel("bad_atomic_mask", [](tl::Ptr p) {
    auto offs = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    tl::atomic_add(p + offs, 1, offs);
  });
  expect_error([&] { k.ir_for(false, g_i32); },
               [] {
                 return std::vector<std::string>{here(g_line), "atomic_add",
                                                 "the mask must be a boolean (i1) tile",
                                                 "offs < n"};
               });
}

TEST(AtomicDslErrors, ValueOfAnIncompatibleShape) {
  auto k = tl::kernel("bad_atomic_shape", [](tl::Ptr p) {
    g_line = __LINE__ + 1;
    tl::atomic_xchg(p + tl::arange(0, 16), tl::arange(0, 32));
  });
  expect_error([&] { k.ir_for(false, g_i32); },
               [] {
                 return std::vector<std::string>{here(g_line), "atomic_xchg",
                                                 "cannot broadcast shapes [16] and [32]"};
               });
}

TEST(AtomicDslErrors, PointerValue) {
  auto k = tl::kernel("bad_atomic_pointer_value", [](tl::Ptr p) {
    auto offs = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    tl::atomic_xchg(p + offs, p + offs);
  });
  expect_error([&] { k.ir_for(false, g_i32); },
               [] {
                 return std::vector<std::string>{here(g_line), "atomic_xchg",
                                                 "the value must be a number or a tile of numbers"};
               });
}

} // namespace
