// Elementwise operations: operators, comparisons, where/minimum/maximum, casts and math. Each
// broadcasts its operands (NumPy rules), promotes their element types, and records one IR op.
#include "tessel/lang/ops.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

#include <cmath>

namespace tessel::lang {

using detail::broadcast_shapes;
using detail::broadcast_to_shape;
using detail::builder_at;
using detail::convert;
using detail::fail;
using detail::type_str;
using ir::Opcode;

namespace {

struct BinaryInfo {
  const char* symbol;
  Opcode opcode;
  bool integer_only;
  bool comparison;
};

BinaryInfo info_of(BinaryOp op) {
  switch (op) {
  case BinaryOp::Add:
    return {"+", Opcode::Add, false, false};
  case BinaryOp::Sub:
    return {"-", Opcode::Sub, false, false};
  case BinaryOp::Mul:
    return {"*", Opcode::Mul, false, false};
  case BinaryOp::Div:
    return {"/", Opcode::Div, false, false};
  case BinaryOp::Rem:
    return {"%", Opcode::Rem, false, false};
  case BinaryOp::And:
    return {"&", Opcode::And, true, false};
  case BinaryOp::Or:
    return {"|", Opcode::Or, true, false};
  case BinaryOp::Xor:
    return {"^", Opcode::Xor, true, false};
  case BinaryOp::Shl:
    return {"<<", Opcode::Shl, true, false};
  case BinaryOp::Shr:
    return {">>", Opcode::Shr, true, false};
  case BinaryOp::Lt:
    return {"<", Opcode::CmpLt, false, true};
  case BinaryOp::Le:
    return {"<=", Opcode::CmpLe, false, true};
  case BinaryOp::Gt:
    return {">", Opcode::CmpGt, false, true};
  case BinaryOp::Ge:
    return {">=", Opcode::CmpGe, false, true};
  case BinaryOp::Eq:
    return {"==", Opcode::CmpEq, false, true};
  case BinaryOp::Ne:
    return {"!=", Opcode::CmpNe, false, true};
  }
  TESSEL_UNREACHABLE("bad binary op");
}

std::string op_name(const BinaryInfo& info) { return std::string("operator") + info.symbol; }

// fp8 is a storage and conversion format: no arithmetic, comparison or math on it (Triton computes
// it through f16/f32 implicitly; tessel makes the conversion, and so its rounding, visible).
void reject_fp8(DType t, const SourceLoc& loc, std::string_view op) {
  if (dtype_is_fp8(t))
    fail(loc, op,
         std::string("arithmetic on ") + dtype_name(t) +
             " is not defined (fp8 is a storage format); convert first, e.g. x.to(tl::f32), and "
             "back with .to(tl::" +
             dtype_name(t) + ")");
}

// ptr +/- integer offsets.
Tensor pointer_arith(BinaryOp op, ir::Value* ptr, ir::Value* offset, const SourceLoc& loc) {
  const BinaryInfo info = info_of(op);
  if (op != BinaryOp::Add && op != BinaryOp::Sub)
    fail(loc, op_name(info),
         "not defined for pointers (" + type_str(ptr->type()) +
             "); pointers support + and - with integer offsets");
  if (offset->type()->is_pointer_like())
    fail(loc, op_name(info),
         "cannot combine two pointers (" + type_str(ptr->type()) + " and " +
             type_str(offset->type()) + ")");
  if (!offset->type()->is_integer() || offset->type()->is_bool())
    fail(loc, op_name(info), "pointer offsets must be integers, got " + type_str(offset->type()));
  Shape shape = broadcast_shapes(ptr->type()->dims(), offset->type()->dims(), loc, op_name(info));
  ptr = broadcast_to_shape(ptr, shape, loc, op_name(info));
  offset = broadcast_to_shape(offset, shape, loc, op_name(info));
  ir::Builder& b = builder_at(loc);
  if (op == BinaryOp::Sub)
    offset = b.value(Opcode::Neg, {offset}, offset->type());
  return Tensor(b.value(Opcode::AddPtr, {ptr, offset}, ptr->type()));
}

Tensor arith(BinaryOp op, ir::Value* a, ir::Value* c, const SourceLoc& loc) {
  const BinaryInfo info = info_of(op);
  if (a->type()->is_pointer_like())
    return pointer_arith(op, a, c, loc);
  if (c->type()->is_pointer_like()) {
    if (op != BinaryOp::Add)
      fail(loc, op_name(info),
           "an integer minus a pointer is not defined (" + type_str(a->type()) + " - " +
               type_str(c->type()) + ")");
    return pointer_arith(op, c, a, loc);
  }
  DType ta = a->type()->element()->dtype(), tc = c->type()->element()->dtype();
  DType t = detail::promote(ta, tc);
  reject_fp8(t, loc, op_name(info));
  if ((op == BinaryOp::Div || op == BinaryOp::Rem) && ta != DType::i1 && tc != DType::i1 &&
      !dtype_is_float(t) && dtype_is_unsigned(ta) != dtype_is_unsigned(tc))
    fail(loc, op_name(info),
         "mixes a signed and an unsigned operand (" + type_str(a->type()) + " and " +
             type_str(c->type()) +
             "), whose quotient differs by signedness; convert one with "
             ".to() first");
  if (info.integer_only && dtype_is_float(t))
    fail(loc, op_name(info),
         "needs integer operands, got " + type_str(a->type()) + " and " + type_str(c->type()));
  Shape shape = broadcast_shapes(a->type()->dims(), c->type()->dims(), loc, op_name(info));
  a = broadcast_to_shape(convert(a, t, loc), shape, loc, op_name(info));
  c = broadcast_to_shape(convert(c, t, loc), shape, loc, op_name(info));
  ir::Builder& b = builder_at(loc);
  const ir::Type* result =
      info.comparison ? b.ctx().with_element(a->type(), b.ctx().i1()) : a->type();
  return Tensor(b.value(info.opcode, {a, c}, result));
}

bool is_commutative(BinaryOp op) {
  return op == BinaryOp::Add || op == BinaryOp::Mul || op == BinaryOp::And || op == BinaryOp::Or ||
         op == BinaryOp::Xor || op == BinaryOp::Eq || op == BinaryOp::Ne;
}

Tensor unary(Opcode opcode, const char* name, const Tensor& x, const SourceLoc& loc,
             bool float_only) {
  ir::Value* v = x.value(loc);
  if (v->type()->is_pointer_like())
    fail(loc, name, "not defined for pointers (" + type_str(v->type()) + ")");
  reject_fp8(v->type()->element()->dtype(), loc, name);
  if (float_only && !v->type()->is_float())
    v = convert(v, DType::f32, loc); // math on integers computes in f32
  ir::Builder& b = builder_at(loc);
  return Tensor(b.value(opcode, {v}, v->type()));
}

Tensor min_max(Opcode opcode, const char* name, const Tensor& x, const Tensor& y,
               const SourceLoc& loc) {
  ir::Value* a = x.value(loc);
  ir::Value* c = y.value(loc);
  if (a->type()->is_pointer_like() || c->type()->is_pointer_like())
    fail(loc, name, "not defined for pointers");
  DType t = detail::promote(x.dtype(), y.dtype());
  reject_fp8(t, loc, name);
  Shape shape = broadcast_shapes(a->type()->dims(), c->type()->dims(), loc, name);
  a = broadcast_to_shape(convert(a, t, loc), shape, loc, name);
  c = broadcast_to_shape(convert(c, t, loc), shape, loc, name);
  return Tensor(builder_at(loc).value(opcode, {a, c}, a->type()));
}

} // namespace

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, SourceLoc loc) {
  return arith(op, a.value(loc), b.value(loc), loc);
}

