// Type uniquing: equal types are one object (type equality is pointer equality), in the Context
// and through the parser.
#include "tessel/ir/parser.h"
#include "tessel/ir/types.h"

#include <gtest/gtest.h>

namespace tessel::ir {
namespace {

TEST(Types, ScalarsAreUniqued) {
  Context ctx;
  EXPECT_EQ(ctx.scalar(DType::f32), ctx.f32());
  EXPECT_NE(ctx.scalar(DType::f16), ctx.scalar(DType::bf16));
  EXPECT_EQ(ctx.f32()->str(), "f32");
  EXPECT_EQ(ctx.scalar(DType::bf16)->str(), "bf16");
}

// The unsigned and fp8 scalars: their names, widths and kinds, and the parser reads them back.
TEST(Types, UnsignedAndFp8Scalars) {
  Context ctx;
  struct Case {
    DType k;
    const char* name;
    unsigned bits;
    bool is_float, is_unsigned;
  } cases[] = {
      {DType::u8, "u8", 8, false, true},         {DType::u16, "u16", 16, false, true},
      {DType::u32, "u32", 32, false, true},      {DType::u64, "u64", 64, false, true},
      {DType::f8e4m3, "f8e4m3", 8, true, false}, {DType::f8e5m2, "f8e5m2", 8, true, false}};
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
  EXPECT_EQ(body.arg(0)->type(), m->ctx.tensor({4}, m->ctx.scalar(DType::u32)));
  EXPECT_EQ(body.arg(1)->type(), m->ctx.pointer(m->ctx.scalar(DType::f8e4m3)));
  EXPECT_EQ(body.arg(2)->type(), m->ctx.scalar(DType::f8e5m2));
  EXPECT_EQ(body.arg(3)->type(), m->ctx.scalar(DType::u64));
}

// The IR's scalar types are tessel::DType: every value has one uniqued type that reports it back,
// printed with dtype_name, as wide as dtype_bits, and read back by the parser. The numbers are
// pinned because disk-cache keys and DLPack codes depend on them (a new type goes at the end).
TEST(Types, EveryDTypeIsAnIrScalar) {
  static_assert(int(DType::i1) == 0 && int(DType::i64) == 4 && int(DType::f32) == 7 &&
                    int(DType::f64) == 8 && int(DType::u8) == 9 && int(DType::f8e5m2) == 14 &&
                    kLastDType == DType::f8e5m2,
                "DType values are part of the cache key: append, never renumber");
  Context ctx;
  for (int k = 0; k <= int(kLastDType); ++k) {
    const DType d = DType(k);
    const Type* t = ctx.scalar(d);
    ASSERT_TRUE(t->is_scalar()) << dtype_name(d);
    EXPECT_EQ(t->dtype(), d) << dtype_name(d);
    EXPECT_EQ(t->str(), dtype_name(d));
    EXPECT_EQ(t->element_bits(), dtype_bits(d)) << dtype_name(d);
    EXPECT_EQ(t->is_float(), dtype_is_float(d)) << dtype_name(d);
    EXPECT_EQ(t->is_unsigned(), dtype_is_unsigned(d)) << dtype_name(d);
    auto m = parse_module(std::string("kernel @k(%arg0: ") + dtype_name(d) + ") {\n  return\n}\n");
    EXPECT_EQ(m->functions[0]->body.arg(0)->type(), m->ctx.scalar(d)) << dtype_name(d);
  }
  EXPECT_EQ(dtype_bits(DType::i1), 1u);
  EXPECT_EQ(dtype_bits(DType::bf16), 16u);
  EXPECT_EQ(dtype_bits(DType::u64), 64u);
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
  EXPECT_EQ(body.arg(0)->type(), m->ctx.tensor({4, 8}, m->ctx.scalar(DType::f16)));
  EXPECT_EQ(body.arg(2)->type(), m->ctx.pointer(m->ctx.scalar(DType::bf16), 3));
}

} // namespace
} // namespace tessel::ir
