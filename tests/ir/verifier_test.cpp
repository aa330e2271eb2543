// One test per verifier rule: IR that breaks the rule fails verification with a message that names
// the op, the rule and the types, and carries the op's location. Most cases are IR text (parsed,
// then verified); IR that the parser itself rejects (a value used outside its region, a use before
// the definition) is built with the Builder.
#include "tessel/ir/builder.h"
#include "tessel/ir/parser.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/verifier.h"

#include <gtest/gtest.h>

namespace tessel::ir {
namespace {

// A kernel with arguments of the common kinds around `body`; `ret` ends it.
std::string kernel(const std::string& body, const std::string& ret = "  return\n") {
  return "kernel @k(%arg0: i32, %arg1: f32, %arg2: tensor<4xf32>, %arg3: tensor<4xi32>, "
         "%arg4: ptr<f32>, %arg5: tensor<4xptr<f32>>, %arg6: tensor<4xi1>, %arg7: i1, "
         "%arg8: tensor<4x8xf32>, %arg9: tensor<8x4xf16>) {\n" +
         body + ret + "}\n";
}

// The verifier's message for `text` ("" when it verifies).
std::string verify_message(const std::string& text) {
  auto m = parse_module(text, "v.tir");
  auto e = verify(*m);
  return e ? e->message : "";
}

#define EXPECT_VERIFY_ERROR(text, expected)                                                        \
  do {                                                                                             \
    std::string message_ = verify_message(text);                                                   \
    EXPECT_NE(message_.find(expected), std::string::npos)                                          \
        << "message: " << message_ << "\nexpected to contain: " << (expected);                     \
  } while (0)

TEST(Verifier, WellFormedKernelsVerify) {
  EXPECT_EQ(verify_message(kernel("  %0 = add %arg2, %arg2 : tensor<4xf32>\n")), "");
}

TEST(Verifier, MessageNamesTheOpTheRuleAndTheTypes) {
  EXPECT_EQ(verify_message(kernel("  %0 = add %arg2, %arg1 : tensor<4xf32>\n")),
            "'add' operands and result must have one type, found (tensor<4xf32>, f32) -> "
            "tensor<4xf32>\n  in: %0 = add %<undefined>, %<undefined> : tensor<4xf32>");
}

TEST(Verifier, ErrorCarriesTheOpLocation) {
  auto m = parse_module(kernel("  %0 = neg %arg3 : tensor<4xf32> loc(\"user.cpp\":12:5)\n"));
  auto e = verify(*m);
  ASSERT_TRUE(e.has_value());
  EXPECT_STREQ(e->loc.file, "user.cpp");
  EXPECT_EQ(e->loc.line, 12u);
  try {
    verify_or_throw(*m, "after pass cse");
    FAIL() << "verify_or_throw did not throw";
  } catch (const Error& err) {
    EXPECT_EQ(std::string(err.what()).rfind("after pass cse: user.cpp:12:5: invalid IR: 'neg' ", 0),
              0u)
        << err.what();
  }
}

// ---- structure: terminators and scoping ---------------------------------------------------------

TEST(Verifier, KernelMustEndInReturn) {
  EXPECT_EQ(verify_message("kernel @k() {\n}\n"), "kernel body is empty; it must end in 'return'");
  EXPECT_VERIFY_ERROR(kernel("  %0 = add %arg0, %arg0 : i32\n", ""),
                      "'add' ends a kernel body, which must end in 'return'");
}

TEST(Verifier, TerminatorOnlyAtTheEnd) {
  EXPECT_VERIFY_ERROR(kernel("  return\n"), "'return' is a terminator and must be the last op");
}

TEST(Verifier, RegionMustEndInItsTerminator) {
  EXPECT_VERIFY_ERROR(
      kernel("  if %arg7 {\n    %0 = add %arg0, %arg0 : i32\n  } {\n    yield\n  }\n"),
      "'add' ends region 0 of 'if', which must end in 'yield'");
  EXPECT_VERIFY_ERROR(kernel("  if %arg7 {\n    return\n  } {\n    yield\n  }\n"),
                      "'return' ends region 0 of 'if', which must end in 'yield'");
  EXPECT_VERIFY_ERROR(kernel("  while {\n    yield\n  } {\n    yield\n  }\n"),
                      "'yield' ends region 0 of 'while', which must end in 'condition'");
}

TEST(Verifier, EmptyRegion) {
  EXPECT_VERIFY_ERROR(kernel("  if %arg7 {\n  } {\n    yield\n  }\n"),
                      "'if' region 0 is empty; it must end in 'yield'");
}

TEST(Verifier, ValueUsedOutsideItsDefiningRegion) {
  auto m = parse_module(kernel("  %0 = if %arg7 : i32 {\n    %1 = add %arg0, %arg0 : i32\n"
                               "    yield %1\n  } {\n    yield %arg0\n  }\n"
                               "  %2 = neg %0 : i32\n"));
  ASSERT_FALSE(verify(*m).has_value());
  // Make `neg` use %1, which lives inside the `if`'s first region.
  Block& body = m->functions[0]->body;
  Op& if_op = *body.ops().front();
  Op& neg = **std::next(body.ops().begin());
  neg.set_operand(0, if_op.region(0).ops().front()->result());
  auto e = verify(*m);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(
      e->message.rfind("'neg' operand #0 (i32) is used outside the region that defines it", 0), 0u)
      << e->message;
}

TEST(Verifier, ValueOfASiblingRegion) {
  auto m =
      parse_module(kernel("  %0 = if %arg7 : i32 {\n    %1 = add %arg0, %arg0 : i32\n"
                          "    yield %1\n  } {\n    %2 = neg %arg0 : i32\n    yield %2\n  }\n"));
  Op& if_op = *m->functions[0]->body.ops().front();
  Op& neg = *if_op.region(1).ops().front();
  neg.set_operand(0, if_op.region(0).ops().front()->result());
  auto e = verify(*m);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->message.find("'neg' operand #0 (i32) is used outside the region that defines it"),
            std::string::npos);
}

TEST(Verifier, UseBeforeDefinition) {
  auto m = parse_module(kernel("  %0 = add %arg0, %arg0 : i32\n  %1 = neg %arg0 : i32\n"));
  Block& body = m->functions[0]->body;
  Op& add = *body.ops().front();
  add.set_operand(1, (*std::next(body.ops().begin()))->result());
  auto e = verify(*m);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->message.find("'add' operand #1 (i32) is used before it is defined"),
            std::string::npos);
}

