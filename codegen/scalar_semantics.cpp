// The scalar semantics of the elementwise ops, emitted once for both backends (see the header for
// the rules). Every case that LLVM leaves undefined or poison — division by zero, INT_MIN / -1,
// shifts by the width or more, out-of-range float -> int — is given a defined result here, so that
// no optimisation (LICM hoisting a division out of a guarded branch, say) can turn a kernel's
// unspecified value into undefined behaviour, and so that both backends give the same bits.
#include "codegen/scalar_semantics.h"
#include "codegen/scalar_rules.h"

#include "tessel/dtype.h"

#include <llvm/ADT/APFloat.h>
#include <llvm/IR/Intrinsics.h>

#include <bit>
#include <cmath>

namespace tessel::codegen {

using ir::Opcode;

namespace {

bool is_narrow(const ir::Type* elem) { return elem->is_float() && elem->element_bits() == 16; }

const llvm::fltSemantics& semantics_of(const ir::Type* elem) {
  switch (elem->dtype()) {
  case DType::f16:
    return llvm::APFloat::IEEEhalf();
  case DType::bf16:
    return llvm::APFloat::BFloat();
  case DType::f32:
    return llvm::APFloat::IEEEsingle();
  case DType::f64:
    return llvm::APFloat::IEEEdouble();
  case DType::i1:
  case DType::i8:
  case DType::i16:
  case DType::i32:
  case DType::i64:
  case DType::u8:
  case DType::u16:
  case DType::u32:
  case DType::u64:
  case DType::f8e4m3: // fp8 constants are encoded by tessel's own conversion
  case DType::f8e5m2:
    break;
  }
  TESSEL_UNREACHABLE("semantics_of an integer or fp8 type");
}

// An fp8 format as the bit arithmetic below needs it.
struct Fp8Format {
  unsigned man_bits; // 3 (e4m3) or 2 (e5m2)
  int bias;          // 7 or 15
  uint32_t max_code; // the largest finite magnitude: 0x7e (448) or 0x7b (57344)
  uint32_t overflow; // a non-saturating overflow: 0x7f (NaN) or 0x7c (inf)
  bool has_inf() const { return overflow != 0x7f; }
};

Fp8Format fp8_format(const ir::Type* elem) {
  TESSEL_ASSERT(elem->is_fp8(), "fp8_format of a non-fp8 type");
  return elem->dtype() == DType::f8e4m3 ? Fp8Format{3, 7, 0x7e, 0x7f}
                                        : Fp8Format{2, 15, 0x7b, 0x7c};
}

bool zero_extends(const ir::Type* elem) { return elem->is_bool() || elem->is_unsigned(); }

// The target's saturated encoding made this file's: NaN keeps its sign as 0x7f | sign, and without
// saturation a magnitude past the overflow threshold (beyond the largest finite value by half an
// ulp or more: |f| > 464 rounds past e4m3's 448 and |f| >= 61440 past e5m2's 57344, ties going
// to the even code) is the overflow code (NaN or inf).
llvm::Value* fp8_from_saturated(llvm::IRBuilder<>& b, llvm::Value* native, llvm::Value* a,
                                llvm::Value* sign, const Fp8Format& fmt, bool saturate) {
  llvm::Value* code = b.CreateZExt(native, b.getInt32Ty());
  if (!saturate) {
    const bool e4m3 = !fmt.has_inf();
    llvm::Value* over = e4m3 ? b.CreateICmpUGT(a, b.getInt32(std::bit_cast<uint32_t>(464.0f)))
                             : b.CreateICmpUGE(a, b.getInt32(std::bit_cast<uint32_t>(61440.0f)));
    code = b.CreateSelect(over, b.CreateOr(sign, b.getInt32(fmt.overflow)), code);
  }
  code = b.CreateSelect(b.CreateICmpUGT(a, b.getInt32(0x7f800000u)),
                        b.CreateOr(sign, b.getInt32(0x7f)), code);
  return b.CreateTrunc(code, b.getInt8Ty());
}

} // namespace

bool is_exact_narrow_op(Opcode op) {
  return op == Opcode::Add || op == Opcode::Sub || op == Opcode::Mul || op == Opcode::Neg ||
         op == Opcode::Abs;
}

// ---- f16/bf16 and rounding ---------------------------------------------------------------------

llvm::Value* ScalarSemantics::widen(llvm::Value* v) {
  llvm::Type* t = v->getType();
  return t->isHalfTy() || t->isBFloatTy() ? b.CreateFPExt(v, b.getFloatTy()) : v;
}

// A double rounded to float toward zero, with the last bit made sticky when inexact ("round to
// odd"). float keeps 13 more bits than f16 and 16 more than bf16, so rounding this float to
// nearest even gives the same bits as rounding the double once (Boldo and Melquiond).
llvm::Value* ScalarSemantics::f64_to_f32_round_to_odd(llvm::Value* d) {
  llvm::Value* f = b.CreateFPTrunc(d, b.getFloatTy());
  llvm::Value* back = b.CreateFPExt(f, b.getDoubleTy());
  llvm::Value* bits = b.CreateBitCast(f, b.getInt32Ty());
  llvm::Value* away = b.CreateFCmpOGT(b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, back),
                                      b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, d));
  llvm::Value* toward_zero = b.CreateSelect(away, b.CreateSub(bits, b.getInt32(1)), bits);
  llvm::Value* inexact = b.CreateFCmpONE(back, d);
  llvm::Value* odd = b.CreateSelect(inexact, b.CreateOr(toward_zero, b.getInt32(1)), bits);
  return b.CreateBitCast(odd, b.getFloatTy());
}