Tensor binary_scalar(BinaryOp op, const Tensor& t, double s, bool integral, bool scalar_on_left,
                     SourceLoc loc) {
  ir::Value* v = t.value(loc);
  DType dt;
  if (v->type()->is_pointer_like()) {
    if (!integral)
      fail(loc, op_name(info_of(op)), "pointer offsets must be integers, got " + std::to_string(s));
    dt = integer_fits(s, DType::i32) ? DType::i32 : DType::i64;
  } else {
    dt = t.dtype();
    if (!integral && !dtype_is_float(dt))
      dt = DType::f32; // an integer tile with a floating-point scalar computes in f32
  }
  ir::Value* c = detail::constant_like(s, dt, {}, loc);
  if (scalar_on_left && !is_commutative(op))
    return arith(op, c, v, loc);
  return arith(op, v, c, loc);
}

Tensor operator-(At<Tensor> a) { return unary(Opcode::Neg, "operator-", a.value, a.loc, false); }

Tensor operator~(At<Tensor> a) {
  ir::Value* v = a.value.value(a.loc);
  if (v->type()->is_pointer_like() || !v->type()->is_integer())
    fail(a.loc, "operator~", "needs an integer operand, got " + type_str(v->type()));
  return Tensor(builder_at(a.loc).value(Opcode::Not, {v}, v->type()));
}