TEST(Verifier, OwnResultInsideItsRegion) {
  auto m = parse_module(
      kernel("  %0 = if %arg7 : i32 {\n    yield %arg0\n  } {\n    yield %arg0\n  }\n"));
  Op& if_op = *m->functions[0]->body.ops().front();
  if_op.region(0).ops().front()->set_operand(0, if_op.result());
  EXPECT_NE(verify(*m)->message.find("'yield' operand #0 (i32) is used before it is defined"),
            std::string::npos);
}

TEST(Verifier, AttributeKind) {
  auto m = parse_module(kernel("  %0 = constant {value = 1} : i32\n"));
  m->functions[0]->body.ops().front()->attrs()[0] = Attr::of_float(1.0);
  EXPECT_NE(verify(*m)->message.find("attribute 'value' must be an integer, found a float"),
            std::string::npos);
}

// ---- values out of nothing ----------------------------------------------------------------------

TEST(Verifier, ConstantOfPointerType) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = constant {value = 0} : ptr<f32>\n"),
                      "'constant' result must be a number or a tensor of numbers, found ptr<f32>");
}

TEST(Verifier, GridQueryAxis) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = program_id {axis = 3} : i32\n"),
                      "'program_id' axis must be 0, 1 or 2, found 3");
  EXPECT_VERIFY_ERROR(kernel("  %0 = num_programs {axis = 0} : i64\n"),
                      "'num_programs' result must be i32, found i64");
}