llvm::Value* ScalarSemantics::narrow(llvm::Value* f, const ir::Type* elem) {
  TESSEL_ASSERT(elem->is_float(), "narrow to a float type");
  llvm::Type* t = target.value_type(elem);
  if (f->getType() == t && !is_narrow(elem))
    return f;
  if (!is_narrow(elem))
    return f->getType()->isDoubleTy() ? b.CreateFPTrunc(f, t) : b.CreateFPExt(f, t);
  if (f->getType()->isDoubleTy())
    f = f64_to_f32_round_to_odd(f);
  return target.round_f32(f, elem);
}

llvm::Value* ScalarSemantics::constant(const ir::Type* elem, const ir::Attr& value) {
  elem = elem->element();
  llvm::Type* t = target.value_type(elem);
  if (elem->is_pointer())
    return llvm::ConstantExpr::getIntToPtr(b.getInt64(value.i), t);
  if (elem->is_fp8()) { // the verifier has checked that the value is one of the type's
    const float f = value.kind == ir::Attr::Kind::Float ? float(value.f) : float(value.i);
    return b.getInt8(elem->dtype() == DType::f8e4m3 ? float_to_f8e4m3(f) : float_to_f8e5m2(f));
  }
  if (elem->is_float()) {
    // Rounded once from the literal (a double, or an exact i64) to the element type.
    llvm::APFloat f(value.kind == ir::Attr::Kind::Float ? value.f : 0.0);
    if (value.kind != ir::Attr::Kind::Float)
      f.convertFromAPInt(llvm::APInt(64, static_cast<uint64_t>(value.i), /*isSigned=*/true),
                         /*IsSigned=*/true, llvm::APFloat::rmNearestTiesToEven);
    bool lost = false;
    f.convert(semantics_of(elem), llvm::APFloat::rmNearestTiesToEven, &lost);
    // Exact: f16 and bf16 values are floats too (the CPU's value type for them).
    f.convert(t->getFltSemantics(), llvm::APFloat::rmNearestTiesToEven, &lost);
    return llvm::ConstantFP::get(t, f);
  }
  int64_t i = value.kind == ir::Attr::Kind::Int ? value.i : static_cast<int64_t>(value.f);
  if (elem->is_bool())
    return b.getInt1(i != 0);
  return llvm::ConstantInt::get(t, static_cast<uint64_t>(i), /*IsSigned=*/true);
}

// ---- bitcast -----------------------------------------------------------------------------------

// f16/bf16 may travel as float (the CPU): their bits are those of the exact narrowing, and bits
// become a value by the exact widening.
llvm::Value* ScalarSemantics::bitcast(llvm::Value* v, const ir::Type* from, const ir::Type* to) {
  from = from->element();
  to = to->element();
  const unsigned bits = from->element_bits();
  auto storage = [&](const ir::Type* e) -> llvm::Type* {
    return e->dtype() == DType::bf16 ? b.getBFloatTy() : b.getHalfTy();
  };
  if (is_narrow(from) && v->getType()->isFloatTy())
    v = b.CreateFPTrunc(v, storage(from));
  llvm::Value* raw = b.CreateBitCast(v, b.getIntNTy(bits));
  llvm::Type* tt = target.value_type(to);
  if (!is_narrow(to))
    return b.CreateBitCast(raw, tt);
  llvm::Value* narrow_value = b.CreateBitCast(raw, storage(to));
  return tt == narrow_value->getType() ? narrow_value : b.CreateFPExt(narrow_value, tt);
}

