// Constant evaluation (codegen/transforms/fold.h) against values worked out by hand from the
// semantics in ir.h: rounding of f16/bf16, integer wrap-around, C division, casts, NaN rules.
#include "codegen/transforms/fold.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace tessel::codegen {
namespace {

using ir::Attr;
using ir::Opcode;

TEST(Fold, RoundToF16) {
  // f16 has 11 significant bits: between 1 and 2 the spacing is 2^-10.
  EXPECT_EQ(round_to_float_type(1.0 + 0x1p-11, DType::f16), 1.0);              // tie -> even
  EXPECT_EQ(round_to_float_type(1.0 + 3 * 0x1p-11, DType::f16), 1.0 + 0x1p-9); // tie -> even
  EXPECT_EQ(round_to_float_type(2049.0, DType::f16), 2048.0); // spacing 2 above 2048
  EXPECT_EQ(round_to_float_type(2051.0, DType::f16), 2052.0);
  EXPECT_EQ(round_to_float_type(65504.0, DType::f16), 65504.0);      // the largest finite
  EXPECT_EQ(round_to_float_type(65519.0, DType::f16), 65504.0);      // below the midpoint
  EXPECT_TRUE(std::isinf(round_to_float_type(65520.0, DType::f16))); // the midpoint: to inf
  EXPECT_EQ(round_to_float_type(0x1p-24, DType::f16), 0x1p-24);      // smallest subnormal
  EXPECT_EQ(round_to_float_type(0x1p-25, DType::f16), 0.0);          // tie -> even (zero)
  EXPECT_EQ(round_to_float_type(3 * 0x1p-26, DType::f16), 0x1p-24);
  EXPECT_EQ(round_to_float_type(0.1, DType::f16), 0.0999755859375);
  EXPECT_TRUE(std::signbit(round_to_float_type(-0.0, DType::f16)));
}

TEST(Fold, RoundToBf16) {
  // bf16 has 8 significant bits: between 256 and 512 the spacing is 2.
  EXPECT_EQ(round_to_float_type(257.0, DType::bf16), 256.0);
  EXPECT_EQ(round_to_float_type(259.0, DType::bf16), 260.0);
  EXPECT_EQ(round_to_float_type(1.0 / 3.0, DType::bf16), 0.333984375); // 0x3eab
  EXPECT_TRUE(std::isinf(round_to_float_type(3.4e38, DType::bf16)));
}

TEST(Fold, WrapToIntegerWidth) {
  EXPECT_EQ(wrap_to_int_type(128, DType::i8), -128);
  EXPECT_EQ(wrap_to_int_type(300, DType::i8), 44);
  EXPECT_EQ(wrap_to_int_type(65535, DType::i16), -1);
  EXPECT_EQ(wrap_to_int_type(int64_t(1) << 31, DType::i32), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(wrap_to_int_type(3, DType::i1), 1);
  EXPECT_EQ(wrap_to_int_type(-1, DType::i64), -1);
}

class FoldOps : public ::testing::Test {
protected:
  ir::Context ctx;
  const ir::Type* t(DType k) { return ctx.scalar(k); }
  std::optional<Attr> fold(Opcode op, std::vector<Attr> args, DType in, DType out) {
    return fold_elementwise(op, args, t(in), t(out));
  }
  std::optional<Attr> fold(Opcode op, std::vector<Attr> args, DType k) {
    return fold(op, std::move(args), k, k);
  }
};

TEST_F(FoldOps, IntegerArithmeticIsCWithWrapAround) {
  auto i = Attr::of_int;
  EXPECT_EQ(fold(Opcode::Add, {i(2147483647), i(1)}, DType::i32)->i, -2147483648);
  EXPECT_EQ(fold(Opcode::Mul, {i(100), i(3)}, DType::i8)->i, 44); // 300 mod 256
  EXPECT_EQ(fold(Opcode::Div, {i(-7), i(2)}, DType::i32)->i, -3); // toward zero
  EXPECT_EQ(fold(Opcode::Rem, {i(-7), i(2)}, DType::i32)->i, -1); // sign of the dividend
  EXPECT_EQ(fold(Opcode::Rem, {i(7), i(-2)}, DType::i32)->i, 1);
  EXPECT_EQ(fold(Opcode::Shr, {i(-8), i(1)}, DType::i32)->i, -4); // arithmetic
  EXPECT_EQ(fold(Opcode::Shl, {i(1), i(7)}, DType::i8)->i, -128);
  EXPECT_EQ(fold(Opcode::Neg, {i(-128)}, DType::i8)->i, -128);
  EXPECT_EQ(fold(Opcode::Abs, {i(-128)}, DType::i8)->i, -128);
  EXPECT_EQ(fold(Opcode::Not, {i(0)}, DType::i16)->i, -1);
  EXPECT_EQ(fold(Opcode::Xor, {i(1), i(1)}, DType::i1)->i, 0);
}

TEST_F(FoldOps, UnspecifiedIntegerResultsAreNotFolded) {
  auto i = Attr::of_int;
  EXPECT_FALSE(fold(Opcode::Div, {i(1), i(0)}, DType::i32));
  EXPECT_FALSE(fold(Opcode::Rem, {i(1), i(0)}, DType::i32));
  EXPECT_FALSE(fold(Opcode::Div, {i(-2147483648), i(-1)}, DType::i32));
  EXPECT_FALSE(fold(Opcode::Shl, {i(1), i(32)}, DType::i32));
  EXPECT_FALSE(fold(Opcode::Shr, {i(1), i(-1)}, DType::i32));
}

TEST_F(FoldOps, NarrowFloatsRoundAfterEachOp) {
  auto f = Attr::of_float;
  EXPECT_EQ(fold(Opcode::Add, {f(2048.0), f(1.0)}, DType::f16)->f, 2048.0);
  EXPECT_EQ(fold(Opcode::Add, {f(256.0), f(1.0)}, DType::bf16)->f, 256.0);
  EXPECT_TRUE(std::isinf(fold(Opcode::Mul, {f(300.0), f(300.0)}, DType::f16)->f));
  // f32: 0.1f + 0.2f rounds to 0.30000001192092896, not the double 0.30000000000000004.
  EXPECT_EQ(fold(Opcode::Add, {f(double(0.1f)), f(double(0.2f))}, DType::f32)->f,
            double(0.1f + 0.2f));
  EXPECT_EQ(fold(Opcode::Add, {f(0.1), f(0.2)}, DType::f64)->f, 0.1 + 0.2);
  EXPECT_EQ(fold(Opcode::Fma, {f(2.0), f(3.0), f(1.0)}, DType::f32)->f, 7.0);
  EXPECT_EQ(fold(Opcode::Sqrt, {f(2.0)}, DType::f16)->f, 1.4140625); // 0x3da8
}

TEST_F(FoldOps, NaNRules) {
  auto f = Attr::of_float;
  double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(fold(Opcode::Min, {f(nan), f(1.0)}, DType::f32)->f, 1.0);
  EXPECT_EQ(fold(Opcode::Max, {f(2.0), f(nan)}, DType::f32)->f, 2.0);
  EXPECT_EQ(fold(Opcode::CmpNe, {f(nan), f(nan)}, DType::f32, DType::i1)->i, 1);
  EXPECT_EQ(fold(Opcode::CmpEq, {f(nan), f(nan)}, DType::f32, DType::i1)->i, 0);
  EXPECT_EQ(fold(Opcode::CmpLt, {f(nan), f(1.0)}, DType::f32, DType::i1)->i, 0);
  EXPECT_EQ(fold(Opcode::CmpGe, {f(nan), f(1.0)}, DType::f32, DType::i1)->i, 0);
  EXPECT_EQ(fold(Opcode::CmpLe, {f(1.0), f(1.0)}, DType::f32, DType::i1)->i, 1);
}

TEST_F(FoldOps, Casts) {
  auto f = Attr::of_float;
  auto i = Attr::of_int;
  EXPECT_EQ(fold(Opcode::Cast, {f(-3.7)}, DType::f32, DType::i32)->i, -3);
  EXPECT_EQ(fold(Opcode::Cast, {i(300)}, DType::i32, DType::i8)->i, 44);
  EXPECT_EQ(fold(Opcode::Cast, {i(-1)}, DType::i8, DType::i64)->i, -1); // sign-extends
  EXPECT_EQ(fold(Opcode::Cast, {i(1)}, DType::i1, DType::i32)->i, 1);   // 0 or 1
  EXPECT_EQ(fold(Opcode::Cast, {i(256)}, DType::i32, DType::i1)->i, 1); // != 0
  EXPECT_EQ(fold(Opcode::Cast, {f(0.25)}, DType::f32, DType::i1)->i, 1);
  EXPECT_EQ(fold(Opcode::Cast, {f(0.1)}, DType::f64, DType::f16)->f, 0.0999755859375);
  EXPECT_EQ(fold(Opcode::Cast, {i(16777217)}, DType::i32, DType::f32)->f, 16777216.0);
  EXPECT_FALSE(fold(Opcode::Cast, {f(3e9)}, DType::f32, DType::i32)); // out of range
  EXPECT_FALSE(fold(Opcode::Cast, {f(std::nan(""))}, DType::f32, DType::i32));
}

TEST_F(FoldOps, Select) {
  auto i = Attr::of_int;
  EXPECT_EQ(fold(Opcode::Select, {i(1), i(5), i(6)}, DType::i1, DType::i32)->i, 5);
  EXPECT_EQ(fold(Opcode::Select, {i(0), i(5), i(6)}, DType::i1, DType::i32)->i, 6);
}

} // namespace
} // namespace tessel::codegen
