// The math functions of issue 14 ("Element math"): Triton's tl.math names (div_rn, sqrt_rn, fdiv)
// and the libdevice functions Triton reaches through triton.language.extra.libdevice (pow, log1p,
// expm1, the trigonometric and hyperbolic functions, erfinv, cbrt, log10, exp10, hypot, copysign,
// trunc, round, rint). Each is one IR op (ops.def, "math functions"); its bits on each backend
// come from codegen/scalar_semantics.cpp. Unlike exp/log/sin (which compute integer tiles in f32,
// as tessel always has), these take float tiles only, as Triton's libdevice functions do, so that
// the f32 conversion and its rounding of large integers stay visible in the kernel.
#include "tessel/lang/ops.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

namespace tessel::lang {

using detail::builder_at;
using detail::fail;
using detail::type_str;
using ir::Opcode;

namespace {

ir::Value* float_tile(const Tensor& x, const SourceLoc& loc, const char* name) {
  ir::Value* v = x.value(loc);
  if (v->type()->is_pointer_like())
    fail(loc, name, "not defined for pointers (" + type_str(v->type()) + ")");
  if (!v->type()->is_float() || v->type()->is_fp8())
    fail(loc, name,
         "needs a float tile (f16, bf16, f32, f64), got " + type_str(v->type()) +
             "; convert first, e.g. x.to(tl::f32)");
  return v;
}

Tensor unary_math(Opcode opcode, const char* name, const Tensor& x, Loc l) {
  const SourceLoc loc = SourceLoc::from(l);
  ir::Value* v = float_tile(x, loc, name);
  return Tensor(builder_at(loc).value(opcode, {v}, v->type()));
}

// Both operands float tiles, promoted to one type (f16 with bf16 gives f32) and broadcast.
Tensor binary_math(Opcode opcode, const char* name, const Tensor& x, const Tensor& y, Loc l) {
  const SourceLoc loc = SourceLoc::from(l);
  ir::Value* a = float_tile(x, loc, name);
  ir::Value* c = float_tile(y, loc, name);
  const DType t = detail::promote(x.dtype(l), y.dtype(l));
  Shape shape = detail::broadcast_shapes(a->type()->dims(), c->type()->dims(), loc, name);
  a = detail::broadcast_to_shape(detail::convert(a, t, loc), shape, loc, name);
  c = detail::broadcast_to_shape(detail::convert(c, t, loc), shape, loc, name);
  return Tensor(builder_at(loc).value(opcode, {a, c}, a->type()));
}

// A C++ number next to a float tile: a scalar of the tile's type.
Tensor scalar_of(const char* name, const Tensor& x, double v, Loc l) {
  const SourceLoc loc = SourceLoc::from(l);
  const ir::Value* t = float_tile(x, loc, name);
  return Tensor(detail::constant_like(v, t->type()->element()->dtype(), {}, loc));
}

} // namespace

#define TESSEL_UNARY_MATH(fn, opcode)                                                              \
  Tensor fn(const Tensor& x, Loc l) { return unary_math(Opcode::opcode, #fn, x, l); }
TESSEL_UNARY_MATH(sqrt_rn, SqrtRn)
TESSEL_UNARY_MATH(trunc, Trunc)
TESSEL_UNARY_MATH(round, Round)
TESSEL_UNARY_MATH(rint, Rint)
TESSEL_UNARY_MATH(log1p, Log1p)
TESSEL_UNARY_MATH(expm1, Expm1)
TESSEL_UNARY_MATH(sinh, Sinh)
TESSEL_UNARY_MATH(cosh, Cosh)
TESSEL_UNARY_MATH(tan, Tan)
TESSEL_UNARY_MATH(atan, Atan)
TESSEL_UNARY_MATH(asin, Asin)
TESSEL_UNARY_MATH(acos, Acos)
TESSEL_UNARY_MATH(erfinv, Erfinv)
TESSEL_UNARY_MATH(cbrt, Cbrt)
TESSEL_UNARY_MATH(log10, Log10)
TESSEL_UNARY_MATH(exp10, Exp10)
#undef TESSEL_UNARY_MATH

#define TESSEL_BINARY_MATH(fn, opcode)                                                             \
  Tensor fn(const Tensor& x, const Tensor& y, Loc l) {                                             \
    return binary_math(Opcode::opcode, #fn, x, y, l);                                              \
  }                                                                                                \
  Tensor fn(const Tensor& x, double y, Loc l) {                                                    \
    return binary_math(Opcode::opcode, #fn, x, scalar_of(#fn, x, y, l), l);                        \
  }
TESSEL_BINARY_MATH(div_rn, DivRn)
TESSEL_BINARY_MATH(fdiv, Fdiv)
TESSEL_BINARY_MATH(pow, Pow)
TESSEL_BINARY_MATH(atan2, Atan2)
TESSEL_BINARY_MATH(hypot, Hypot)
TESSEL_BINARY_MATH(copysign, Copysign)
#undef TESSEL_BINARY_MATH

// Triton's cdiv: (x + d - 1) / d on integers, with `/`'s truncation (so the ceiling for x >= 0 and
// d > 0, which is what grids and loop counts need).
static void check_cdiv_operand(const Tensor& t, const SourceLoc& loc) {
  ir::Value* v = t.value(loc);
  if (v->type()->is_pointer_like() || !v->type()->is_integer() || v->type()->is_bool())
    fail(loc, "cdiv",
         "needs integer operands (i8 to i64, u8 to u64), got " + type_str(v->type()) +
             "; for floats use tl::ceil(x / d)");
}

Tensor cdiv(const Tensor& x, const Tensor& d, Loc l) {
  const SourceLoc loc = SourceLoc::from(l);
  check_cdiv_operand(x, loc);
  check_cdiv_operand(d, loc);
  return (x + d - 1) / d;
}

Tensor cdiv(const Tensor& x, int64_t d, Loc l) {
  check_cdiv_operand(x, SourceLoc::from(l));
  return (x + (d - 1)) / d;
}

} // namespace tessel::lang