// ---- casts -------------------------------------------------------------------------------------

llvm::Value* ScalarSemantics::int_to_int(llvm::Value* v, const ir::Type* from, const ir::Type* to) {
  llvm::Type* tt = target.value_type(to);
  return zero_extends(from) ? b.CreateZExtOrTrunc(v, tt) : b.CreateSExtOrTrunc(v, tt);
}

llvm::Value* ScalarSemantics::int_to_float(llvm::Value* v, const ir::Type* from, llvm::Type* to) {
  return zero_extends(from) ? b.CreateUIToFP(v, to) : b.CreateSIToFP(v, to);
}

llvm::Value* ScalarSemantics::cast(llvm::Value* v, const ir::Type* from, const ir::Type* to,
                                   bool saturate) {
  from = from->element();
  to = to->element();
  llvm::Type* tt = target.value_type(to);
  if (from == to && !saturate)
    return v;
  if (from->is_pointer() || to->is_pointer()) {
    if (from->is_pointer() && to->is_pointer())
      return v;
    if (from->is_pointer())
      return to->is_bool() ? b.CreateIsNotNull(v) : b.CreatePtrToInt(v, tt);
    return b.CreateIntToPtr(zero_extends(from) ? b.CreateZExtOrTrunc(v, b.getInt64Ty())
                                               : b.CreateSExtOrTrunc(v, b.getInt64Ty()),
                            tt);
  }
  if (from->is_fp8() || to->is_fp8())
    return cast_fp8(v, from, to, saturate);
  if (to->is_bool()) // compares with zero: NaN is true
    return from->is_float() ? b.CreateFCmpUNE(v, llvm::ConstantFP::get(v->getType(), 0.0))
                            : b.CreateICmpNE(v, llvm::ConstantInt::get(v->getType(), 0));
  if (from->is_integer() && to->is_integer())
    return int_to_int(v, from, to);
  if (from->is_integer()) {
    if (!is_narrow(to))
      return int_to_float(v, from, tt);
    // Through f64 (exact up to 2^53), then one rounding to 16 bits.
    return narrow(int_to_float(v, from, b.getDoubleTy()), to);
  }
  if (to->is_integer()) // saturating, NaN -> 0 (fptosi/fptoui would be poison out of range)
    return b.CreateIntrinsic(
        tt, to->is_unsigned() ? llvm::Intrinsic::fptoui_sat : llvm::Intrinsic::fptosi_sat,
        {widen(v)});
  // float -> float: widening is exact, narrowing rounds once.
  if (to->element_bits() > from->element_bits() || (is_narrow(from) && is_narrow(to))) {
    llvm::Value* f = widen(v);
    return is_narrow(to) ? narrow(f, to) : (f->getType() == tt ? f : b.CreateFPExt(f, tt));
  }
  return narrow(widen(v), to);
}

// ---- fp8 ---------------------------------------------------------------------------------------

// A cast from or to fp8, through f32: every fp8 value is an f32 (exactly), and every source is
// first made an f32 that rounds to the same fp8 value as the source itself — f16/bf16 exactly,
// f64 rounded to odd (f32 keeps more than 2 * 4 + 2 bits), integers rounded to nearest (only
// integers beyond 2^24, far past fp8's range, round at all, and they overflow either way).
llvm::Value* ScalarSemantics::cast_fp8(llvm::Value* v, const ir::Type* from, const ir::Type* to,
                                       bool saturate) {
  if (from->is_fp8() && to->is_bool()) // every bit but the sign is zero only for +-0
    return b.CreateICmpNE(b.CreateAnd(v, b.getInt8(0x7f)), b.getInt8(0));
  llvm::Value* f;
  if (from->is_fp8())
    f = fp8_to_f32(v, from);
  else if (from->is_integer())
    f = int_to_float(v, from, b.getFloatTy());
  else if (v->getType()->isDoubleTy())
    f = f64_to_f32_round_to_odd(v);
  else
    f = widen(v);
  if (to->is_fp8())
    return f32_to_fp8(f, to, saturate);
  llvm::Type* tt = target.value_type(to);
  if (to->is_integer())
    return b.CreateIntrinsic(
        tt, to->is_unsigned() ? llvm::Intrinsic::fptoui_sat : llvm::Intrinsic::fptosi_sat, {f});
  if (is_narrow(to))
    return narrow(f, to); // exact: fp8 values are f16 and bf16 values
  return tt->isDoubleTy() ? b.CreateFPExt(f, tt) : f;
}

