// Layouts in tensor types (ir/types.h): uniquing, the text form (printed, parsed back), and one
// test per parse and verify diagnostic of a layout or a convert_layout.
#include "tessel/ir/parser.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/types.h"
#include "tessel/ir/verifier.h"

#include <gtest/gtest.h>

namespace tessel::ir {
namespace {

LayoutAttr::Bases bases_1d() {
  LayoutAttr::Bases b;
  b[0] = {{1}, {2}};
  b[1] = {{4}, {8}, {16}, {32}, {64}};
  b[2] = {{0}};
  return b;
}

TEST(LayoutAttr, UniquedByKindAndBases) {
  Context ctx;
  const LayoutAttr* a = ctx.layout(LayoutKind::Blocked, bases_1d());
  EXPECT_EQ(a, ctx.layout(LayoutKind::Blocked, bases_1d()));
  EXPECT_NE(a, ctx.layout(LayoutKind::Linear, bases_1d()));
  LayoutAttr::Bases other = bases_1d();
  other[2] = {{0}, {0}};
  EXPECT_NE(a, ctx.layout(LayoutKind::Blocked, other));
}

TEST(LayoutAttr, TensorTypesAreUniquedWithTheirLayout) {
  Context ctx;
  const LayoutAttr* a = ctx.layout(LayoutKind::Blocked, bases_1d());
  const Type* plain = ctx.tensor({128}, ctx.f32());
  const Type* laid = ctx.tensor({128}, ctx.f32(), a);
  EXPECT_NE(plain, laid);
  EXPECT_EQ(laid, ctx.with_layout(plain, a));
  EXPECT_EQ(plain, ctx.with_layout(laid, nullptr));
  EXPECT_EQ(laid->layout(), a);
  // with_element keeps the layout: a comparison's i1 result is in its operands' layout.
  EXPECT_EQ(ctx.with_element(laid, ctx.i1())->layout(), a);
  EXPECT_EQ(ctx.with_layout(ctx.f32(), a), ctx.f32()); // rank 0: no layout
}

TEST(LayoutAttr, PrintsRank1BasesAsIntegers) {
  Context ctx;
  const Type* t = ctx.tensor({128}, ctx.f32(), ctx.layout(LayoutKind::Blocked, bases_1d()));
  EXPECT_EQ(t->str(), "tensor<128xf32, #blocked<register=[1,2], lane=[4,8,16,32,64], warp=[0]>>");
}

TEST(LayoutAttr, PrintsHigherRankBasesAsLists) {
  Context ctx;
  LayoutAttr::Bases b;
  b[1] = {{0, 1}, {1, 0}};
  b[3] = {{2, 0}};
  const Type* t = ctx.tensor({4, 2}, ctx.i1(), ctx.layout(LayoutKind::Slice, b));
  EXPECT_EQ(t->str(), "tensor<4x2xi1, #slice<lane=[[0,1],[1,0]], block=[[2,0]]>>");
}

TEST(LayoutAttr, ParsedLayoutsAreTheContextsLayouts) {
  auto m = parse_module(
      "kernel @k() {\n"
      "  %0 = arange {start = 0, end = 128} : tensor<128xi32, #blocked<register=[1,2], "
      "lane=[4,8,16,32,64], warp=[0]>>\n"
      "  return\n}\n");
  const Type* t = m->functions[0]->body.ops().front()->result()->type();
  EXPECT_EQ(t->layout(), m->ctx.layout(LayoutKind::Blocked, bases_1d()));
  EXPECT_EQ(t, m->ctx.tensor({128}, m->ctx.i32(), t->layout()));
}

// The message of the error that parsing `text` throws ("" when it does not throw).
std::string parse_error(const std::string& type) {
  try {
    parse_module("kernel @k() {\n  %0 = arange {start = 0, end = 4} : " + type + "\n  return\n}\n",
                 "bad.tir");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(LayoutParseError, UnknownKind) {
  EXPECT_EQ(
      parse_error("tensor<4xi32, #striped<lane=[1]>>"),
      "bad.tir:2:53: expected a layout kind (blocked, slice, shared, linear, mma or dot_op), found "
      "'striped'");
}

TEST(LayoutParseError, UnknownInputDim) {
  EXPECT_EQ(parse_error("tensor<4xi32, #blocked<thread=[1]>>"),
            "bad.tir:2:61: expected a layout input dim (register, lane, warp or block), found "
            "'thread'");
}

TEST(LayoutParseError, InputDimsOutOfOrder) {
  EXPECT_EQ(parse_error("tensor<4xi32, #blocked<lane=[1], register=[2]>>"),
            "bad.tir:2:71: expected the layout input dims in the order register, lane, warp, "
            "block, each at most once");
}

TEST(LayoutParseError, MissingBasisList) {
  EXPECT_EQ(parse_error("tensor<4xi32, #blocked<lane=1>>"),
            "bad.tir:2:66: expected '[', found '1'");
}

TEST(LayoutParseError, CoordinateOutOfRange) {
  EXPECT_EQ(parse_error("tensor<4xi32, #blocked<lane=[1,-2]>>"),
            "bad.tir:2:69: expected a basis coordinate in 0..2^31-1, found -2");
}

std::string verify_message(const std::string& body) {
  auto m = parse_module("kernel @k(%arg0: i32) {\n" + body + "  return\n}\n", "v.tir");
  auto e = verify(*m);
  return e ? e->message : "";
}

const char* const kL4 = "#blocked<lane=[1,2]>";
const char* const kR4 = "#blocked<register=[1,2]>";

TEST(LayoutVerify, LaidOutKernelWithConvertVerifies) {
  EXPECT_EQ(verify_message(std::string("  %0 = arange {start = 0, end = 4} : tensor<4xi32, ") +
                           kL4 + ">\n  %1 = convert_layout %0 : tensor<4xi32, " + kR4 + ">\n"),
            "");
}

TEST(LayoutVerify, BasisArityMustMatchTheRank) {
  EXPECT_EQ(
      verify_message("  %0 = splat %arg0 : tensor<4x4xi32, #blocked<lane=[[1,0,0]]>>\n"),
      "'splat' has a layout that does not fit tensor<4x4xi32, #blocked<lane=[[1,0,0]]>>: a lane "
      "basis has 3 coordinates for a rank-2 tensor\n  in: %0 = splat %<undefined> : "
      "tensor<4x4xi32, #blocked<lane=[[1,0,0]]>>");
}

TEST(LayoutVerify, BasisCoordinatesMustLieInTheShape) {
  std::string m = verify_message("  %0 = arange {start = 0, end = 4} : tensor<4xi32, "
                                 "#blocked<lane=[1,4]>>\n");
  EXPECT_NE(m.find("a lane basis has coordinate 4 outside dim 0 of size 4"), std::string::npos)
      << m;
}

TEST(LayoutVerify, AKernelDoesNotMixLaidOutAndPlainTensors) {
  std::string m =
      verify_message(std::string("  %0 = arange {start = 0, end = 4} : tensor<4xi32, ") + kL4 +
                     ">\n  %1 = arange {start = 0, end = 4} : tensor<4xi32>\n");
  EXPECT_NE(m.find("'arange' mixes tensors with and without layouts (tensor<4xi32>): once GPU "
                   "lowering starts every tensor carries a layout"),
            std::string::npos)
      << m;
}

TEST(LayoutVerify, ConvertLayoutOnlyAfterGpuLoweringStarts) {
  std::string m = verify_message("  %0 = splat %arg0 : tensor<4xi32>\n"
                                 "  %1 = convert_layout %0 : tensor<4xi32>\n");
  EXPECT_NE(m.find("'convert_layout' may only appear once GPU lowering has started (in a kernel "
                   "whose tensor types carry layouts, from assign-layouts on)"),
            std::string::npos)
      << m;
}

TEST(LayoutVerify, ConvertLayoutKeepsShapeAndElement) {
  std::string m =
      verify_message(std::string("  %0 = arange {start = 0, end = 4} : tensor<4xi32, ") + kL4 +
                     ">\n  %1 = convert_layout %0 : tensor<4xi16, " + kR4 + ">\n");
  EXPECT_NE(m.find("'convert_layout' result must be the operand's tensor type in another layout, "
                   "found tensor<4xi32, #blocked<lane=[1,2]>> -> tensor<4xi16, "
                   "#blocked<register=[1,2]>>"),
            std::string::npos)
      << m;
}

} // namespace
} // namespace tessel::ir
