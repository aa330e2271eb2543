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

std::string op_name(const BinaryInfo& info) {
  return std::string("operator") + info.symbol;
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
  DType ta = detail::to_dtype(a->type()->element()), tc = detail::to_dtype(c->type()->element());
  DType t = detail::promote(ta, tc);
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

Tensor operator-(At<Tensor> a) {
  return unary(Opcode::Neg, "operator-", a.value, a.loc, false);
}

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

Tensor Tensor::to(DType t, std::source_location loc) const {
  return cast(*this, t, loc);
}

Tensor cast(const Tensor& x, DType dtype, Loc loc) {
  SourceLoc at = SourceLoc::from(loc);
  return Tensor(convert(x.value(at), dtype, at));
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