// fp8 bits -> f32, exactly: normals rebias the exponent, subnormals are man * 2^(1-bias-man_bits)
// (an exact product), and the codes above the largest finite one are NaN or (e5m2) infinity.
llvm::Value* ScalarSemantics::fp8_to_f32(llvm::Value* bits, const ir::Type* from) {
  const Fp8Format fmt = fp8_format(from);
  llvm::Value* c = b.CreateZExt(bits, b.getInt32Ty());
  llvm::Value* sign = b.CreateShl(b.CreateAnd(c, 0x80), 24);
  if (llvm::Value* native = target.native_fp8_to_f32(bits, from)) { // NaN as below: 0x7fc00000
    llvm::Value* nan = b.CreateBitCast(b.CreateOr(sign, b.getInt32(0x7fc00000u)), b.getFloatTy());
    return b.CreateSelect(b.CreateFCmpUNO(native, native), nan, native);
  }
  llvm::Value* mag = b.CreateAnd(c, 0x7f);
  llvm::Value* man = b.CreateAnd(mag, (1u << fmt.man_bits) - 1);
  llvm::Value* normal =
      b.CreateAdd(b.CreateShl(mag, 23 - fmt.man_bits), b.getInt32(uint32_t(127 - fmt.bias) << 23));
  const double unit = std::ldexp(1.0, 1 - fmt.bias - int(fmt.man_bits)); // the least subnormal
  llvm::Value* sub_f = b.CreateFMul(b.CreateUIToFP(man, b.getFloatTy()),
                                    llvm::ConstantFP::get(b.getFloatTy(), unit));
  llvm::Value* sub = b.CreateBitCast(sub_f, b.getInt32Ty());
  llvm::Value* special = b.getInt32(0x7fc00000u);
  if (fmt.has_inf())
    special = b.CreateSelect(b.CreateICmpEQ(man, b.getInt32(0)), b.getInt32(0x7f800000u), special);
  llvm::Value* is_sub = b.CreateICmpULT(mag, b.getInt32(1u << fmt.man_bits));
  llvm::Value* r = b.CreateSelect(is_sub, sub, normal);
  r = b.CreateSelect(b.CreateICmpUGT(mag, b.getInt32(fmt.max_code)), special, r);
  return b.CreateBitCast(b.CreateOr(r, sign), b.getFloatTy());
}

// f32 -> fp8 bits, rounded once to nearest even. Where the result is normal in fp8, rounding the
// f32's bits at the fp8's last mantissa bit (add half an ulp less one, plus the kept lsb) carries
// into the exponent exactly as the value does; below, the value is scaled (exactly) to units of
// the fp8's smallest subnormal and rounded to an integer, which may reach the smallest normal.
llvm::Value* ScalarSemantics::f32_to_fp8(llvm::Value* f, const ir::Type* to, bool saturate) {
  const Fp8Format fmt = fp8_format(to);
  const unsigned drop = 23 - fmt.man_bits;
  llvm::Value* u = b.CreateBitCast(f, b.getInt32Ty());
  llvm::Value* sign = b.CreateAnd(b.CreateLShr(u, 24), 0x80);
  llvm::Value* a = b.CreateAnd(u, 0x7fffffffu);
  if (llvm::Value* native = target.native_f32_to_fp8_sat(f, to))
    return fp8_from_saturated(b, native, a, sign, fmt, saturate);
  llvm::Value* lsb = b.CreateAnd(b.CreateLShr(a, drop), 1);
  llvm::Value* rounded = b.CreateAdd(a, b.CreateAdd(lsb, b.getInt32((1u << (drop - 1)) - 1)));
  llvm::Value* normal = b.CreateSub(b.CreateLShr(rounded, drop),
                                    b.getInt32(uint32_t(127 - fmt.bias) << fmt.man_bits));
  const double per_unit = std::ldexp(1.0, fmt.bias - 1 + int(fmt.man_bits)); // 1 / least subnormal
  llvm::Value* scaled = b.CreateFMul(b.CreateBitCast(a, b.getFloatTy()),
                                     llvm::ConstantFP::get(b.getFloatTy(), per_unit));
  llvm::Value* units = b.CreateUnaryIntrinsic(llvm::Intrinsic::roundeven, scaled);
  llvm::Value* sub = b.CreateIntrinsic(b.getInt32Ty(), llvm::Intrinsic::fptoui_sat, {units});
  llvm::Value* is_normal = b.CreateICmpUGE(a, b.getInt32(uint32_t(128 - fmt.bias) << 23));
  llvm::Value* code = b.CreateSelect(is_normal, normal, sub);
  llvm::Value* beyond = b.getInt32(saturate ? fmt.max_code : fmt.overflow);
  code = b.CreateSelect(b.CreateICmpUGT(code, b.getInt32(fmt.max_code)), beyond, code);
  code = b.CreateSelect(b.CreateICmpUGT(a, b.getInt32(0x7f800000u)), b.getInt32(0x7f), code);
  return b.CreateTrunc(b.CreateOr(code, sign), b.getInt8Ty());
}

