// The elementwise ops of the reference interpreter, one element at a time, from the tables of
// docs/semantics.md (integers, floats, conversions) — see reference_scalars.h for the value and
// error-bound model. Each rule names the document's row it follows.
#include "ir_interpreter.h"

#include <bit>
#include <cmath>
#include <limits>

namespace tessel::fuzz {

namespace {

using ir::Opcode;
using LD = long double;

[[noreturn]] void unsupported(Opcode op, DType k) {
  throw Unsupported(std::string("interpreter does not cover op ") + ir::op_info(op).name + " on " +
                    dtype_name(k));
}

uint64_t mask_of(DType k) {
  unsigned w = width_of(k);
  return w >= 64 ? ~uint64_t(0) : (uint64_t(1) << w) - 1;
}
uint64_t u(int64_t v) { return uint64_t(v); }
int64_t min_of(DType k) { return is_unsigned(k) ? 0 : wrap(k, uint64_t(1) << (width_of(k) - 1)); }

bool less(DType k, int64_t a, int64_t b) { return is_unsigned(k) ? u(a) < u(b) : a < b; }

// "/ truncates toward zero; x / 0 = x; INT_MIN / -1 = INT_MIN" (and % gives the dividend's sign,
// x % 0 = 0, INT_MIN % -1 = 0); unsigned / % are unsigned.
int64_t int_div(DType k, int64_t a, int64_t b, bool rem) {
  if (b == 0)
    return rem ? 0 : a;
  if (is_unsigned(k))
    return wrap(k, rem ? u(a) % u(b) : u(a) / u(b));
  if (a == min_of(k) && b == -1)
    return rem ? 0 : a;
  return wrap(k, u(rem ? a % b : a / b));
}

// "shift amounts are taken modulo the width; >> is arithmetic on signed types, logical on
// unsigned".
int64_t int_shift(DType k, int64_t a, int64_t b, bool left) {
  unsigned amount = unsigned(u(b) & (width_of(k) - 1));
  if (left)
    return wrap(k, u(a) << amount);
  return is_unsigned(k) ? wrap(k, u(a) >> amount) : wrap(k, u(a >> amount));
}

int64_t umulhi(DType k, int64_t a, int64_t b) {
  unsigned __int128 p = (unsigned __int128)(u(a) & mask_of(k)) * (u(b) & mask_of(k));
  return wrap(k, uint64_t(p >> width_of(k)));
}

bool int_compare(Opcode op, DType k, int64_t a, int64_t b) {
  switch (op) {
  case Opcode::CmpEq:
    return a == b;
  case Opcode::CmpNe:
    return a != b;
  case Opcode::CmpLt:
    return less(k, a, b);
  case Opcode::CmpLe:
    return !less(k, b, a);
  case Opcode::CmpGt:
    return less(k, b, a);
  case Opcode::CmpGe:
    return !less(k, a, b);
  default:
    unsupported(op, k);
  }
}

int64_t int_op(Opcode op, DType k, std::span<const Elem> x) {
  const int64_t a = x[0].i, b = x.size() > 1 ? x[1].i : 0;
  switch (op) {
  case Opcode::Add:
    return wrap(k, u(a) + u(b));
  case Opcode::Sub:
    return wrap(k, u(a) - u(b));
  case Opcode::Mul:
    return wrap(k, u(a) * u(b));
  case Opcode::Div:
    return int_div(k, a, b, /*rem=*/false);
  case Opcode::Rem:
    return int_div(k, a, b, /*rem=*/true);
  case Opcode::Min:
    return less(k, b, a) ? b : a;
  case Opcode::Max:
    return less(k, a, b) ? b : a;
  case Opcode::And:
    return wrap(k, u(a) & u(b));
  case Opcode::Or:
    return wrap(k, u(a) | u(b));
  case Opcode::Xor:
    return wrap(k, u(a) ^ u(b));
  case Opcode::Shl:
    return int_shift(k, a, b, /*left=*/true);
  case Opcode::Shr:
    return int_shift(k, a, b, /*left=*/false);
  case Opcode::Neg:
    return wrap(k, 0 - u(a));
  case Opcode::Not:
    return wrap(k, ~u(a));
  case Opcode::Abs: // abs(INT_MIN) = INT_MIN; an unsigned value is its own abs
    return is_unsigned(k) || a >= 0 ? a : wrap(k, 0 - u(a));
  case Opcode::Umulhi:
    return umulhi(k, a, b);
  case Opcode::Popc:
    return std::popcount(u(a) & mask_of(k));
  case Opcode::Clz:
    return std::countl_zero(u(a) & mask_of(k)) - (64 - int(width_of(k)));
  default:
    unsupported(op, k);
  }
}

// "f16/bf16 arithmetic is computed in f32 and rounded once after each op": the f32 result, then
// the narrow type. long double holds every f32 sum, product and quotient closely enough that
// rounding it to f32 is the correctly rounded f32 result (64 >= 2 * 24 + 2 bits).
double finish(DType k, LD exact) {
  if (k == DType::f64)
    return double(exact); // only exact results reach here (f64_op computes the rest in double)
  if (k == DType::f32)
    return round_to(k, exact);
  return round_to(k, round_to(DType::f32, exact));
}

double max_finite(DType k) {
  return (2 - ulp(k, 1.0)) * std::ldexp(1.0, k == DType::f16 ? 15 : 127);
}

// "min/max return the other operand when one is NaN; min(-0, +0) = -0, max(-0, +0) = +0".
double float_min_max(double a, double b, bool is_max) {
  if (std::isnan(a))
    return b;
  if (std::isnan(b))
    return a;
  if (a == b)
    return std::signbit(a) == is_max ? b : a;
  return (a < b) == is_max ? b : a;
}

bool float_compare(Opcode op, DType k, double a, double b) {
  switch (op) {
  case Opcode::CmpEq:
    return a == b;
  case Opcode::CmpNe:
    return a != b; // true when either is NaN
  case Opcode::CmpLt:
    return a < b;
  case Opcode::CmpLe:
    return a <= b;
  case Opcode::CmpGt:
    return a > b;
  case Opcode::CmpGe:
    return a >= b;
  default:
    unsupported(op, k);
  }
}

// The math library's functions: "within 2 ulp in f32; special values exact". The exact value is
// computed in long double; the bound is 2 f32 ulps, plus one ulp of a narrower result type (the
// f32 result may sit on the other side of its rounding boundary).
bool is_approximate(Opcode op) {
  switch (op) {
  case Opcode::Exp:
  case Opcode::Exp2:
  case Opcode::Log:
  case Opcode::Log2:
  case Opcode::Rsqrt:
  case Opcode::Sin:
  case Opcode::Cos:
  case Opcode::Erf:
  case Opcode::Tanh:
  case Opcode::Sigmoid:
    return true;
  default:
    return false;
  }
}

LD math(Opcode op, LD x) {
  switch (op) {
  case Opcode::Exp:
    return std::exp(x);
  case Opcode::Exp2:
    return std::exp2(x);
  case Opcode::Log:
    return std::log(x);
  case Opcode::Log2:
    return std::log2(x);
  case Opcode::Rsqrt:
    return 1 / std::sqrt(x);
  case Opcode::Sin:
    return std::sin(x);
  case Opcode::Cos:
    return std::cos(x);
  case Opcode::Erf:
    return std::erf(x);
  case Opcode::Tanh:
    return std::tanh(x);
  case Opcode::Sigmoid:
    return 1 / (1 + std::exp(-x));
  default:
    unsupported(op, DType::f32);
  }
}

Elem approximate(Opcode op, DType k, double x) {
  if (k == DType::f64)
    unsupported(op, k); // the document bounds the f32 math library only
  LD exact = math(op, x);
  Elem r;
  r.f = finish(k, exact);
  if (std::isnan(exact) || std::isinf(exact) || std::isinf(x))
    return r; // special values are exact
  if (std::fabs(double(exact)) > 0.99 * max_finite(k)) {
    r.err = kOpaque; // the rounding may overflow on one side and not the other
    return r;
  }
  r.err = 2 * ulp(DType::f32, double(exact)) + (k == DType::f32 ? 0 : ulp(k, double(exact)));
  return r;
}

double float_op(Opcode op, DType k, std::span<const Elem> x) {
  const LD a = x[0].f, b = x.size() > 1 ? x[1].f : 0;
  switch (op) {
  case Opcode::Add:
    return finish(k, a + b);
  case Opcode::Sub:
    return finish(k, a - b);
  case Opcode::Mul:
    return finish(k, a * b);
  case Opcode::Div:
    return finish(k, a / b);
  case Opcode::Rem: // the exact fmod: x % 0 and inf % y are NaN, x % inf = x
    return finish(k, std::fmod(a, b));
  case Opcode::Min:
    return float_min_max(x[0].f, x[1].f, /*is_max=*/false);
  case Opcode::Max:
    return float_min_max(x[0].f, x[1].f, /*is_max=*/true);
  case Opcode::Neg:
    return -x[0].f;
  case Opcode::Abs:
    return std::fabs(x[0].f);
  case Opcode::Sqrt:
    return finish(k, std::sqrt(a));
  case Opcode::Floor:
    return std::floor(x[0].f);
  case Opcode::Ceil:
    return std::ceil(x[0].f);
  case Opcode::Fma: // rounds once (an f32 fma, then the narrow type)
    return finish(k, std::fma(float(x[0].f), float(x[1].f), float(x[2].f)));
  default:
    unsupported(op, k);
  }
}

// f64 arithmetic in double itself: long double would round twice.
double f64_op(Opcode op, std::span<const Elem> x) {
  const double a = x[0].f, b = x.size() > 1 ? x[1].f : 0;
  switch (op) {
  case Opcode::Add:
    return a + b;
  case Opcode::Sub:
    return a - b;
  case Opcode::Mul:
    return a * b;
  case Opcode::Div:
    return a / b;
  case Opcode::Sqrt:
    return std::sqrt(a);
  case Opcode::Fma:
    return std::fma(a, b, x[2].f);
  default:
    return float_op(op, DType::f64, x); // the exact ones
  }
}

// Conversions: docs/semantics.md "Conversions".
Elem cast(DType from, DType to, const Elem& x) {
  Elem r;
  if (to == DType::i1) { // compares with zero: NaN -> true, -0 -> false
    r.i = is_float(from) ? (x.f != 0 || std::isnan(x.f)) : x.i != 0;
    return r;
  }
  if (is_float(from) && is_float(to)) { // one rounding from the exact value
    r.f = round_to(to, x.f);
    return r;
  }
  if (!is_float(from) && !is_float(to)) { // extend by the source's signedness, or truncate
    r.i = wrap(to, u(x.i));
    return r;
  }
  if (!is_float(from)) { // integer -> float: one rounding (long double holds every 64-bit value)
    LD v = from == DType::u64 ? LD(u(x.i)) : LD(x.i);
    r.f = round_to(to, v);
    return r;
  }
  // float -> integer: truncate toward zero, saturate, NaN -> 0 (unsigned: negatives -> 0).
  if (std::isnan(x.f))
    return r;
  LD t = std::trunc(LD(x.f));
  const LD lo = is_unsigned(to) ? 0 : -std::ldexp(1.0L, int(width_of(to)) - 1);
  const LD hi = std::ldexp(1.0L, int(width_of(to)) - (is_unsigned(to) ? 0 : 1)) - 1;
  t = std::max(lo, std::min(hi, t));
  r.i = to == DType::u64 ? int64_t(uint64_t(t)) : int64_t(t);
  return r;
}

Elem bitcast(DType from, DType to, const Elem& x) {
  uint8_t bytes[8] = {};
  store_elem(from, x, bytes);
  return load_elem(to, bytes);
}

// The error bound of a result whose operands carry bounds: a first-order propagation for the ops
// where it is simple (sums, products, negation, float conversions), "opaque" for the rest.
double propagated_error(Opcode op, DType out, std::span<const Elem> x, const Elem& r) {
  double e0 = x[0].err, e1 = x.size() > 1 ? x[1].err : 0;
  double rounding = is_float(out) ? ulp(out, std::fabs(r.f) + e0 + e1) : 0;
  if (!is_float(out) || std::isinf(e0) || std::isinf(e1))
    return kOpaque;
  switch (op) {
  case Opcode::Add:
  case Opcode::Sub:
    return e0 + e1 + rounding;
  case Opcode::Mul:
    return std::fabs(x[0].f) * e1 + std::fabs(x[1].f) * e0 + e0 * e1 + rounding;
  case Opcode::Neg:
  case Opcode::Abs:
    return e0;
  case Opcode::Cast:
    return e0 + rounding;
  default:
    return kOpaque;
  }
}

Elem eval_exact(Opcode op, DType in, DType out, std::span<const Elem> x) {
  Elem r;
  if (op == Opcode::Cast)
    return cast(in, out, x[0]);
  if (op == Opcode::Bitcast)
    return bitcast(in, out, x[0]);
  if (ir::has_trait(op, ir::COMPARISON)) {
    r.i =
        is_float(in) ? float_compare(op, in, x[0].f, x[1].f) : int_compare(op, in, x[0].i, x[1].i);
    return r;
  }
  if (!is_float(in)) {
    r.i = int_op(op, in, x);
    return r;
  }
  if (is_approximate(op))
    return approximate(op, in, x[0].f);
  r.f = in == DType::f64 ? f64_op(op, x) : float_op(op, in, x);
  return r;
}

} // namespace

Elem eval_elementwise(Opcode op, DType in, DType out, std::span<const Elem> operands) {
  if (in == DType::f8e4m3 || in == DType::f8e5m2 || out == DType::f8e4m3 || out == DType::f8e5m2 ||
      op == Opcode::CastSat)
    unsupported(op, in);
  if (op == Opcode::Select) {
    const Elem& c = operands[0];
    Elem r = c.i ? operands[1] : operands[2];
    if (c.err > 0)
      r.err = kOpaque;
    return r;
  }
  Elem r = eval_exact(op, in, out, operands);
  bool bounded_inputs = false;
  for (const Elem& e : operands)
    bounded_inputs = bounded_inputs || e.err > 0;
  if (bounded_inputs)
    r.err = std::max(r.err, propagated_error(op, out, operands, r));
  return r;
}

} // namespace tessel::fuzz
