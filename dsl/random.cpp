// Counter-based random numbers: Philox 4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random
// numbers: as easy as 1, 2, 3", SC'11), with the constants of Random123 and Triton's (seed,
// offset) convention, and the uniform and normal floats made from its words.
//
// Philox is emitted here, at trace time, as ordinary integer IR ops (umulhi, mul, xor, add, casts)
// rather than as an op of its own or a backend routine: each of those ops already has one scalar
// semantics that both backends share (codegen/scalar_semantics.cpp) and that the CPU-vs-simulator
// table test checks bit for bit, so the CPU and the GPU cannot disagree on a random number; the
// rounds are visible in TESSEL_DUMP=ir; the key schedule, a function of the scalar seed alone, is
// computed once per program (scalar ops) and folded when the seed is a constant; and no backend
// needs a multi-result elementwise op. The cost is IR size: about 90 ops per call.
#include "tessel/lang/ops.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

#include <initializer_list>
#include <numbers>

namespace tessel::lang {

using detail::fail;
using detail::type_str;
using ir::Opcode;

namespace {

// Random123's philox.h: the round multipliers and the key increments (golden ratio, sqrt(3) - 1).
constexpr uint32_t kPhiloxM0 = 0xD2511F53, kPhiloxM1 = 0xCD9E8D57;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9, kPhiloxW1 = 0xBB67AE85;
constexpr int kPhiloxRounds = 10;
constexpr double kTwoToMinus24 = 0x1p-24;

// A 64-bit quantity as two 32-bit words (i32 values of one shape).
struct Words {
  ir::Value* lo;
  ir::Value* hi;
};

// IR at the user's location; every integer value is i32 unless said otherwise.
class Emitter {
public:
  Emitter(const SourceLoc& loc, const char* op) : loc_(loc), op_(op), b_(detail::builder_at(loc)) {}

  const ir::Type* i32_like(const ir::Value* v) {
    return b_.ctx().with_element(v->type(), b_.ctx().i32());
  }
  ir::Value* word(uint32_t bits, const ir::Type* type) {
    return b_.constant_int(type, static_cast<int32_t>(bits));
  }
  ir::Value* op(Opcode o, ir::Value* x, ir::Value* y) { return b_.value(o, {x, y}, x->type()); }
  ir::Value* op(Opcode o, ir::Value* x) { return b_.value(o, {x}, x->type()); }
  ir::Value* cast(ir::Value* v, DType t) { return detail::convert(v, t, loc_); }
  ir::Value* to_shape(ir::Value* scalar, const ir::Type* like) {
    return detail::broadcast_to_shape(scalar, like->dims(), loc_, op_);
  }
  // `v` rounded to f32 (IR constants are exact in their type).
  ir::Value* f32(double v, const ir::Type* like) {
    return b_.constant_float(b_.ctx().with_element(like, b_.ctx().f32()), double(float(v)));
  }
  ir::Value* compare(Opcode o, ir::Value* x, ir::Value* y) {
    return b_.value(o, {x, y}, b_.ctx().with_element(x->type(), b_.ctx().i1()));
  }
  ir::Value* select(ir::Value* c, ir::Value* x, ir::Value* y) {
    return b_.value(Opcode::Select, {c, x, y}, x->type());
  }
  ir::Value* bitcast(ir::Value* v, DType t) {
    return b_.value(Opcode::Bitcast, {v}, b_.ctx().with_element(v->type(), b_.ctx().scalar(t)));
  }

  // An i64 value's low and high words.
  Words split(ir::Value* v64) {
    ir::Value* hi = op(Opcode::Shr, v64, b_.constant_int(v64->type(), 32));
    return {cast(v64, DType::i32), cast(hi, DType::i32)};
  }