// ---- comparisons, min, max ---------------------------------------------------------------------

llvm::Value* ScalarSemantics::compare(Opcode op, const ir::Type* elem, llvm::Value* x,
                                      llvm::Value* y) {
  using P = llvm::CmpInst::Predicate;
  static constexpr P fp[] = {P::FCMP_OEQ, P::FCMP_UNE, P::FCMP_OLT,
                             P::FCMP_OLE, P::FCMP_OGT, P::FCMP_OGE};
  static constexpr P si[] = {P::ICMP_EQ,  P::ICMP_NE,  P::ICMP_SLT,
                             P::ICMP_SLE, P::ICMP_SGT, P::ICMP_SGE};
  // Pointers and booleans compare unsigned: false < true, as in C++ and Triton.
  static constexpr P ui[] = {P::ICMP_EQ,  P::ICMP_NE,  P::ICMP_ULT,
                             P::ICMP_ULE, P::ICMP_UGT, P::ICMP_UGE};
  size_t k = size_t(op) - size_t(Opcode::CmpEq);
  TESSEL_ASSERT(k < 6, "compare of a non-comparison");
  if (elem->is_float())
    return b.CreateCmp(fp[k], widen(x), widen(y));
  return b.CreateCmp(elem->is_pointer() || zero_extends(elem) ? ui[k] : si[k], x, y);
}

// minnum/maxnum leave the sign of a zero result open (x86's minss returns its second operand,
// which would make min(-0, +0) depend on operand order); equal operands are zeros of either sign
// or the same value, so OR-ing (min) or AND-ing (max) their bits picks -0 / +0 and changes nothing
// else.
llvm::Value* ScalarSemantics::float_min_max(Opcode op, llvm::Value* x, llvm::Value* y) {
  const bool is_min = op == Opcode::Min;
  llvm::Value* r =
      b.CreateBinaryIntrinsic(is_min ? llvm::Intrinsic::minnum : llvm::Intrinsic::maxnum, x, y);
  llvm::Type* bits_t = b.getIntNTy(x->getType()->getPrimitiveSizeInBits());
  llvm::Value* xb = b.CreateBitCast(x, bits_t);
  llvm::Value* yb = b.CreateBitCast(y, bits_t);
  llvm::Value* zeros =
      b.CreateBitCast(is_min ? b.CreateOr(xb, yb) : b.CreateAnd(xb, yb), x->getType());
  return b.CreateSelect(b.CreateFCmpOEQ(x, y), zeros, r);
}

// ---- integers ----------------------------------------------------------------------------------

// An unsigned divisor with 1 for 0: x / 0 = x and x % 0 = 0, as for the signed types.
static llvm::Value* safe_unsigned_divisor(llvm::IRBuilder<>& b, llvm::Value* y) {
  llvm::Value* zero = b.CreateICmpEQ(y, llvm::ConstantInt::get(y->getType(), 0));
  return b.CreateSelect(zero, llvm::ConstantInt::get(y->getType(), 1), y);
}