TEST(Verifier, ArangeRange) {
  EXPECT_VERIFY_ERROR(
      kernel("  %0 = arange {start = 0, end = 12} : tensor<16xi32>\n"),
      "'arange' end - start must be a positive power of two, found start = 0, end = 12");
  EXPECT_VERIFY_ERROR(kernel("  %0 = arange {start = 4, end = 4} : tensor<1xi32>\n"),
                      "end - start must be a positive power of two");
  EXPECT_VERIFY_ERROR(kernel("  %0 = arange {start = 0, end = 16} : tensor<8xi32>\n"),
                      "'arange' result must be tensor<16xi32>, found tensor<8xi32>");
}

// ---- shapes
// ---------------------------------------------------------------------------------------

TEST(Verifier, Splat) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = splat %arg2 : tensor<4xf32>\n"),
                      "'splat' operand must be a scalar or pointer, found tensor<4xf32>");
  EXPECT_VERIFY_ERROR(kernel("  %0 = splat %arg0 : tensor<4xf32>\n"),
                      "'splat' result must be a tensor of i32, found tensor<4xf32>");
}

TEST(Verifier, Broadcast) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = broadcast %arg8 : tensor<8x8xf32>\n"),
                      "'broadcast' result must have the operand's rank and element, each dim equal "
                      "or broadcast from 1, found tensor<4x8xf32> -> tensor<8x8xf32>");
}

TEST(Verifier, Reshape) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = reshape %arg8 : tensor<16xf32>\n"),
                      "'reshape' result must have the operand's element type and element count, "
                      "found tensor<4x8xf32> -> tensor<16xf32>");
}

TEST(Verifier, ExpandDims) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = expand_dims %arg2 {axis = 2} : tensor<4x1xf32>\n"),
                      "'expand_dims' axis 2 must be in 0..1 for tensor<4xf32>");
  EXPECT_VERIFY_ERROR(kernel("  %0 = expand_dims %arg2 {axis = 0} : tensor<4x1xf32>\n"),
                      "'expand_dims' result must have shape [1, 4], found");
}

TEST(Verifier, Permute) {
  EXPECT_VERIFY_ERROR(
      kernel("  %0 = permute %arg8 {order = [0, 0]} : tensor<4x8xf32>\n"),
      "'permute' order [0, 0] must be a permutation of the 2 axes of tensor<4x8xf32>");
  EXPECT_VERIFY_ERROR(kernel("  %0 = permute %arg8 {order = [1, 0]} : tensor<4x8xf32>\n"),
                      "'permute' result must have shape [8, 4]");
}

// ---- elementwise
// ----------------------------------------------------------------------------------

TEST(Verifier, ElementwiseOperandsShareOneType) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = sub %arg0, %arg1 : i32\n"),
                      "'sub' operands and result must have one type, found (i32, f32) -> i32");
  EXPECT_VERIFY_ERROR(kernel("  %0 = add %arg5, %arg5 : tensor<4xptr<f32>>\n"),
                      "'add' does not apply to pointers");
}

TEST(Verifier, IntegerOnlyOps) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = and %arg1, %arg1 : f32\n"),
                      "'and' operands must be integers, found f32");
}

TEST(Verifier, FloatOnlyOps) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = exp %arg3 : tensor<4xi32>\n"),
                      "'exp' operands must be floats, found tensor<4xi32>");
}

TEST(Verifier, Compare) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = cmp_lt %arg2, %arg2 : tensor<4xf32>\n"),
                      "'cmp_lt' result must be i1 of the operands' shape, found (tensor<4xf32>, "
                      "tensor<4xf32>) -> tensor<4xf32>");
  EXPECT_VERIFY_ERROR(kernel("  %0 = cmp_eq %arg2, %arg3 : tensor<4xi1>\n"),
                      "'cmp_eq' operands must have one type");
}

