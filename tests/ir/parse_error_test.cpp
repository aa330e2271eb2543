// One test per parse diagnostic: malformed IR text throws tessel::Error naming the source, the line
// and the column, what was expected and what was found.
#include "tessel/ir/parser.h"

#include <gtest/gtest.h>

namespace tessel::ir {
namespace {

// The message of the error that parsing `text` throws ("" when it does not throw).
std::string parse_error(const std::string& text, std::string_view source = "bad.tir") {
  try {
    parse_module(text, source);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A kernel with one argument %arg0: i32 whose body is `body` (lines start at line 2).
std::string kernel(const std::string& body) {
  return "kernel @k(%arg0: i32, %arg1: f32) {\n" + body + "  return\n}\n";
}

TEST(ParseError, UnknownOp) {
  EXPECT_EQ(parse_error(kernel("  %0 = frobnicate %arg0 : i32\n")),
            "bad.tir:2:8: expected an op name, found 'frobnicate' (no such op)");
}

TEST(ParseError, UndefinedValue) {
  EXPECT_EQ(parse_error(kernel("  %0 = add %arg0, %7 : i32\n")),
            "bad.tir:2:19: expected a defined value, found %7 (undefined)");
}

TEST(ParseError, UseBeforeDefinition) {
  EXPECT_EQ(parse_error(kernel("  %0 = add %1, %arg0 : i32\n  %1 = add %arg0, %arg0 : i32\n")),
            "bad.tir:2:12: expected a defined value, found %1 (undefined)");
}

TEST(ParseError, Redefinition) {
  EXPECT_EQ(parse_error(kernel("  %0 = add %arg0, %arg0 : i32\n  %0 = add %arg0, %arg0 : i32\n")),
            "bad.tir:3:3: expected a new value name, found %0 (already defined at 2:3)");
}

TEST(ParseError, ValueUsedOutsideItsRegion) {
  std::string text = kernel("  if %arg0 {\n"
                            "    %1 = add %arg0, %arg0 : i32\n"
                            "    yield\n"
                            "  } {\n"
                            "    yield\n"
                            "  }\n"
                            "  %2 = add %1, %arg0 : i32\n");
  EXPECT_EQ(parse_error(text),
            "bad.tir:8:12: expected a value visible here, found %1, which is defined at 3:5 inside "
            "a region that does not enclose this use (a value cannot be used outside the region "
            "that defines it)");
}

TEST(ParseError, ValueOfASiblingRegion) {
  std::string text = kernel("  if %arg0 {\n"
                            "    %1 = add %arg0, %arg0 : i32\n"
                            "    yield\n"
                            "  } {\n"
                            "    %2 = add %1, %arg0 : i32\n"
                            "    yield\n"
                            "  }\n");
  EXPECT_NE(parse_error(text).find("bad.tir:6:14: expected a value visible here, found %1"),
            std::string::npos)
      << parse_error(text);
}

TEST(ParseError, OpResultUsedInItsOwnRegion) {
  std::string text = kernel("  %0 = if %arg0 : i32 {\n"
                            "    yield %0\n"
                            "  } {\n"
                            "    yield %arg0\n"
                            "  }\n");
  EXPECT_EQ(parse_error(text), "bad.tir:3:11: expected a defined value, found %0 (undefined)");
}

TEST(ParseError, WrongAttributeName) {
  EXPECT_EQ(parse_error(kernel("  %0 = program_id {axs = 0} : i32\n")),
            "bad.tir:2:20: expected attribute 'axis' of 'program_id', found 'axs'");
}

TEST(ParseError, WrongAttributeKind) {
  EXPECT_EQ(parse_error(kernel("  %0 = program_id {axis = 1.5} : i32\n")),
            "bad.tir:2:27: expected an integer for attribute 'axis' of 'program_id', found 1.5");
  EXPECT_EQ(
      parse_error(kernel("  %0 = permute %arg0 {order = 3} : i32\n")),
      "bad.tir:2:31: expected a list of integers for attribute 'order' of 'permute', found 3");
  // A `num` attribute is an integer when the result is an integer.
  EXPECT_EQ(parse_error(kernel("  %0 = constant {value = 0.5} : i32\n")),
            "bad.tir:2:26: expected an integer for attribute 'value' of 'constant', found 0.5");
}

TEST(ParseError, MissingAttributes) {
  EXPECT_EQ(parse_error(kernel("  %0 = program_id : i32\n")),
            "bad.tir:2:19: expected '{', found ':'");
}

TEST(ParseError, NonPowerOfTwoDimension) {
  EXPECT_EQ(parse_error("kernel @k(%arg0: tensor<4x3xf32>) {\n  return\n}\n"),
            "bad.tir:1:27: expected a power-of-two dimension, found 3");
  EXPECT_EQ(parse_error("kernel @k(%arg0: tensor<0xf32>) {\n  return\n}\n"),
            "bad.tir:1:25: expected a power-of-two dimension, found 0");
}

TEST(ParseError, UnknownType) {
  EXPECT_EQ(parse_error(kernel("  %0 = add %arg0, %arg0 : f31\n")),
            "bad.tir:2:27: expected a type, found 'f31'");
  EXPECT_EQ(parse_error("kernel @k(%arg0: ptr<tensor<4xf32>>) {\n  return\n}\n"),
            "bad.tir:1:22: expected a scalar pointee type, found 'tensor<4xf32>'");
}

TEST(ParseError, WrongOperandCount) {
  EXPECT_EQ(parse_error(kernel("  %0 = add %arg0 : i32\n")),
            "bad.tir:2:8: expected 2 operand(s) for 'add', found 1");
  EXPECT_EQ(parse_error(kernel("  %0 = neg %arg0, %arg0 : i32\n")),
            "bad.tir:2:8: expected 1 operand(s) for 'neg', found 2");
}

TEST(ParseError, WrongResultCount) {
  EXPECT_EQ(parse_error(kernel("  %0, %1 = add %arg0, %arg0 : i32, i32\n")),
            "bad.tir:2:3: expected 1 result(s) for 'add', found 2");
  EXPECT_EQ(parse_error(kernel("  %0, %1 = while %arg0 : i32 {\n")),
            "bad.tir:2:30: expected 2 result types, found '{'");
}

TEST(ParseError, TrailingTextAfterAnOp) {
  EXPECT_EQ(parse_error(kernel("  %0 = add %arg0, %arg0 : i32 extra\n")),
            "bad.tir:2:31: expected the end of the 'add' op, found 'extra'");
}

TEST(ParseError, UnterminatedKernel) {
  EXPECT_EQ(parse_error("kernel @k() {\n  return\n"),
            "bad.tir:3:1: expected '}', found end of input");
}

TEST(ParseError, NotAKernel) {
  EXPECT_EQ(parse_error("func @k() {\n}\n"), "bad.tir:1:1: expected 'kernel', found 'func'");
}

TEST(ParseError, DuplicateKernel) {
  EXPECT_EQ(parse_error("kernel @k() {\n  return\n}\nkernel @k() {\n  return\n}\n"),
            "bad.tir:4:9: expected a new kernel name, found @k (already defined)");
}

TEST(ParseError, BadLocation) {
  EXPECT_EQ(parse_error(kernel("  %0 = add %arg0, %arg0 : i32 loc(\"a.cpp\":x:1)\n")),
            "bad.tir:2:43: expected a line number, found 'x'");
}

TEST(ParseError, SourceNameIsUsed) {
  EXPECT_EQ(parse_error("kernel", "<dsl>"), "<dsl>:1:7: expected '@', found end of input");
}

} // namespace
} // namespace tessel::ir