Tensor operator!(const Tensor& a) {
  if (a.is_pointer())
    fail({}, "operator!", "not defined for pointers; compare the offsets instead");
  return binary_scalar(BinaryOp::Eq, a, 0, true, false, {});
}

Tensor Tensor::to(DType t, std::source_location loc) const { return cast(*this, t, loc); }

Tensor cast(const Tensor& x, DType dtype, Loc loc) {
  SourceLoc at = SourceLoc::from(loc);
  return Tensor(convert(x.value(at), dtype, at));
}

Tensor cast(const Tensor& x, DType dtype, CastOptions options, Loc loc) {
  SourceLoc at = SourceLoc::from(loc);
  if (!options.saturate)
    return cast(x, dtype, loc);
  if (!dtype_is_fp8(dtype))
    fail(at, "cast",
         std::string("saturate applies to fp8 destinations (f8e4m3, f8e5m2), not ") +
             dtype_name(dtype) +
             "; float -> integer casts always saturate, and other float "
             "casts round to infinity as IEEE does — clamp with tl::minimum/maximum first");
  ir::Value* v = x.value(at);
  if (v->type()->is_pointer_like())
    fail(at, "cast",
         "cannot convert a pointer tile " + type_str(v->type()) + " to " + dtype_name(dtype));
  ir::Builder& b = builder_at(at);
  const ir::Type* to = b.ctx().with_element(v->type(), b.ctx().scalar(dtype));
  return Tensor(b.value(Opcode::CastSat, {v}, to));
}

// ---- int4 packed in bytes -----------------------------------------------------------------------

static void check_int4_operand(const Tensor& t, const SourceLoc& loc, std::string_view op,
                               std::string_view what) {
  if (t.is_pointer() || !t.value(loc)->type()->is_integer() || t.dtype() == DType::i1)
    fail(loc, op,
         std::string(what) + " must be an integer tile, got " + type_str(t.value(loc)->type()));
}

std::pair<Tensor, Tensor> unpack_int4(const Tensor& packed, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  if (packed.is_pointer() || (packed.dtype() != DType::i8 && packed.dtype() != DType::u8))
    fail(loc, "unpack_int4",
         "takes the packed bytes as an i8 (signed nibbles) or u8 (unsigned nibbles) tile, got " +
             type_str(packed.value(loc)->type()) + "; convert it with .to(tl::i8) or .to(tl::u8)");
  // shr is arithmetic on i8 and logical on u8: one formula gives both variants.
  Tensor lo =
      binary_scalar(BinaryOp::Shr, binary_scalar(BinaryOp::Shl, packed, 4, true, false, loc), 4,
                    true, false, loc);
  Tensor hi = binary_scalar(BinaryOp::Shr, packed, 4, true, false, loc);
  return {lo, hi};
}

Tensor pack_int4(const Tensor& lo, const Tensor& hi, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  check_int4_operand(lo, loc, "pack_int4", "lo");
  check_int4_operand(hi, loc, "pack_int4", "hi");
  const DType byte = dtype_is_unsigned(lo.dtype()) ? DType::u8 : DType::i8;
  Tensor low = binary_scalar(BinaryOp::And, cast(lo, byte, l), 15, true, false, loc);
  Tensor high = binary_scalar(BinaryOp::Shl, cast(hi, byte, l), 4, true, false, loc);
  return binary(BinaryOp::Or, low, high, loc);
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& c, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* k = cond.value(loc);
  if (!k->type()->is_bool())
    fail(loc, "where",
         "the condition must be a boolean (i1) tile, got " + type_str(k->type()) +
             "; compare it, e.g. x != 0");
  ir::Value* x = a.value(loc);
  ir::Value* y = c.value(loc);
  bool ptrs = x->type()->is_pointer_like();
  if (ptrs != y->type()->is_pointer_like())
    fail(loc, "where", "cannot select between a pointer and a number");
  Shape shape = broadcast_shapes(x->type()->dims(), y->type()->dims(), loc, "where");
  shape = broadcast_shapes(shape, k->type()->dims(), loc, "where");
  if (!ptrs) {
    DType t = detail::promote(a.dtype(), c.dtype());
    x = convert(x, t, loc);
    y = convert(y, t, loc);
  } else if (x->type()->element() != y->type()->element()) {
    fail(loc, "where",
         "pointer types differ: " + type_str(x->type()) + " and " + type_str(y->type()));
  }
  x = broadcast_to_shape(x, shape, loc, "where");
  y = broadcast_to_shape(y, shape, loc, "where");
  k = broadcast_to_shape(k, shape, loc, "where");
  return Tensor(builder_at(loc).value(Opcode::Select, {k, x, y}, x->type()));
}