TEST(Verifier, Select) {
  EXPECT_VERIFY_ERROR(
      kernel("  %0 = select %arg7, %arg2, %arg2 : tensor<4xf32>\n"),
      "'select' condition must be i1 of the result's shape, found i1 for tensor<4xf32>");
  EXPECT_VERIFY_ERROR(kernel("  %0 = select %arg6, %arg2, %arg3 : tensor<4xf32>\n"),
                      "'select' both values must have the result's type");
}

TEST(Verifier, Cast) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = cast %arg2 : f32\n"),
                      "'cast' result must have the operand's shape, found tensor<4xf32> -> f32");
  EXPECT_VERIFY_ERROR(kernel("  %0 = cast %arg5 : tensor<4xi64>\n"), "'cast' casts numbers only");
}

TEST(Verifier, AddPtr) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = addptr %arg3, %arg3 : tensor<4xi32>\n"),
                      "'addptr' first operand must be a pointer or tensor of pointers");
  EXPECT_VERIFY_ERROR(kernel("  %0 = addptr %arg5, %arg2 : tensor<4xptr<f32>>\n"),
                      "'addptr' offset must be an integer of the pointer's shape, found "
                      "(tensor<4xptr<f32>>, tensor<4xf32>)");
  EXPECT_VERIFY_ERROR(kernel("  %0 = addptr %arg4, %arg0 : ptr<f16>\n"),
                      "'addptr' result must have the pointer's type ptr<f32>, found ptr<f16>");
}

// ---- memory
// ---------------------------------------------------------------------------------------

TEST(Verifier, Load) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = load : f32\n"), "'load' takes a pointer, an optional mask and "
                                                     "an optional other value, found 0 operands");
  EXPECT_VERIFY_ERROR(
      kernel("  %0 = load %arg5, %arg7 : tensor<4xf32>\n"),
      "'load' mask must be i1 of the pointer's shape, found i1 for tensor<4xptr<f32>>");
  EXPECT_VERIFY_ERROR(kernel("  %0 = load %arg5 : tensor<4xi32>\n"),
                      "'load' result must be the pointee type f32 in the pointer's shape");
  EXPECT_VERIFY_ERROR(kernel("  %0 = load %arg5, %arg6, %arg1 : tensor<4xf32>\n"),
                      "'load' other value must have the result's type tensor<4xf32>, found f32");
}

TEST(Verifier, Store) {
  EXPECT_VERIFY_ERROR(kernel("  store %arg5\n"),
                      "'store' takes a pointer, a value and an optional mask, found 1 operands");
  EXPECT_VERIFY_ERROR(kernel("  store %arg5, %arg3\n"),
                      "'store' value must be the pointee type f32 in the pointer's shape, found "
                      "tensor<4xi32> for tensor<4xptr<f32>>");
  EXPECT_VERIFY_ERROR(kernel("  store %arg5, %arg2, %arg3\n"), "'store' mask must be i1");
}

// ---- reductions, scans, dot
// -------------------------------------------------------------------------

TEST(Verifier, ReduceRemovesTheAxis) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = reduce_sum %arg8 {axis = 2} : f32\n"),
                      "'reduce_sum' axis 2 is not an axis of tensor<4x8xf32>");
  EXPECT_VERIFY_ERROR(kernel("  %0 = reduce_max %arg8 {axis = 1} : tensor<8xf32>\n"),
                      "'reduce_max' result must have shape [4] and element f32 (axis 1 of "
                      "tensor<4x8xf32> removed), found tensor<8xf32>");
}

TEST(Verifier, ArgReduceGivesI32) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = reduce_argmax %arg2 {axis = 0} : f32\n"),
                      "'reduce_argmax' result must be i32 indices, found f32");
}

TEST(Verifier, CustomReduceRegion) {
  EXPECT_VERIFY_ERROR(
      kernel("  %0 = reduce %arg2 {axis = 0} : f32 {\n  ^(%1: f32):\n    yield %1\n  }\n"),
      "'reduce' combine region must take two f32 arguments, found (f32)");
  EXPECT_VERIFY_ERROR(
      kernel("  %0 = reduce %arg2 {axis = 0} : f32 {\n  ^(%1: f32, %2: f32):\n"
             "    yield %1, %2\n  }\n"),
      "'reduce' combine region must yield one f32: expected (f32), found (f32, f32)");
}

