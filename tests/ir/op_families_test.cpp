// The family traits of ops.def against what reads them: every op has one family (also a
// static_assert in ir.h), OpInfo and the constexpr queries agree, every elementwise op has a rule
// in the scalar semantics (and no other op has one), and the FLOAT_ONLY / INTEGER_ONLY traits are
// what the verifier enforces. Table-driven over every opcode, so a row added to ops.def is covered
// without touching this file.
#include "codegen/scalar_rules.h"
#include "tessel/ir/ir.h"
#include "tessel/ir/parser.h"
#include "tessel/ir/verifier.h"

#include <gtest/gtest.h>

#include <bit>
#include <string>

namespace tessel::ir {
namespace {

Opcode opcode(size_t i) { return static_cast<Opcode>(i); }

TEST(OpFamilies, EveryOpHasExactlyOneFamily) {
  for (size_t i = 0; i < kNumOpcodes; ++i) {
    const OpInfo& info = op_info(opcode(i));
    EXPECT_EQ(std::popcount(info.traits & kFamilyTraits), 1) << info.name;
    EXPECT_EQ(info.traits, kOpTraits[i]) << info.name;
    EXPECT_EQ(info.family(), family_of(opcode(i))) << info.name;
  }
}

TEST(OpFamilies, FamilyQueryMatchesTheTrait) {
  const std::pair<OpTrait, OpFamily> families[] = {
      {SOURCE, OpFamily::Source},           {SHAPE, OpFamily::Shape},
      {ELEMENTWISE, OpFamily::Elementwise}, {MEMORY, OpFamily::Memory},
      {REDUCTION, OpFamily::Reduction},     {SCAN, OpFamily::Scan},
      {CONTRACTION, OpFamily::Contraction}, {CONTROL, OpFamily::Control}};
  for (size_t i = 0; i < kNumOpcodes; ++i)
    for (auto [trait, family] : families)
      EXPECT_EQ(has_trait(opcode(i), trait), family_of(opcode(i)) == family)
          << op_info(opcode(i)).name;
}

TEST(OpFamilies, OperandKindTraitsOnlyOnElementwiseOps) {
  for (size_t i = 0; i < kNumOpcodes; ++i) {
    const OpInfo& info = op_info(opcode(i));
    EXPECT_FALSE(info.has(FLOAT_ONLY) && info.has(INTEGER_ONLY)) << info.name;
    if (info.has(FLOAT_ONLY) || info.has(INTEGER_ONLY) || info.has(COMPARISON)) {
      EXPECT_EQ(info.family(), OpFamily::Elementwise) << info.name;
    }
  }
}

// Adding an elementwise op to ops.def without its scalar semantics fails here.
TEST(OpFamilies, EveryElementwiseOpHasScalarSemantics) {
  for (size_t i = 0; i < kNumOpcodes; ++i) {
    const OpInfo& info = op_info(opcode(i));
    std::optional<codegen::ScalarRule> rule = codegen::scalar_rule(opcode(i));
    EXPECT_EQ(rule.has_value(), info.family() == OpFamily::Elementwise) << info.name;
    if (rule && info.has(COMPARISON)) {
      EXPECT_EQ(*rule, codegen::ScalarRule::Compare) << info.name;
    }
    if (rule == codegen::ScalarRule::Math) {
      EXPECT_TRUE(info.has(FLOAT_ONLY)) << info.name << " calls the math library on floats only";
    }
  }
}

// The verifier's message for op `name` applied to as many %x operands as it takes, all of `type`.
std::string verify_one(const OpInfo& info, const std::string& type) {
  std::string operands;
  for (int k = 0; k < info.num_operands; ++k)
    operands += std::string(k ? ", " : "") + "%x";
  std::string text = "kernel @k(%x: " + type + ") {\n  %0 = " + info.name + " " + operands + " : " +
                     type + "\n  return\n}\n";
  auto e = verify(*parse_module(text, "families.tir"));
  return e ? e->message : "";
}

TEST(OpFamilies, VerifierEnforcesOperandKindTraits) {
  int checked = 0;
  for (size_t i = 0; i < kNumOpcodes; ++i) {
    const OpInfo& info = op_info(opcode(i));
    if (info.has(FLOAT_ONLY)) {
      EXPECT_EQ(verify_one(info, "tensor<4xf32>"), "") << info.name;
      EXPECT_NE(verify_one(info, "tensor<4xi32>").find("operands must be floats"),
                std::string::npos)
          << info.name;
      ++checked;
    }
    if (info.has(INTEGER_ONLY)) {
      EXPECT_EQ(verify_one(info, "tensor<4xi32>"), "") << info.name;
      EXPECT_NE(verify_one(info, "tensor<4xf32>").find("operands must be integers"),
                std::string::npos)
          << info.name;
      ++checked;
    }
  }
  EXPECT_GT(checked, 10); // the table has float-only and integer-only ops
}

} // namespace
} // namespace tessel::ir