// A C++ scalar next to tile `t`: t's element type, or f32 when t holds integers and the scalar
// is not one (the promotion rule of the operators).
static Tensor scalar_next_to(const Tensor& t, double v, const SourceLoc& loc) {
  DType dt = t.dtype();
  if (!dtype_is_float(dt) && v != std::trunc(v))
    dt = DType::f32;
  return Tensor(detail::constant_like(v, dt, {}, loc));
}

Tensor where(const Tensor& cond, const Tensor& a, double c, Loc l) {
  return where(cond, a, scalar_next_to(a, c, SourceLoc::from(l)), l);
}
Tensor where(const Tensor& cond, double a, const Tensor& c, Loc l) {
  return where(cond, scalar_next_to(c, a, SourceLoc::from(l)), c, l);
}

Tensor minimum(const Tensor& a, const Tensor& b, Loc l) {
  return min_max(Opcode::Min, "minimum", a, b, SourceLoc::from(l));
}
Tensor maximum(const Tensor& a, const Tensor& b, Loc l) {
  return min_max(Opcode::Max, "maximum", a, b, SourceLoc::from(l));
}
Tensor minimum(const Tensor& a, double b, Loc l) {
  return minimum(a, scalar_next_to(a, b, SourceLoc::from(l)), l);
}
Tensor maximum(const Tensor& a, double b, Loc l) {
  return maximum(a, scalar_next_to(a, b, SourceLoc::from(l)), l);
}

Tensor fma(const Tensor& a, const Tensor& b, const Tensor& c, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  DType t = detail::promote(detail::promote(a.dtype(), b.dtype()), c.dtype());
  reject_fp8(t, loc, "fma");
  if (!dtype_is_float(t))
    t = DType::f32;
  Shape shape = broadcast_shapes(a.shape(), b.shape(), loc, "fma");
  shape = broadcast_shapes(shape, c.shape(), loc, "fma");
  std::vector<ir::Value*> ops;
  for (const Tensor* x : {&a, &b, &c}) {
    if (x->is_pointer())
      fail(loc, "fma", "not defined for pointers");
    ops.push_back(broadcast_to_shape(convert(x->value(), t, loc), shape, loc, "fma"));
  }
  return Tensor(builder_at(loc).value(Opcode::Fma, ops, ops[0]->type()));
}

#define TESSEL_MATH(fn, opcode)                                                                    \
  Tensor fn(const Tensor& x, Loc l) {                                                              \
    return unary(Opcode::opcode, #fn, x, SourceLoc::from(l), /*float_only=*/true);                 \
  }
TESSEL_MATH(exp, Exp)
TESSEL_MATH(exp2, Exp2)
TESSEL_MATH(log, Log)
TESSEL_MATH(log2, Log2)
TESSEL_MATH(sqrt, Sqrt)
TESSEL_MATH(rsqrt, Rsqrt)
TESSEL_MATH(sin, Sin)
TESSEL_MATH(cos, Cos)
TESSEL_MATH(erf, Erf)
TESSEL_MATH(tanh, Tanh)
TESSEL_MATH(sigmoid, Sigmoid)
TESSEL_MATH(floor, Floor)
TESSEL_MATH(ceil, Ceil)
#undef TESSEL_MATH

Tensor umulhi(const Tensor& x, const Tensor& y, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* a = x.value(loc);
  ir::Value* c = y.value(loc);
  for (ir::Value* v : {a, c})
    if (v->type()->is_pointer_like() || !v->type()->is_integer() || v->type()->is_bool())
      fail(loc, "umulhi",
           "needs integer operands (i8 to i64), got " + type_str(a->type()) + " and " +
               type_str(c->type()));
  DType t = detail::promote(x.dtype(), y.dtype());
  Shape shape = broadcast_shapes(a->type()->dims(), c->type()->dims(), loc, "umulhi");
  a = broadcast_to_shape(convert(a, t, loc), shape, loc, "umulhi");
  c = broadcast_to_shape(convert(c, t, loc), shape, loc, "umulhi");
  return Tensor(builder_at(loc).value(Opcode::Umulhi, {a, c}, a->type()));
}

Tensor abs(const Tensor& x, Loc l) {
  return unary(Opcode::Abs, "abs", x, SourceLoc::from(l), /*float_only=*/false);
}

} // namespace tessel::lang
