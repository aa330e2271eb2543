// Type uniquing: equal types are one object (type equality is pointer equality), in the Context
// and through the parser.
#include "tessel/ir/parser.h"
#include "tessel/ir/types.h"

#include <gtest/gtest.h>

namespace tessel::ir {
namespace {

TEST(Types, ScalarsAreUniqued) {
  Context ctx;
  EXPECT_EQ(ctx.scalar(ScalarKind::F32), ctx.f32());
  EXPECT_NE(ctx.scalar(ScalarKind::F16), ctx.scalar(ScalarKind::BF16));
  EXPECT_EQ(ctx.f32()->str(), "f32");
  EXPECT_EQ(ctx.scalar(ScalarKind::BF16)->str(), "bf16");
}

TEST(Types, PointersAreUniquedByPointeeAndAddressSpace) {
  Context ctx;
  const Type* p = ctx.pointer(ctx.f32());
  EXPECT_EQ(p, ctx.pointer(ctx.f32(), 1));
  EXPECT_NE(p, ctx.pointer(ctx.f32(), 3));
  EXPECT_NE(p, ctx.pointer(ctx.i32()));
  EXPECT_EQ(p->str(), "ptr<f32>");
  EXPECT_EQ(ctx.pointer(ctx.f32(), 3)->str(), "ptr<f32, 3>");
}

TEST(Types, TensorsAreUniquedByShapeAndElement) {
  Context ctx;
  const Type* t = ctx.tensor({128, 64}, ctx.f32());
  EXPECT_EQ(t, ctx.tensor({128, 64}, ctx.f32()));
  EXPECT_NE(t, ctx.tensor({64, 128}, ctx.f32()));
  EXPECT_NE(t, ctx.tensor({128, 64}, ctx.i32()));
  EXPECT_EQ(t->str(), "tensor<128x64xf32>");
  EXPECT_EQ(t->num_elements(), 128 * 64);
  EXPECT_EQ(ctx.with_element(t, ctx.i1()), ctx.tensor({128, 64}, ctx.i1()));
  const Type* pt = ctx.tensor({16}, ctx.pointer(ctx.f32()));
  EXPECT_EQ(pt->str(), "tensor<16xptr<f32>>");
  EXPECT_TRUE(pt->is_pointer_like());
  // A tensor of rank 0 is its element.
  EXPECT_EQ(ctx.tensor({}, ctx.f32()), ctx.f32());
}

TEST(Types, ParsedTypesAreTheContextsTypes) {
  auto m = parse_module("kernel @k(%arg0: tensor<4x8xf16>, %arg1: tensor<4x8xf16>, "
                        "%arg2: ptr<bf16, 3>) {\n  return\n}\n");
  const Block& body = m->functions[0]->body;
  EXPECT_EQ(body.arg(0)->type(), body.arg(1)->type());
  EXPECT_EQ(body.arg(0)->type(), m->ctx.tensor({4, 8}, m->ctx.scalar(ScalarKind::F16)));
  EXPECT_EQ(body.arg(2)->type(), m->ctx.pointer(m->ctx.scalar(ScalarKind::BF16), 3));
}

} // namespace
} // namespace tessel::ir
