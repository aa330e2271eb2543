// Constant evaluation of elementwise ops (see fold.h). Floats are computed in the precision ir.h
// prescribes: f64 in double, f32 in float, f16 and bf16 in float and then rounded to the element
// type, so a folded constant is the value the backends would compute. Integers are computed on
// uint64_t (wrapping) and wrapped to the type's width. Results that ir.h leaves unspecified are not
// folded, so the backends' behaviour is kept.
#include "codegen/transforms/fold.h"

#include "tessel/dtype.h"

#include <cmath>
#include <limits>

namespace tessel::codegen {

using ir::Opcode;

double round_to_float_type(double v, DType element) {
  int mantissa_bits = 0, min_exponent = 0; // significant bits (with the implicit one), min normal
  double max_finite = 0;
  switch (element) {
  case DType::f64:
    return v;
  case DType::f32:
    return double(float(v));
  case DType::f16:
    mantissa_bits = 11, min_exponent = -14, max_finite = 65504.0;
    break;
  case DType::bf16:
    mantissa_bits = 8, min_exponent = -126, max_finite = 0x1.fep127;
    break;
  case DType::f8e4m3:
  case DType::f8e5m2:
    return round_to_dtype(v, static_cast<DType>(element));
  case DType::i1:
  case DType::i8:
  case DType::i16:
  case DType::i32:
  case DType::i64:
  case DType::u8:
  case DType::u16:
  case DType::u32:
  case DType::u64:
    TESSEL_UNREACHABLE("round_to_float_type of an integer type");
  }
  if (std::isnan(v) || std::isinf(v) || v == 0)
    return v;
  // The quantum at v's binade (or at the smallest normal binade, for subnormals); v / quantum is
  // exact in double, and nearbyint rounds it to nearest even.
  int exponent = std::max(std::ilogb(v), min_exponent);
  double quantum = std::ldexp(1.0, exponent - (mantissa_bits - 1));
  double r = std::nearbyint(v / quantum) * quantum;
  if (std::fabs(r) > max_finite)
    return std::copysign(std::numeric_limits<double>::infinity(), v);
  return r;
}

int64_t wrap_to_int_type(int64_t v, DType element) {
  unsigned bits = dtype_bits(element);
  if (bits == 1)
    return v & 1;
  if (bits == 64)
    return v;
  uint64_t mask = (uint64_t(1) << bits) - 1;
  uint64_t u = uint64_t(v) & mask;
  uint64_t sign = uint64_t(1) << (bits - 1);
  return int64_t((u ^ sign) - sign);
}

namespace {

template <typename F> std::optional<F> float_op(Opcode op, F a, F b, F c) {
  switch (op) {
  case Opcode::Add:
    return a + b;
  case Opcode::Sub:
    return a - b;
  case Opcode::Mul:
    return a * b;
  case Opcode::Div:
    return a / b;
  case Opcode::Rem:
    return std::fmod(a, b);
  case Opcode::Min:
    return std::fmin(a, b); // returns the other operand when one is NaN
  case Opcode::Max:
    return std::fmax(a, b);
  case Opcode::Neg:
    return -a;
  case Opcode::Abs:
    return std::fabs(a);
  case Opcode::Fma:
    return std::fma(a, b, c);
  case Opcode::Exp:
    return std::exp(a);
  case Opcode::Exp2:
    return std::exp2(a);
  case Opcode::Log:
    return std::log(a);
  case Opcode::Log2:
    return std::log2(a);
  case Opcode::Sqrt:
    return std::sqrt(a);
  case Opcode::Rsqrt:
    return F(1) / std::sqrt(a);
  case Opcode::Sin:
    return std::sin(a);
  case Opcode::Cos:
    return std::cos(a);
  case Opcode::Erf:
    return std::erf(a);
  case Opcode::Tanh:
    return std::tanh(a);
  case Opcode::Sigmoid:
    return F(1) / (F(1) + std::exp(-a));
  case Opcode::Floor:
    return std::floor(a);
  case Opcode::Ceil:
    return std::ceil(a);
  default:
    return std::nullopt; // not foldable arithmetic on this type
  }
}

// Integer ops on values already wrapped to `bits`; the caller wraps the result.
std::optional<int64_t> int_op(Opcode op, int64_t a, int64_t b, unsigned bits) {
  uint64_t ua = uint64_t(a), ub = uint64_t(b);
  int64_t int_min = bits == 64 ? std::numeric_limits<int64_t>::min() : -(int64_t(1) << (bits - 1));
  bool is_bool = bits == 1;
  switch (op) {
  case Opcode::And:
    return a & b;
  case Opcode::Or:
    return a | b;
  case Opcode::Xor:
    return a ^ b;
  case Opcode::Not:
    return ~a;
  case Opcode::Add:
    if (is_bool)
      return std::nullopt;
    return int64_t(ua + ub);
  case Opcode::Sub:
    if (is_bool)
      return std::nullopt;
    return int64_t(ua - ub);
  case Opcode::Mul:
    if (is_bool)
      return std::nullopt;
    return int64_t(ua * ub);
  case Opcode::Neg:
    if (is_bool)
      return std::nullopt;
    return int64_t(0 - ua);
  case Opcode::Abs:
    if (is_bool)
      return std::nullopt;
    return a < 0 ? int64_t(0 - ua) : a;
  case Opcode::Min:
    if (is_bool)
      return std::nullopt;
    return std::min(a, b);
  case Opcode::Max:
    if (is_bool)
      return std::nullopt;
    return std::max(a, b);
  case Opcode::Div:
    if (is_bool || b == 0 || (a == int_min && b == -1))
      return std::nullopt;
    return a / b; // C: truncates toward zero
  case Opcode::Rem:
    if (is_bool || b == 0 || (a == int_min && b == -1))
      return std::nullopt;
    return a % b; // C: the sign of the dividend
  case Opcode::Shl:
    if (is_bool || b < 0 || uint64_t(b) >= bits)
      return std::nullopt;
    return int64_t(ua << b);
  case Opcode::Shr:
    if (is_bool || b < 0 || uint64_t(b) >= bits)
      return std::nullopt;
    return a >> b; // arithmetic: a is sign-extended
  default:
    return std::nullopt; // not foldable arithmetic on this type
  }
}

// Compares a and b (-1, 0, 1), or nothing when unordered (a NaN).
template <typename T> std::optional<int> order(T a, T b) {
  if (a < b)
    return -1;
  if (b < a)
    return 1;
  if (a == b)
    return 0;
  return std::nullopt;
}

std::optional<ConstValue> compare(Opcode op, std::optional<int> ord, bool is_bool) {
  if (op == Opcode::CmpNe)
    return ConstValue::of_int(!ord || *ord != 0); // true for NaN operands
  if (!ord)
    return ConstValue::of_int(0); // the other comparisons are false for NaN
  if (op == Opcode::CmpEq)
    return ConstValue::of_int(*ord == 0);
  if (is_bool)
    return std::nullopt; // whether i1 orders as signed is the backends' business
  if (op == Opcode::CmpLt)
    return ConstValue::of_int(*ord < 0);
  if (op == Opcode::CmpLe)
    return ConstValue::of_int(*ord <= 0);
  if (op == Opcode::CmpGt)
    return ConstValue::of_int(*ord > 0);
  return ConstValue::of_int(*ord >= 0);
}

std::optional<ConstValue> cast(const ConstValue& v, const ir::Type* from, const ir::Type* to) {
  DType dst = to->dtype();
  if (from->is_float() && to->is_float())
    return ConstValue::of_float(round_to_float_type(v.f, dst));
  if (from->is_integer() && to->is_float()) // exact in double below 2^53, then rounded once
    return ConstValue::of_float(dst == DType::f32 ? double(float(v.i))
                                                  : round_to_float_type(double(v.i), dst));
  if (dst == DType::i1) // anything -> i1 compares with zero
    return ConstValue::of_int(from->is_float() ? v.f != 0 : v.i != 0);
  if (from->is_integer()) // sign-extends or truncates; i1 holds 0 or 1
    return ConstValue::of_int(wrap_to_int_type(v.i, dst));
  // float -> integer truncates toward zero; out of range is unspecified, so not folded.
  double t = std::trunc(v.f);
  unsigned bits = dtype_bits(dst);
  double limit = std::ldexp(1.0, int(bits) - 1);
  if (std::isnan(t) || t < -limit || t >= limit)
    return std::nullopt;
  return ConstValue::of_int(int64_t(t));
}

} // namespace

std::optional<ConstValue> fold_elementwise(Opcode op, const std::vector<ConstValue>& operands,
                                           const ir::Type* operand_element,
                                           const ir::Type* result_element) {
  TESSEL_ASSERT(operand_element->is_scalar() && result_element->is_scalar(),
                "folding works on scalar elements");
  // Unsigned and fp8 elements are left to the backends (the folder's integers are signed and its
  // floats have no fp8 saturation): one emitter of their rules is enough.
  for (const ir::Type* e : {operand_element, result_element})
    if (e->is_unsigned() || e->is_fp8())
      return std::nullopt;
  const ConstValue& a = operands[0];
  if (op == Opcode::Cast)
    return cast(a, operand_element, result_element);
  if (op == Opcode::Select) // operand_element is the condition's i1
    return a.i ? operands[1] : operands[2];
  const ConstValue& b = operands.size() > 1 ? operands[1] : a;
  const ConstValue& c = operands.size() > 2 ? operands[2] : a;
  DType kind = operand_element->dtype();
  bool is_compare = op == Opcode::CmpEq || op == Opcode::CmpNe || op == Opcode::CmpLt ||
                    op == Opcode::CmpLe || op == Opcode::CmpGt || op == Opcode::CmpGe;
  if (is_compare) {
    if (operand_element->is_float())
      return compare(op, order(a.f, b.f), false);
    return compare(op, order(a.i, b.i), operand_element->is_bool());
  }
  if (operand_element->is_float()) {
    std::optional<double> r;
    if (kind == DType::f64) {
      r = float_op<double>(op, a.f, b.f, c.f);
    } else if (auto rf = float_op<float>(op, float(a.f), float(b.f), float(c.f))) {
      r = round_to_float_type(double(*rf), kind);
    }
    if (!r)
      return std::nullopt;
    return ConstValue::of_float(*r);
  }
  auto r = int_op(op, a.i, b.i, dtype_bits(kind));
  if (!r)
    return std::nullopt;
  return ConstValue::of_int(wrap_to_int_type(*r, kind));
}

} // namespace tessel::codegen
