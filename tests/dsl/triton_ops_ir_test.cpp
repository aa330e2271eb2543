// The IR of issue 14's last Triton ops: atomic_load, atomic_store, debug_barrier and assume print
// and parse back byte for byte, and the verifier accepts their well-formed forms and rejects the
// rest with a message naming the rule.
#include "tessel/ir/parser.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/verifier.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <string>

namespace tl = tessel::lang;

namespace {

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

float g_f32[64];

const tessel::Kernel& every_op() {
  static const tessel::Kernel k = tl::kernel("triton_ir_ops", [](tl::Ptr p, tl::Int n) {
    auto offs = tl::arange(0, 16);
    tl::assume(n % 16 == 0);
    auto x = tl::atomic_load(p + offs, offs < n);
    tl::debug_barrier();
    tl::atomic_store(p + 16 + offs, x, offs < n, tl::MemSem::relaxed, tl::MemScope::cta);
    tl::atomic_store(p, tl::atomic_load(p + 1, tl::MemSem::relaxed));
  });
  return k;
}

TEST(TritonOpsIr, TracedFormsNameSemanticsAndScope) {
  const std::string ir = every_op().ir_for(false, g_f32, 32);
  EXPECT_TRUE(has(ir, "assume %")) << ir;
  EXPECT_TRUE(has(ir, "debug_barrier")) << ir;
  EXPECT_TRUE(has(ir, "atomic_load %")) << ir;
  EXPECT_TRUE(has(ir, "{sem = 1, scope = 1} : tensor<16xf32>")) << ir; // acquire, gpu
  EXPECT_TRUE(has(ir, "{sem = 0, scope = 0}")) << ir;                  // relaxed, cta store
  EXPECT_TRUE(has(ir, "{sem = 2, scope = 1}")) << ir;                  // release, gpu
}

TEST(TritonOpsIr, KernelRoundTripsAndVerifies) {
  for (bool optimized : {false, true}) {
    const std::string ir = every_op().ir_for(optimized, g_f32, 32);
    auto m = tessel::ir::parse_module(ir, "triton_ops.tir");
    EXPECT_EQ(tessel::ir::print(*m), ir);
    auto e = tessel::ir::verify(*m);
    EXPECT_FALSE(e) << e->message;
  }
}

std::string verify_message(const std::string& body) {
  std::string text = "kernel @k(%arg0: tensor<4xptr<f32>>, %arg1: tensor<4xf32>, "
                     "%arg2: tensor<4xi1>, %arg3: tensor<4xi32>, %arg4: tensor<4xptr<f16>>) {\n" +
                     body + "  return\n}\n";
  auto e = tessel::ir::verify(*tessel::ir::parse_module(text, "v.tir"));
  return e ? e->message : "";
}

TEST(TritonOpsIr, VerifierAcceptsWellFormedForms) {
  EXPECT_EQ(verify_message("  %0 = atomic_load %arg0, %arg2 {sem = 1, scope = 2} : tensor<4xf32>\n"
                           "  atomic_store %arg0, %0, %arg2 {sem = 2, scope = 0}\n"
                           "  atomic_store %arg0, %arg1 {sem = 0, scope = 1}\n"
                           "  debug_barrier\n"
                           "  assume %arg2\n"),
            "");
}

TEST(TritonOpsIr, VerifierRejectsAReleasingAtomicLoad) {
  EXPECT_TRUE(has(verify_message("  %0 = atomic_load %arg0 {sem = 3, scope = 1} : tensor<4xf32>\n"),
                  "sem must be relaxed (0) or acquire (1), found 3"));
}

TEST(TritonOpsIr, VerifierRejectsAnAcquiringAtomicStore) {
  EXPECT_TRUE(has(verify_message("  atomic_store %arg0, %arg1 {sem = 1, scope = 1}\n"),
                  "sem must be relaxed (0) or release (2), found 1"));
}

TEST(TritonOpsIr, VerifierRejectsAnAtomicStoreOfTheWrongType) {
  EXPECT_TRUE(has(verify_message("  atomic_store %arg0, %arg3 {sem = 2, scope = 1}\n"),
                  "value must be the pointee type f32 in the pointer's shape"));
}

TEST(TritonOpsIr, VerifierRejectsAnAtomicLoadOfF16) {
  EXPECT_TRUE(has(verify_message("  %0 = atomic_load %arg4 {sem = 1, scope = 1} : tensor<4xf16>\n"),
                  "applies to i32, i64, u32, u64, f32 or f64 elements"));
}

TEST(TritonOpsIr, VerifierRejectsAnAssumeOfNumbers) {
  EXPECT_TRUE(has(verify_message("  assume %arg3\n"), "condition must be i1, found tensor<4xi32>"));
}

} // namespace
