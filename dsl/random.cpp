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
// 2 pi rounded to f32 (0x40c90fdb): IR constants are exact in their type.
constexpr double kTwoPiF32 = double(float(2 * std::numbers::pi));

// A 64-bit quantity as two 32-bit words (i32 values of one shape).
struct Words {
  ir::Value* lo;
  ir::Value* hi;
};

// IR at the user's location; every integer value is i32 unless said otherwise.
class Emitter {
public:
  Emitter(const SourceLoc& loc, const char* op) : loc_(loc), op_(op), b_(detail::builder_at(loc)) {}

  const ir::Type* i32_like(const ir::Value* v) { return b_.ctx().with_element(v->type(), b_.ctx().i32()); }
  ir::Value* word(uint32_t bits, const ir::Type* type) {
    return b_.constant_int(type, static_cast<int32_t>(bits));
  }
  ir::Value* op(Opcode o, ir::Value* x, ir::Value* y) { return b_.value(o, {x, y}, x->type()); }
  ir::Value* op(Opcode o, ir::Value* x) { return b_.value(o, {x}, x->type()); }
  ir::Value* cast(ir::Value* v, DType t) { return detail::convert(v, t, loc_); }
  ir::Value* to_shape(ir::Value* scalar, const ir::Type* like) {
    return detail::broadcast_to_shape(scalar, like->dims(), loc_, op_);
  }
  ir::Value* f32(double v, const ir::Type* like) {
    return b_.constant_float(b_.ctx().with_element(like, b_.ctx().f32()), v);
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
  const bool ok = !t->is_pointer_like() && (t->element()->scalar_kind() == ir::ScalarKind::I32 ||
                                            t->element()->scalar_kind() == ir::ScalarKind::I64);
  if (!ok)
    fail(e.loc(), e.name(),
         "the offset must be an i32 or i64 tile, got " + type_str(t) +
             (t->is_integer() && !t->is_pointer_like() ? "; convert it with .to(tl::i32)" : ""));
  ir::Value* zero = e.word(0, e.i32_like(o));
  if (t->element()->scalar_kind() == ir::ScalarKind::I32)
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
    if (t->is_pointer_like() || t->element()->scalar_kind() != ir::ScalarKind::I32)
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

// Box-Muller: u1 = (k1 + 1) 2^-24 in (0, 1] keeps the log finite (at most 24 ln 2 in magnitude,
// so |n| < 5.8); u2 = k2 2^-24 in [0, 1).
Tensor randn(const Tensor& seed, const Tensor& offset, Loc l) {
  Emitter e(SourceLoc::from(l), "randn");
  std::array<ir::Value*, 4> w = randint4x_values(e, seed, offset);
  ir::Value* k1 = top24(e, w[0]);
  ir::Value* u1 = scaled(e, e.op(Opcode::Add, k1, e.word(1, k1->type())));
  ir::Value* u2 = scaled(e, top24(e, w[1]));
  ir::Value* minus_two_log = e.op(Opcode::Mul, e.op(Opcode::Log, u1), e.f32(-2.0, u1->type()));
  ir::Value* radius = e.op(Opcode::Sqrt, minus_two_log);
  ir::Value* theta = e.op(Opcode::Mul, u2, e.f32(kTwoPiF32, u2->type()));
  return Tensor(e.op(Opcode::Mul, radius, e.op(Opcode::Cos, theta)));
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

} // namespace tessel::lang