// The divisor, with 1 where the quotient would trap or be poison (x / 0, INT_MIN / -1): then
// x / 0 = x, x % 0 = 0, INT_MIN / -1 = INT_MIN and INT_MIN % -1 = 0.
llvm::Value* ScalarSemantics::safe_divisor(llvm::Value* x, llvm::Value* y) {
  llvm::Type* it = y->getType();
  llvm::Value* zero = b.CreateICmpEQ(y, llvm::ConstantInt::get(it, 0));
  llvm::Value* min =
      llvm::ConstantInt::get(it, llvm::APInt::getSignedMinValue(it->getIntegerBitWidth()));
  llvm::Value* overflow =
      b.CreateAnd(b.CreateICmpEQ(x, min), b.CreateICmpEQ(y, llvm::ConstantInt::getSigned(it, -1)));
  return b.CreateSelect(b.CreateOr(zero, overflow), llvm::ConstantInt::get(it, 1), y);
}

// Shift amounts modulo the width (as x86 and PTX's shf.wrap do): never poison.
llvm::Value* ScalarSemantics::shift_amount(llvm::Value* y) {
  return b.CreateAnd(y, y->getType()->getIntegerBitWidth() - 1);
}

// The high half of the unsigned double-width product: zero-extend, multiply, shift. NVPTX selects
// mul.hi.u32 / mul.hi.u64 for this pattern; x86 a widening mul.
llvm::Value* ScalarSemantics::unsigned_mul_hi(llvm::Value* x, llvm::Value* y) {
  llvm::Type* it = x->getType();
  const unsigned bits = it->getIntegerBitWidth();
  llvm::Type* wide = b.getIntNTy(2 * bits);
  llvm::Value* p = b.CreateMul(b.CreateZExt(x, wide), b.CreateZExt(y, wide), "", /*HasNUW=*/true);
  return b.CreateTrunc(b.CreateLShr(p, bits), it);
}

llvm::Value* ScalarSemantics::apply_integer(const ir::Op& op, const ir::Type* elem,
                                            std::span<llvm::Value* const> a) {
  const bool is_unsigned = zero_extends(elem); // i1 orders false < true
  switch (op.opcode()) {
  case Opcode::Add:
    return b.CreateAdd(a[0], a[1]);
  case Opcode::Sub:
    return b.CreateSub(a[0], a[1]);
  case Opcode::Mul:
    return b.CreateMul(a[0], a[1]);
  case Opcode::Div:
    return is_unsigned ? b.CreateUDiv(a[0], safe_unsigned_divisor(b, a[1]))
                       : b.CreateSDiv(a[0], safe_divisor(a[0], a[1]));
  case Opcode::Rem:
    return is_unsigned ? b.CreateURem(a[0], safe_unsigned_divisor(b, a[1]))
                       : b.CreateSRem(a[0], safe_divisor(a[0], a[1]));
  case Opcode::Min:
    return b.CreateBinaryIntrinsic(is_unsigned ? llvm::Intrinsic::umin : llvm::Intrinsic::smin,
                                   a[0], a[1]);
  case Opcode::Max:
    return b.CreateBinaryIntrinsic(is_unsigned ? llvm::Intrinsic::umax : llvm::Intrinsic::smax,
                                   a[0], a[1]);
  case Opcode::And:
    return b.CreateAnd(a[0], a[1]);
  case Opcode::Or:
    return b.CreateOr(a[0], a[1]);
  case Opcode::Xor:
    return b.CreateXor(a[0], a[1]);
  case Opcode::Shl:
    return b.CreateShl(a[0], shift_amount(a[1]));
  case Opcode::Shr: // logical on unsigned types, arithmetic on signed ones
    return is_unsigned ? b.CreateLShr(a[0], shift_amount(a[1]))
                       : b.CreateAShr(a[0], shift_amount(a[1]));
  case Opcode::Neg:
    return b.CreateNeg(a[0]);
  case Opcode::Not:
    return b.CreateNot(a[0]);
  case Opcode::Abs: // abs(INT_MIN) = INT_MIN (wraps); unsigned values are their own
    if (is_unsigned)
      return a[0];
    return b.CreateBinaryIntrinsic(llvm::Intrinsic::abs, a[0], b.getFalse());
  case Opcode::Umulhi:
    return unsigned_mul_hi(a[0], a[1]);
  case Opcode::Popc:
    return b.CreateUnaryIntrinsic(llvm::Intrinsic::ctpop, a[0]);
  case Opcode::Clz: // defined at zero: the width
    return b.CreateBinaryIntrinsic(llvm::Intrinsic::ctlz, a[0], b.getFalse());
  default:
    break; // the caller routes only integer arithmetic here
  }
  target.unsupported(op, "a float op with integer operands");
  TESSEL_UNREACHABLE("ScalarTarget::unsupported returned");
}

