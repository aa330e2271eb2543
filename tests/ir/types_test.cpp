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

// The unsigned and fp8 scalars: their names, widths and kinds, and the parser reads them back.
TEST(Types, UnsignedAndFp8Scalars) {
  Context ctx;
  struct Case {
    ScalarKind k;
    const char* name;
    unsigned bits;
    bool is_float, is_unsigned;
  } cases[] = {{ScalarKind::U8, "u8", 8, false, true},
               {ScalarKind::U16, "u16", 16, false, true},
               {ScalarKind::U32, "u32", 32, false, true},
               {ScalarKind::U64, "u64", 64, false, true},
               {ScalarKind::F8E4M3, "f8e4m3", 8, true, false},
               {ScalarKind::F8E5M2, "f8e5m2", 8, true, false}};
  for (const Case& c : cases) {
    const Type* t = ctx.scalar(c.k);
    EXPECT_EQ(t->str(), c.name);
    EXPECT_EQ(t->element_bits(), c.bits) << c.name;
    EXPECT_EQ(t->is_float(), c.is_float) << c.name;
    EXPECT_EQ(t->is_integer(), !c.is_float) << c.name;
    EXPECT_EQ(t->is_unsigned(), c.is_unsigned) << c.name;
    EXPECT_EQ(t->is_fp8(), c.is_float) << c.name;
  }
  auto m = parse_module(
      "kernel @k(%arg0: tensor<4xu32>, %arg1: ptr<f8e4m3>, %arg2: f8e5m2, %arg3: u64) {\n"
      "  return\n}\n");
  const Block& body = m->functions[0]->body;
  EXPECT_EQ(body.arg(0)->type(), m->ctx.tensor({4}, m->ctx.scalar(ScalarKind::U32)));
  EXPECT_EQ(body.arg(1)->type(), m->ctx.pointer(m->ctx.scalar(ScalarKind::F8E4M3)));
  EXPECT_EQ(body.arg(2)->type(), m->ctx.scalar(ScalarKind::F8E5M2));
  EXPECT_EQ(body.arg(3)->type(), m->ctx.scalar(ScalarKind::U64));
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