  const SourceLoc& loc() const { return loc_; }
  const char* name() const { return op_; }

private:
  SourceLoc loc_;
  const char* op_;
  ir::Builder& b_;
};

// The key: the seed sign-extended to 64 bits (as Triton's seed.to(uint64)), split into words.
Words philox_key(Emitter& e, const Tensor& seed) {
  ir::Value* s = seed.value(e.loc());
  const ir::Type* t = s->type();
  if (t->rank() != 0)
    fail(e.loc(), e.name(),
         "the seed must be a scalar (an i32 or i64 value), got " + type_str(t) +
             "; vary the offset per element instead");
  if (t->is_pointer_like() || !t->is_integer() || t->is_bool())
    fail(e.loc(), e.name(), "the seed must be an integer (i32 or i64), got " + type_str(t));
  return e.split(e.cast(s, DType::i64));
}

// The counter: (offset lo, offset hi, 0, 0); an i32 offset is read as unsigned (hi = 0).
std::array<ir::Value*, 4> philox_counter(Emitter& e, const Tensor& offset) {
  ir::Value* o = offset.value(e.loc());
  const ir::Type* t = o->type();
  const bool ok = !t->is_pointer_like() &&
                  (t->element()->dtype() == DType::i32 || t->element()->dtype() == DType::i64);
  if (!ok)
    fail(e.loc(), e.name(),
         "the offset must be an i32 or i64 tile, got " + type_str(t) +
             (t->is_integer() && !t->is_pointer_like() ? "; convert it with .to(tl::i32)" : ""));
  ir::Value* zero = e.word(0, e.i32_like(o));
  if (t->element()->dtype() == DType::i32)
    return {o, zero, zero, zero};
  Words w = e.split(o);
  return {w.lo, w.hi, zero, zero};
}

// Ten rounds; the key is bumped before every round but the first (Random123's philox4x32_R).
std::array<ir::Value*, 4> philox_rounds(Emitter& e, Words key, std::array<ir::Value*, 4> c) {
  const ir::Type* tile = c[0]->type();
  ir::Value* m0 = e.word(kPhiloxM0, tile);
  ir::Value* m1 = e.word(kPhiloxM1, tile);
  ir::Value* k0 = key.lo;
  ir::Value* k1 = key.hi;
  for (int round = 0; round < kPhiloxRounds; ++round) {
    if (round > 0) {
      k0 = e.op(Opcode::Add, k0, e.word(kPhiloxW0, k0->type()));
      k1 = e.op(Opcode::Add, k1, e.word(kPhiloxW1, k1->type()));
    }
    ir::Value* hi0 = e.op(Opcode::Umulhi, m0, c[0]);
    ir::Value* lo0 = e.op(Opcode::Mul, m0, c[0]);
    ir::Value* hi1 = e.op(Opcode::Umulhi, m1, c[2]);
    ir::Value* lo1 = e.op(Opcode::Mul, m1, c[2]);
    c = {e.op(Opcode::Xor, e.op(Opcode::Xor, hi1, c[1]), e.to_shape(k0, tile)), lo1,
         e.op(Opcode::Xor, e.op(Opcode::Xor, hi0, c[3]), e.to_shape(k1, tile)), lo0};
  }
  return c;
}

// A counter given word by word: i32 values broadcast to one shape.
std::array<ir::Value*, 4> explicit_counter(Emitter& e, std::array<const Tensor*, 4> words) {
  std::array<ir::Value*, 4> c{};
  Shape shape;
  for (size_t i = 0; i < 4; ++i) {
    c[i] = words[i]->value(e.loc());
    const ir::Type* t = c[i]->type();
    if (t->is_pointer_like() || t->element()->dtype() != DType::i32)
      fail(e.loc(), e.name(),
           "counter word c" + std::to_string(i) + " must be an i32 tile, got " + type_str(t));
    shape = detail::broadcast_shapes(shape, t->dims(), e.loc(), e.name());
  }
  for (ir::Value*& v : c)
    v = detail::broadcast_to_shape(v, shape, e.loc(), e.name());
  return c;
}

std::array<ir::Value*, 4> randint4x_values(Emitter& e, const Tensor& seed, const Tensor& offset) {
  Words key = philox_key(e, seed);
  return philox_rounds(e, key, philox_counter(e, offset));
}

// The top 24 bits of a word, as a non-negative i32 (an arithmetic shift, then the mask).
ir::Value* top24(Emitter& e, ir::Value* w) {
  ir::Value* shifted = e.op(Opcode::Shr, w, e.word(8, w->type()));
  return e.op(Opcode::And, shifted, e.word(0xFFFFFF, w->type()));
}

// k * 2^-24 in f32 for an integer 0 <= k <= 2^24: exact.
ir::Value* scaled(Emitter& e, ir::Value* k) {
  ir::Value* f = e.cast(k, DType::f32);
  return e.op(Opcode::Mul, f, e.f32(kTwoToMinus24, f->type()));
}

// ---- Box-Muller from exactly rounded operations ------------------------------------------------
// randn's log and cos are computed here from +, -, *, /, sqrt, integer ops and selects rather than
// by the math library: those are exactly rounded on both backends (and never contracted to fma),
// so randn has the same bits on the CPU and the GPU, which libm's and libdevice's logf/cosf would
// not give (nor could the simulator run libdevice's cosf, whose slow path uses madc.hi.u32).

// A polynomial in z by Horner's rule, coefficients from the highest power down.
ir::Value* horner(Emitter& e, ir::Value* z, std::initializer_list<double> coefficients) {
  ir::Value* acc = nullptr;
  for (double c : coefficients) {
    ir::Value* k = e.f32(c, z->type());
    acc = acc ? e.op(Opcode::Add, e.op(Opcode::Mul, acc, z), k) : k;
  }
  return acc;
}

// ln(m 2^-24) for an integer 1 <= m <= 2^24 (an i32 tile), in f32: m = 2^x g with g in
// [sqrt(1/2), sqrt(2)] found exactly, then ln g = 2 atanh(s) = 2 (s + s^3/3 + ... + s^9/9) with
// s = (g - 1) / (g + 1), |s| <= 0.172 (the first term left out is below 10^-9).
ir::Value* log_of_fraction(Emitter& e, ir::Value* m) {
  const ir::Type* it = m->type();
  ir::Value* x = e.word(0, it);
  ir::Value* v = m;
  for (uint32_t step : {16u, 8u, 4u, 2u, 1u}) { // x = floor(log2 m), by halving the range
    ir::Value* big = e.compare(Opcode::CmpGe, v, e.word(1u << step, it));
    v = e.select(big, e.op(Opcode::Shr, v, e.word(step, it)), v);
    x = e.select(big, e.op(Opcode::Add, x, e.word(step, it)), x);
  }
  // g = m 2^(24 - x) 2^-24 in [1, 2): each factor a power of two, so exact.
  ir::Value* up =
      e.cast(e.op(Opcode::Shl, e.word(1, it), e.op(Opcode::Sub, e.word(24, it), x)), DType::f32);
  ir::Value* g =
      e.op(Opcode::Mul, e.op(Opcode::Mul, e.cast(m, DType::f32), up), e.f32(0x1p-24, up->type()));
  ir::Value* halve = e.compare(Opcode::CmpGt, g, e.f32(std::numbers::sqrt2, g->type()));
  g = e.select(halve, e.op(Opcode::Mul, g, e.f32(0.5, g->type())), g);
  x = e.select(halve, e.op(Opcode::Add, x, e.word(1, it)), x);
  ir::Value* one = e.f32(1.0, g->type());
  ir::Value* s = e.op(Opcode::Div, e.op(Opcode::Sub, g, one), e.op(Opcode::Add, g, one));
  ir::Value* series = horner(e, e.op(Opcode::Mul, s, s), {1.0 / 9, 1.0 / 7, 1.0 / 5, 1.0 / 3, 1.0});
  ir::Value* ln_g = e.op(Opcode::Mul, e.op(Opcode::Mul, s, series), e.f32(2.0, g->type()));
  ir::Value* exponent = e.cast(e.op(Opcode::Sub, x, e.word(24, it)), DType::f32);
  return e.op(Opcode::Add, e.op(Opcode::Mul, exponent, e.f32(std::numbers::ln2, g->type())), ln_g);
}

// cos(2 pi k 2^-24) for an integer 0 <= k < 2^24, in f32: the quadrant q = round(4 k 2^-24) and
// the rest f = 4 k 2^-24 - q in [-1/2, 1/2] exactly (integer arithmetic), then sin or cos of
// phi = f pi/2 (|phi| <= pi/4) by their Taylor series to phi^9 and phi^10 (error below 2 10^-9).
ir::Value* cos_of_turns(Emitter& e, ir::Value* k) {
  const ir::Type* it = k->type();
  ir::Value* q = e.op(Opcode::Shr, e.op(Opcode::Add, k, e.word(1u << 21, it)), e.word(22, it));
  ir::Value* rest = e.op(Opcode::Sub, k, e.op(Opcode::Shl, q, e.word(22, it)));
  ir::Value* rest_f = e.cast(rest, DType::f32); // |rest| <= 2^21: exact
  ir::Value* f = e.op(Opcode::Mul, rest_f, e.f32(0x1p-22, rest_f->type()));
  ir::Value* phi = e.op(Opcode::Mul, f, e.f32(std::numbers::pi / 2, f->type()));
  ir::Value* z = e.op(Opcode::Mul, phi, phi);
  ir::Value* sin_phi =
      e.op(Opcode::Mul, phi, horner(e, z, {1.0 / 362880, -1.0 / 5040, 1.0 / 120, -1.0 / 6, 1.0}));
  ir::Value* cos_phi = horner(e, z, {-1.0 / 3628800, 1.0 / 40320, -1.0 / 720, 1.0 / 24, -0.5, 1.0});
  // cos(q pi/2 + phi): cos, -sin, -cos, sin for q mod 4 = 0, 1, 2, 3.
  ir::Value* zero = e.word(0, it);
  ir::Value* odd = e.compare(Opcode::CmpNe, e.op(Opcode::And, q, e.word(1, it)), zero);
  ir::Value* negative = e.compare(
      Opcode::CmpNe, e.op(Opcode::And, e.op(Opcode::Add, q, e.word(1, it)), e.word(2, it)), zero);
  ir::Value* c = e.select(odd, sin_phi, cos_phi);
  return e.select(negative, e.op(Opcode::Neg, c), c);
}

Tensor constant_seed(int64_t seed, const SourceLoc& loc) {
  ir::Builder& b = detail::builder_at(loc);
  return Tensor(b.constant_int(b.ctx().tensor({}, b.ctx().i64()), seed));
}

} // namespace

std::array<Tensor, 4> philox(const Tensor& seed, const Tensor& c0, const Tensor& c1,
                             const Tensor& c2, const Tensor& c3, Loc l) {
  Emitter e(SourceLoc::from(l), "philox");
  Words key = philox_key(e, seed);
  std::array<ir::Value*, 4> w = philox_rounds(e, key, explicit_counter(e, {&c0, &c1, &c2, &c3}));
  return {Tensor(w[0]), Tensor(w[1]), Tensor(w[2]), Tensor(w[3])};
}

std::array<Tensor, 4> randint4x(const Tensor& seed, const Tensor& offset, Loc l) {
  Emitter e(SourceLoc::from(l), "randint4x");
  std::array<ir::Value*, 4> w = randint4x_values(e, seed, offset);
  return {Tensor(w[0]), Tensor(w[1]), Tensor(w[2]), Tensor(w[3])};
}

Tensor randint(const Tensor& seed, const Tensor& offset, Loc l) {
  Emitter e(SourceLoc::from(l), "randint");
  return Tensor(randint4x_values(e, seed, offset)[0]);
}

Tensor rand(const Tensor& seed, const Tensor& offset, Loc l) {
  Emitter e(SourceLoc::from(l), "rand");
  return Tensor(scaled(e, top24(e, randint4x_values(e, seed, offset)[0])));
}

// Box-Muller on the first two words: sqrt(-2 ln u1) cos(2 pi u2) with u1 = (k1 + 1) 2^-24 in
// (0, 1] (the log is finite: |n| < 5.8) and u2 = k2 2^-24 in [0, 1).
Tensor randn(const Tensor& seed, const Tensor& offset, Loc l) {
  Emitter e(SourceLoc::from(l), "randn");
  std::array<ir::Value*, 4> w = randint4x_values(e, seed, offset);
  ir::Value* k1 = top24(e, w[0]);
  ir::Value* ln_u1 = log_of_fraction(e, e.op(Opcode::Add, k1, e.word(1, k1->type())));
  ir::Value* radius = e.op(Opcode::Sqrt, e.op(Opcode::Mul, ln_u1, e.f32(-2.0, ln_u1->type())));
  return Tensor(e.op(Opcode::Mul, radius, cos_of_turns(e, top24(e, w[1]))));
}

std::array<Tensor, 4> philox(int64_t seed, const Tensor& c0, const Tensor& c1, const Tensor& c2,
                             const Tensor& c3, Loc l) {
  return philox(constant_seed(seed, SourceLoc::from(l)), c0, c1, c2, c3, l);
}
std::array<Tensor, 4> randint4x(int64_t seed, const Tensor& offset, Loc l) {
  return randint4x(constant_seed(seed, SourceLoc::from(l)), offset, l);
}
Tensor randint(int64_t seed, const Tensor& offset, Loc l) {
  return randint(constant_seed(seed, SourceLoc::from(l)), offset, l);
}
Tensor rand(int64_t seed, const Tensor& offset, Loc l) {
  return rand(constant_seed(seed, SourceLoc::from(l)), offset, l);
}
Tensor randn(int64_t seed, const Tensor& offset, Loc l) {
  return randn(constant_seed(seed, SourceLoc::from(l)), offset, l);
}

// ---- Triton's helpers: rand4x, randn4x, uint_to_uniform_float, pair_uniform_to_normal -----------
namespace {

// sin(2 pi k 2^-24) = cos(2 pi (k - 2^22) 2^-24), the argument taken mod 2^24 (exact).
ir::Value* sin_of_turns(Emitter& e, ir::Value* k) {
  ir::Value* shifted = e.op(Opcode::Add, k, e.word(3u << 22, k->type()));
  return cos_of_turns(e, e.op(Opcode::And, shifted, e.word(0xFFFFFF, k->type())));
}

// sqrt(-2 ln(m 2^-24)) for an i32 tile 1 <= m <= 2^24.
ir::Value* radius_of_fraction(Emitter& e, ir::Value* m) {
  ir::Value* ln = log_of_fraction(e, m);
  return e.op(Opcode::Sqrt, e.op(Opcode::Mul, ln, e.f32(-2.0, ln->type())));
}

// ln u for a positive normal f32 u = M 2^(E - 150) (M the 24-bit significand): ln(M 2^-24) +
// (E - 126) ln 2, from exactly rounded operations.
ir::Value* log_of_float(Emitter& e, ir::Value* u) {
  ir::Value* bits = e.bitcast(u, DType::i32);
  const ir::Type* it = bits->type();
  ir::Value* biased = e.op(Opcode::And, e.op(Opcode::Shr, bits, e.word(23, it)), e.word(0xFF, it));
  ir::Value* m =
      e.op(Opcode::Or, e.op(Opcode::And, bits, e.word(0x7FFFFF, it)), e.word(1u << 23, it));
  ir::Value* exponent = e.cast(e.op(Opcode::Sub, biased, e.word(126, it)), DType::f32);
  return e.op(Opcode::Add, log_of_fraction(e, m),
              e.op(Opcode::Mul, exponent, e.f32(std::numbers::ln2, exponent->type())));
}

ir::Value* float_operand(Emitter& e, const Tensor& t, const char* what) {
  ir::Value* v = t.value(e.loc());
  if (v->type()->is_pointer_like() || !dtype_is_float(v->type()->element()->dtype()))
    fail(e.loc(), e.name(),
         std::string(what) + " must be a float tile (uniform numbers in [0, 1)), got " +
             type_str(v->type()));
  return e.cast(v, DType::f32);
}

} // namespace

std::array<Tensor, 4> rand4x(const Tensor& seed, const Tensor& offset, Loc l) {
  Emitter e(SourceLoc::from(l), "rand4x");
  std::array<ir::Value*, 4> w = randint4x_values(e, seed, offset);
  std::array<Tensor, 4> out;
  for (size_t i = 0; i < 4; ++i)
    out[i] = Tensor(scaled(e, top24(e, w[i])));
  return out;
}

// Two Box-Muller pairs, randn's rule: words (0, 1) and (2, 3); the first of each pair is cos.
std::array<Tensor, 4> randn4x(const Tensor& seed, const Tensor& offset, Loc l) {
  Emitter e(SourceLoc::from(l), "randn4x");
  std::array<ir::Value*, 4> w = randint4x_values(e, seed, offset);
  std::array<Tensor, 4> out;
  for (size_t pair = 0; pair < 2; ++pair) {
    ir::Value* k1 = top24(e, w[2 * pair]);
    ir::Value* radius = radius_of_fraction(e, e.op(Opcode::Add, k1, e.word(1, k1->type())));
    ir::Value* k2 = top24(e, w[2 * pair + 1]);
    out[2 * pair] = Tensor(e.op(Opcode::Mul, radius, cos_of_turns(e, k2)));
    out[2 * pair + 1] = Tensor(e.op(Opcode::Mul, radius, sin_of_turns(e, k2)));
  }
  return out;
}

std::array<Tensor, 4> rand4x(int64_t seed, const Tensor& offset, Loc l) {
  return rand4x(constant_seed(seed, SourceLoc::from(l)), offset, l);
}
std::array<Tensor, 4> randn4x(int64_t seed, const Tensor& offset, Loc l) {
  return randn4x(constant_seed(seed, SourceLoc::from(l)), offset, l);
}

// Triton's formula: the word read as signed, negatives folded onto ~x (so 0 <= x <= 2^31 - 1),
// times the largest scale that keeps the product below 1 in f32.
Tensor uint_to_uniform_float(const Tensor& x, Loc l) {
  Emitter e(SourceLoc::from(l), "uint_to_uniform_float");
  ir::Value* v = x.value(e.loc());
  const DType t = v->type()->is_pointer_like() ? DType::i1 : v->type()->element()->dtype();
  const bool narrow = t == DType::i32 || t == DType::u32;
  if (!narrow && t != DType::i64 && t != DType::u64)
    fail(e.loc(), e.name(),
         "x must be an i32, u32, i64 or u64 tile (random words), got " + type_str(v->type()));
  ir::Value* s = e.bitcast(v, narrow ? DType::i32 : DType::i64);
  ir::Value* negative = e.compare(
      Opcode::CmpLt, s,
      detail::constant_like(0, s->type()->element()->dtype(), s->type()->dims(), e.loc()));
  s = e.select(negative, e.op(Opcode::Not, s), s);
  ir::Value* f = e.cast(s, DType::f32);
  return Tensor(
      e.op(Opcode::Mul, f, e.f32(narrow ? 4.6566127342e-10 : 1.0842020432385337e-19, f->type())));
}

// Box-Muller on given uniforms: u1 clamped to 1e-7 as Triton does, u2 to the nearest 2^-24 turn.
std::pair<Tensor, Tensor> pair_uniform_to_normal(const Tensor& u1, const Tensor& u2, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  Emitter e(loc, "pair_uniform_to_normal");
  ir::Value* a = float_operand(e, u1, "u1");
  ir::Value* b = float_operand(e, u2, "u2");
  Shape shape = detail::broadcast_shapes(a->type()->dims(), b->type()->dims(), loc, e.name());
  a = detail::broadcast_to_shape(a, shape, loc, e.name());
  b = detail::broadcast_to_shape(b, shape, loc, e.name());
  a = e.op(Opcode::Max, a, e.f32(1.0e-7, a->type()));
  ir::Value* ln = log_of_float(e, a);
  ir::Value* radius = e.op(Opcode::Sqrt, e.op(Opcode::Mul, ln, e.f32(-2.0, ln->type())));
  ir::Value* turns = e.op(Opcode::Rint, e.op(Opcode::Mul, b, e.f32(0x1p24, b->type())));
  ir::Value* k = e.cast(turns, DType::i32);
  k = e.op(Opcode::And, k, e.word(0xFFFFFF, k->type()));
  return {Tensor(e.op(Opcode::Mul, radius, cos_of_turns(e, k))),
          Tensor(e.op(Opcode::Mul, radius, sin_of_turns(e, k)))};
}

} // namespace tessel::lang