// ---- floats ------------------------------------------------------------------------------------

llvm::Value* ScalarSemantics::apply_float(const ir::Op& op, const ir::Type* elem,
                                          std::span<llvm::Value* const> args) {
  const Opcode o = op.opcode();
  // add/sub/mul/neg on half/bfloat registers where the target has the math: the same bits.
  if (is_narrow(elem) && target.has_native_narrow_arith(elem)) {
    switch (o) {
    case Opcode::Add:
      return b.CreateFAdd(args[0], args[1]);
    case Opcode::Sub:
      return b.CreateFSub(args[0], args[1]);
    case Opcode::Mul:
      return b.CreateFMul(args[0], args[1]);
    case Opcode::Neg:
      return b.CreateFNeg(args[0]);
    default:
      break; // the others in f32
    }
  }
  // In f32 for f16/bf16 (exact), rounded back once at the end.
  std::vector<llvm::Value*> a;
  for (llvm::Value* v : args)
    a.push_back(widen(v));
  llvm::Type* t = a[0]->getType();
  auto one = [&] { return llvm::ConstantFP::get(t, 1.0); };
  llvm::Value* r = nullptr;
  switch (o) {
  case Opcode::Add:
    r = b.CreateFAdd(a[0], a[1]);
    break;
  case Opcode::Sub:
    r = b.CreateFSub(a[0], a[1]);
    break;
  case Opcode::Mul:
    r = b.CreateFMul(a[0], a[1]);
    break;
  case Opcode::Div:
    r = b.CreateFDiv(a[0], a[1]);
    break;
  case Opcode::Min:
  case Opcode::Max:
    r = float_min_max(o, a[0], a[1]);
    break;
  case Opcode::Neg:
    r = b.CreateFNeg(a[0]);
    break;
  case Opcode::Abs:
    r = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, a[0]);
    break;
  case Opcode::Fma:
    r = b.CreateIntrinsic(t, llvm::Intrinsic::fma, {a[0], a[1], a[2]});
    break;
  case Opcode::Sigmoid: {
    llvm::Value* neg = b.CreateFNeg(a[0]);
    llvm::Value* e = target.math(Opcode::Exp, std::span<llvm::Value* const>(&neg, 1));
    r = b.CreateFDiv(one(), b.CreateFAdd(one(), e));
    break;
  }
  case Opcode::Rem:
    r = target.math(o, a);
    break; // fmod, exact
  case Opcode::DivRn:
  case Opcode::SqrtRn:
  case Opcode::Copysign:
  case Opcode::Trunc:
  case Opcode::Round:
  case Opcode::Rint:
    r = exactly_rounded(o, a);
    break;
  default:
    if (scalar_rule(o) == ScalarRule::Math) {
      r = target.math(o, a);
      break;
    }
    target.unsupported(op, "an integer op with float operands");
    TESSEL_UNREACHABLE("ScalarTarget::unsupported returned");
  }
  return narrow(r, op.result()->type()->element());
}

// The exactly rounded math functions, as plain LLVM: fdiv and llvm.sqrt are IEEE operations on
// both targets (NVPTX selects div.rn / sqrt.rn without fast-math flags, which tessel never sets),
// and trunc, round and roundeven are exact (cvt.rzi, cvt.rni and an exact sequence on the GPU).
llvm::Value* ScalarSemantics::exactly_rounded(Opcode o, std::span<llvm::Value* const> a) {
  switch (o) {
  case Opcode::DivRn:
    return b.CreateFDiv(a[0], a[1]);
  case Opcode::SqrtRn:
    return b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, a[0]);
  case Opcode::Copysign:
    return b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, a[0], a[1]);
  case Opcode::Trunc:
    return b.CreateUnaryIntrinsic(llvm::Intrinsic::trunc, a[0]);
  case Opcode::Round:
    return b.CreateUnaryIntrinsic(llvm::Intrinsic::round, a[0]);
  case Opcode::Rint:
    return b.CreateUnaryIntrinsic(llvm::Intrinsic::roundeven, a[0]);
  default:
    break; // apply_float routes only the exactly rounded math functions here
  }
  TESSEL_UNREACHABLE("not an exactly rounded math function");
}