TEST(Verifier, ScanKeepsTheShape) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = scan_sum %arg8 {axis = 0} : tensor<8xf32>\n"),
                      "'scan_sum' result must have the operand's numeric type");
  EXPECT_VERIFY_ERROR(kernel("  %0 = scan_sum %arg8 {axis = 5} : tensor<4x8xf32>\n"),
                      "'scan_sum' axis 5 is not an axis");
}

TEST(Verifier, Dot) {
  EXPECT_VERIFY_ERROR(kernel("  %0 = dot %arg8, %arg8, %arg8 : tensor<4x8xf32>\n"),
                      "'dot' shapes must be MxK, KxN, MxN");
  EXPECT_VERIFY_ERROR(kernel("  %0 = constant {value = 0.0} : tensor<4x4xf32>\n"
                             "  %1 = cast %arg9 : tensor<8x4xf32>\n"
                             "  %2 = dot %arg8, %1, %0 : tensor<4x4xf16>\n"),
                      "'dot' result must have the accumulator's type");
  EXPECT_VERIFY_ERROR(kernel("  %0 = constant {value = 0.0} : tensor<4x4xf32>\n"
                             "  %1 = dot %arg8, %arg9, %0 : tensor<4x4xf32>\n"),
                      "'dot' a and b must have one numeric element type");
  EXPECT_VERIFY_ERROR(
      kernel("  %0 = constant {value = 0} : tensor<4x4xi64>\n"
             "  %1 = cast %arg8 : tensor<4x8xi8>\n  %2 = cast %arg9 : tensor<8x4xi8>\n"
             "  %3 = dot %1, %2, %0 : tensor<4x4xi64>\n"),
      "'dot' accumulator must be i32");
  EXPECT_VERIFY_ERROR(kernel("  %0 = constant {value = 0.0} : tensor<4x4xf64>\n"
                             "  %1 = cast %arg8 : tensor<4x8xf16>\n"
                             "  %2 = dot %1, %arg9, %0 : tensor<4x4xf64>\n"),
                      "'dot' accumulator must be f32 or f16");
}

// fp8 is the one family whose a and b may differ (mma.sync's .e4m3.e5m2); its sum is f32 only.
TEST(Verifier, DotOfFp8) {
  const std::string operands = "  %0 = cast %arg8 : tensor<4x8xf8e4m3>\n"
                               "  %1 = cast %arg9 : tensor<8x4xf8e5m2>\n";
  EXPECT_EQ(verify_message(kernel(operands + "  %2 = constant {value = 0.0} : tensor<4x4xf32>\n"
                                             "  %3 = dot %0, %1, %2 : tensor<4x4xf32>\n")),
            "");
  EXPECT_VERIFY_ERROR(kernel(operands + "  %2 = constant {value = 0.0} : tensor<4x4xf16>\n"
                                        "  %3 = dot %0, %1, %2 : tensor<4x4xf16>\n"),
                      "'dot' accumulator must be f32, found");
  EXPECT_VERIFY_ERROR(kernel("  %0 = cast %arg8 : tensor<4x8xf8e4m3>\n"
                             "  %1 = constant {value = 0.0} : tensor<4x4xf32>\n"
                             "  %2 = dot %0, %arg9, %1 : tensor<4x4xf32>\n"),
                      "'dot' a and b must have one numeric element type (or be two fp8 types)");
}

// ---- control flow
// -----------------------------------------------------------------------------------

TEST(Verifier, ForBounds) {
  EXPECT_VERIFY_ERROR(kernel("  for %arg0, %arg0 {\n  ^(%0: i32):\n    yield\n  }\n"),
                      "'for' takes lo, hi, step and initial values, found 2 operands");
  EXPECT_VERIFY_ERROR(
      kernel("  for %arg0, %arg0, %arg1 {\n  ^(%0: i32):\n    yield\n  }\n"),
      "'for' lo, hi and step must be scalars of one integer type, found (i32, i32, f32)");
}

