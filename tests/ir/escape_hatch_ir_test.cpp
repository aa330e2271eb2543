// The escape-hatch ops in the IR (ops.def: inline_asm, inline_asm_volatile, extern_call): string
// attributes round-trip with their escapes, and one verifier rule per test, asserting its message.
#include "tessel/ir/parser.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/verifier.h"

#include <gtest/gtest.h>

namespace tessel::ir {
namespace {

std::string kernel(const std::string& body) {
  return "kernel @k(%arg0: tensor<4xi32>, %arg1: tensor<4xf16>, %arg2: tensor<4xf32>) {\n" + body +
         "  return\n}\n";
}

std::string verify_message(const std::string& text) {
  auto m = parse_module(text, "escape.tir");
  auto e = verify(*m);
  return e ? e->message : "";
}

TEST(EscapeHatchIr, StringAttributesRoundTripWithEscapes) {
  const std::string text = kernel(
      "  %0 = inline_asm %arg0, %arg0 {asm = \"{\\n\\t.reg .b32 t;\\n\\tadd.s32 $0, $1, $2;\\n}\", "
      "constraints = \"=r,r,r\", pack = 1, fallback = 0} : tensor<4xi32>\n"
      "  %1 = inline_asm_volatile %arg1 {asm = \"mov.b32 $0, $1; // \\\"q\\\" \\\\ \\x01\", "
      "constraints = \"=r,r\", pack = 2, fallback = -1} : tensor<4xf16>\n"
      "  %2 = extern_call %arg2 {source = \"__device__ float f(float x) { return x; }\\n\", "
      "name = \"f\", fallback = -1} : tensor<4xf32>\n");
  auto m = parse_module(text, "escape.tir");
  EXPECT_EQ(print(*m), text);
  const Op& first = *m->functions[0]->body.ops().front();
  EXPECT_EQ(first.attr("asm").s, "{\n\t.reg .b32 t;\n\tadd.s32 $0, $1, $2;\n}");
  const Op& second = **std::next(m->functions[0]->body.ops().begin());
  EXPECT_EQ(second.attr("asm").s, "mov.b32 $0, $1; // \"q\" \\ \x01");
  EXPECT_EQ(verify_message(text), "");
}

TEST(EscapeHatchIr, AStringAttributeMustBeAString) {
  try {
    parse_module(kernel("  %0 = extern_call %arg2 {source = 3, name = \"f\", fallback = -1} : "
                        "tensor<4xf32>\n"),
                 "escape.tir");
    ADD_FAILURE() << "expected a parse error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected a string for attribute 'source'"),
              std::string::npos)
        << e.what();
  }
}

TEST(EscapeHatchIr, ConstraintsMustNameEveryOperand) {
  EXPECT_NE(verify_message(kernel("  %0 = inline_asm %arg0 {asm = \"mov.b32 $0, $1;\", constraints "
                                  "= \"=r,r,r\", pack = 1, fallback = -1} : tensor<4xi32>\n"))
                .find("constraints '=r,r,r' name 1 output(s) and 2 input(s); with pack 1 the op "
                      "has 1 and 1"),
            std::string::npos);
}

TEST(EscapeHatchIr, RegisterClassesMustBeAsWideAsTheirOperands) {
  // Two f16 share one 32-bit register with pack 2; "h" is 16 bits.
  EXPECT_NE(verify_message(kernel("  %0 = inline_asm %arg1 {asm = \"mov.b32 $0, $1;\", constraints "
                                  "= \"=h,h\", pack = 2, fallback = -1} : tensor<4xf16>\n"))
                .find("constraint '=h' of operand $0 must name a 32-bit register"),
            std::string::npos);
}

TEST(EscapeHatchIr, PackIsOneTwoOrFour) {
  EXPECT_NE(verify_message(kernel("  %0 = inline_asm %arg0 {asm = \"mov.b32 $0, $1;\", constraints "
                                  "= \"=r,r\", pack = 8, fallback = -1} : tensor<4xi32>\n"))
                .find("pack must be 1, 2 or 4, found 8"),
            std::string::npos);
}

TEST(EscapeHatchIr, ExternFunctionsTakeWideNumbersOnly) {
  EXPECT_NE(verify_message(kernel("  %0 = extern_call %arg1 {source = \"s\", name = \"f\", "
                                  "fallback = -1} : tensor<4xf32>\n"))
                .find("extern functions take i32, u32, i64, u64, f32 or f64, found tensor<4xf16>"),
            std::string::npos);
}

} // namespace
} // namespace tessel::ir
