// Element math beyond the operators (issue 14): bitcast, bit counts, NaN/inf/sign tests and clamp
// with Triton's propagate_nan. bitcast, popc and clz are IR ops (scalar_semantics.cpp gives their
// bits); the tests and clamp are compositions of existing ops, so they need no backend code.
#include "tessel/lang/ops.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

#include <limits>

namespace tessel::lang {

using detail::builder_at;
using detail::fail;
using detail::type_str;
using ir::Opcode;

namespace {

ir::Value* number_operand(const Tensor& x, const SourceLoc& loc, const char* name) {
  ir::Value* v = x.value(loc);
  if (v->type()->is_pointer_like())
    fail(loc, name, "not defined for pointers (" + type_str(v->type()) + ")");
  return v;
}

ir::Value* float_operand(const Tensor& x, const SourceLoc& loc, const char* name) {
  ir::Value* v = number_operand(x, loc, name);
  if (!v->type()->is_float())
    fail(loc, name,
         "needs a float tile (f16, bf16, f32, f64), got " + type_str(v->type()) +
             "; convert first, e.g. x.to(tl::f32)");
  return v;
}

Tensor bit_count(Opcode opcode, const char* name, const Tensor& x, const SourceLoc& loc) {
  ir::Value* v = number_operand(x, loc, name);
  if (!v->type()->is_integer() || v->type()->is_bool())
    fail(loc, name,
         "needs an integer tile (i8 to i64, u8 to u64), got " + type_str(v->type()) +
             "; for a float's bits use tl::bitcast(x, DType::i32) first");
  return Tensor(builder_at(loc).value(opcode, {v}, v->type()));
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

} // namespace

Tensor bitcast(const Tensor& x, DType dtype, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* v = number_operand(x, loc, "bitcast");
  if (v->type()->is_bool() || dtype == DType::i1)
    fail(loc, "bitcast", "i1 has no bits of its own to reinterpret; use x.to(...) to convert");
  ir::Builder& b = builder_at(loc);
  const ir::Type* to = b.ctx().with_element(v->type(), b.ctx().scalar(dtype));
  if (to->element_bits() != v->type()->element_bits())
    fail(loc, "bitcast",
         "the types must have one width: " + type_str(v->type()) + " has " +
             std::to_string(v->type()->element_bits()) + "-bit elements, " + dtype_name(dtype) +
             " " + std::to_string(to->element_bits()) + "; pick a " +
             std::to_string(v->type()->element_bits()) + "-bit type");
  if (to == v->type())
    return Tensor(v);
  return Tensor(b.value(Opcode::Bitcast, {v}, to));
}

Tensor popc(const Tensor& x, Loc l) {
  return bit_count(Opcode::Popc, "popc", x, SourceLoc::from(l));
}
Tensor clz(const Tensor& x, Loc l) { return bit_count(Opcode::Clz, "clz", x, SourceLoc::from(l)); }

Tensor isnan(const Tensor& x, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  Tensor v(float_operand(x, loc, "isnan"));
  return v != v;
}

Tensor isinf(const Tensor& x, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  Tensor v(float_operand(x, loc, "isinf"));
  return abs(v, l) == std::numeric_limits<double>::infinity();
}

// The sign bit, also of -0 and of NaNs: the bits as a signed integer are negative.
Tensor signbit(const Tensor& x, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* v = float_operand(x, loc, "signbit");
  const unsigned bits = v->type()->element_bits();
  const DType as = bits == 16 ? DType::i16 : bits == 32 ? DType::i32 : DType::i64;
  return bitcast(Tensor(v), as, l) < 0;
}

// r, or NaN where a or b (whichever are floats) is NaN.
static Tensor with_nans_of(const Tensor& r, const Tensor& a, const Tensor& b, Loc l) {
  const bool fa = dtype_is_float(a.dtype(l)), fb = dtype_is_float(b.dtype(l));
  if (!fa && !fb)
    return r;
  Tensor any = fa && fb ? (isnan(a, l) | isnan(b, l)) : isnan(fa ? a : b, l);
  return where(any, kNaN, r, l);
}

Tensor minimum(const Tensor& a, const Tensor& b, PropagateNan nan, Loc l) {
  Tensor r = minimum(a, b, l);
  return nan == PropagateNan::all ? with_nans_of(r, a, b, l) : r;
}

Tensor maximum(const Tensor& a, const Tensor& b, PropagateNan nan, Loc l) {
  Tensor r = maximum(a, b, l);
  return nan == PropagateNan::all ? with_nans_of(r, a, b, l) : r;
}

Tensor clamp(const Tensor& x, const Tensor& lo, const Tensor& hi, PropagateNan nan, Loc l) {
  Tensor r = minimum(maximum(x, lo, l), hi, l);
  if (nan == PropagateNan::none || !dtype_is_float(x.dtype(l)))
    return r;
  return where(isnan(x, l), kNaN, r, l);
}

} // namespace tessel::lang