TEST(Verifier, ForCarriedValues) {
  EXPECT_VERIFY_ERROR(
      kernel("  %0 = for %arg0, %arg0, %arg0, %arg1 : i32 {\n  ^(%1: i32, %2: f32):\n"
             "    yield %2\n  }\n"),
      "'for' results must have the initial values' types: expected (f32), found (i32)");
  EXPECT_VERIFY_ERROR(
      kernel("  %0 = for %arg0, %arg0, %arg0, %arg1 : f32 {\n  ^(%1: f32, %2: f32):\n"
             "    yield %2\n  }\n"),
      "'for' body arguments must be the induction variable and the carried values: "
      "expected (i32, f32), found (f32, f32)");
  EXPECT_VERIFY_ERROR(
      kernel("  %0 = for %arg0, %arg0, %arg0, %arg1 : f32 {\n  ^(%1: i32, %2: f32):\n"
             "    yield %1\n  }\n"),
      "'for' body must yield the carried values: expected (f32), found (i32)");
}

TEST(Verifier, IfCondition) {
  EXPECT_VERIFY_ERROR(kernel("  if %arg6 {\n    yield\n  } {\n    yield\n  }\n"),
                      "'if' condition must be a scalar i1, found tensor<4xi1>");
  EXPECT_VERIFY_ERROR(kernel("  if %arg7, %arg7 {\n    yield\n  } {\n    yield\n  }\n"),
                      "'if' takes one condition, found 2 operands");
}

TEST(Verifier, IfRegionsYieldTheResults) {
  EXPECT_VERIFY_ERROR(
      kernel("  %0 = if %arg7 : i32 {\n    yield %arg0\n  } {\n    yield %arg1\n  }\n"),
      "'if' region 1 must yield the results' types: expected (i32), found (f32)");
}

TEST(Verifier, While) {
  const char* cond_ok = "    %2 = cmp_lt %1, %arg0 : i1\n    condition %2, %1\n";
  EXPECT_VERIFY_ERROR(kernel("  %0 = while %arg0 : i32 {\n  ^(%1: f32):\n"
                             "    %2 = cmp_lt %arg0, %arg0 : i1\n    condition %2, %arg0\n"
                             "  } {\n  ^(%3: i32):\n    yield %3\n  }\n"),
                      "'while' region 0 arguments must have the initial values' types: expected "
                      "(i32), found (f32)");
  EXPECT_VERIFY_ERROR(kernel("  %0 = while %arg0 : i32 {\n  ^(%1: i32):\n    condition %1, %1\n"
                             "  } {\n  ^(%3: i32):\n    yield %3\n  }\n"),
                      "'condition' first operand must be a scalar i1, found (i32, i32)");
  EXPECT_VERIFY_ERROR(kernel(std::string("  %0 = while %arg0 : f32 {\n  ^(%1: i32):\n") + cond_ok +
                             "  } {\n  ^(%3: f32):\n    yield %3\n  }\n"),
                      "'while' 'condition' must pass values of the results' types: expected (f32), "
                      "found (i32)");
  EXPECT_VERIFY_ERROR(kernel(std::string("  %0 = while %arg0 : i32 {\n  ^(%1: i32):\n") + cond_ok +
                             "  } {\n  ^(%3: f32):\n    yield %3\n  }\n"),
                      "'while' region 1 arguments must have the results' types");
  EXPECT_VERIFY_ERROR(kernel(std::string("  %0 = while %arg0 : i32 {\n  ^(%1: i32):\n") + cond_ok +
                             "  } {\n  ^(%3: i32):\n    yield %arg1\n  }\n"),
                      "'while' region 1 must yield values of the initial values' types: expected "
                      "(i32), found (f32)");
}

} // namespace
} // namespace tessel::ir