llvm::Value* ScalarSemantics::apply(const ir::Op& op, std::span<llvm::Value* const> a) {
  const Opcode o = op.opcode();
  const ir::Type* elem = op.operand(o == Opcode::Select ? 1 : 0)->type()->element();
  const ir::Type* rt = op.result()->type()->element();
  const std::optional<ScalarRule> rule = scalar_rule(o);
  TESSEL_ASSERT(rule, "scalar semantics of an op outside the elementwise family");
  switch (*rule) {
  case ScalarRule::Cast:
    return cast(a[0], elem, rt, /*saturate=*/o == Opcode::CastSat);
  case ScalarRule::Bitcast:
    return bitcast(a[0], elem, rt);
  case ScalarRule::Select:
    return b.CreateSelect(a[0], a[1], a[2]);
  case ScalarRule::AddPtr:
    return b.CreateGEP(target.memory_type(rt->pointee()), a[0],
                       zero_extends(op.operand(1)->type()->element())
                           ? b.CreateZExtOrTrunc(a[1], b.getInt64Ty())
                           : b.CreateSExtOrTrunc(a[1], b.getInt64Ty()));
  case ScalarRule::Compare:
    return compare(o, elem, a[0], a[1]);
  case ScalarRule::Arithmetic:
  case ScalarRule::Math:
    break; // below
  case ScalarRule::External:
    TESSEL_UNREACHABLE("escape hatches are lowered by each backend's lower_escape.cpp");
  }
  if (elem->is_pointer())
    target.unsupported(op, "arithmetic on pointers (use addptr)");
  return elem->is_float() ? apply_float(op, elem, a) : apply_integer(op, elem, a);
}

std::optional<ScalarRule> scalar_rule(Opcode op) {
  if (!ir::has_trait(op, ir::ELEMENTWISE))
    return std::nullopt;
  if (ir::has_trait(op, ir::COMPARISON))
    return ScalarRule::Compare;
  switch (op) {
  case Opcode::Cast:
  case Opcode::CastSat:
    return ScalarRule::Cast;
  case Opcode::Bitcast:
    return ScalarRule::Bitcast;
  case Opcode::Select:
    return ScalarRule::Select;
  case Opcode::AddPtr:
    return ScalarRule::AddPtr;
  case Opcode::Add:
  case Opcode::Sub:
  case Opcode::Mul:
  case Opcode::Div:
  case Opcode::Rem:
  case Opcode::Min:
  case Opcode::Max:
  case Opcode::And:
  case Opcode::Or:
  case Opcode::Xor:
  case Opcode::Shl:
  case Opcode::Shr:
  case Opcode::Neg:
  case Opcode::Not:
  case Opcode::Abs:
  case Opcode::Fma:
  case Opcode::Sigmoid:
  case Opcode::Umulhi:
  case Opcode::Popc:
  case Opcode::Clz:
    return ScalarRule::Arithmetic;
  case Opcode::Exp:
  case Opcode::Exp2:
  case Opcode::Log:
  case Opcode::Log2:
  case Opcode::Sqrt:
  case Opcode::Rsqrt:
  case Opcode::Sin:
  case Opcode::Cos:
  case Opcode::Erf:
  case Opcode::Tanh:
  case Opcode::Floor:
  case Opcode::Ceil:
    return ScalarRule::Math;
  case Opcode::InlineAsm:
  case Opcode::InlineAsmVolatile:
  case Opcode::ExternCall:
    return ScalarRule::External;
  // Math functions (issue 14): the exactly rounded ones are computed inline, the same
  // instructions on both backends; the others come from the target's library.
  case Opcode::DivRn:
  case Opcode::SqrtRn:
  case Opcode::Copysign:
  case Opcode::Trunc:
  case Opcode::Round:
  case Opcode::Rint:
    return ScalarRule::Arithmetic;
  case Opcode::Fdiv:
  case Opcode::Pow:
  case Opcode::Atan2:
  case Opcode::Hypot:
  case Opcode::Log1p:
  case Opcode::Expm1:
  case Opcode::Sinh:
  case Opcode::Cosh:
  case Opcode::Tan:
  case Opcode::Atan:
  case Opcode::Asin:
  case Opcode::Acos:
  case Opcode::Erfinv:
  case Opcode::Cbrt:
  case Opcode::Log10:
  case Opcode::Exp10:
    return ScalarRule::Math;
  default:
    return std::nullopt; // an elementwise op without semantics: op_families_test fails
  }
}

} // namespace tessel::codegen
