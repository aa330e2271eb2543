// The operations of the tile language (Triton's names where Triton has one). Each records IR at
// the caller's source location; shape and type mistakes throw tessel::Error naming that location,
// the operation and the shapes/types involved.
#pragma once

#include "tessel/ir/mem_order.h"
#include "tessel/lang/tensor.h"

#include <array>
#include <functional>
#include <source_location>
#include <utility>

namespace tessel::lang {

using Loc = std::source_location;

// ---- program ids and index ranges ---------------------------------------------------------------
Tensor program_id(int axis, Loc loc = Loc::current());   // i32 scalar; axis 0, 1 or 2
Tensor num_programs(int axis, Loc loc = Loc::current()); // i32 scalar
// [start, end) as tensor<(end-start) x i32>; end - start must be a power of two.
Tensor arange(int64_t start, int64_t end, Loc loc = Loc::current());
// Overload that makes a run-time bound a clear error rather than a silent conversion.
Tensor arange(int64_t start, const Tensor& end, Loc loc = Loc::current());
Tensor full(const Shape& shape, double value, DType dtype, Loc loc = Loc::current());
Tensor zeros(const Shape& shape, DType dtype, Loc loc = Loc::current());
// A scalar constant of the given type (a 0-d tensor).
Tensor scalar(double value, DType dtype, Loc loc = Loc::current());

// ---- shapes -------------------------------------------------------------------------------------
Tensor splat(const Tensor& scalar, const Shape& shape, Loc loc = Loc::current());
Tensor broadcast_to(const Tensor& x, const Shape& shape, Loc loc = Loc::current());
Tensor reshape(const Tensor& x, const Shape& shape, Loc loc = Loc::current());
Tensor expand_dims(const Tensor& x, int axis, Loc loc = Loc::current());
Tensor permute(const Tensor& x, const std::vector<int64_t>& order, Loc loc = Loc::current());
Tensor trans(const Tensor& x, Loc loc = Loc::current()); // reverses the dims

// ---- elementwise --------------------------------------------------------------------------------
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor where(const Tensor& cond, const Tensor& a, double b, Loc loc = Loc::current());
Tensor where(const Tensor& cond, double a, const Tensor& b, Loc loc = Loc::current());
Tensor minimum(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor maximum(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor minimum(const Tensor& a, double b, Loc loc = Loc::current());
Tensor maximum(const Tensor& a, double b, Loc loc = Loc::current());
Tensor fma(const Tensor& a, const Tensor& b, const Tensor& c, Loc loc = Loc::current());
Tensor cast(const Tensor& x, DType dtype, Loc loc = Loc::current());
// How a conversion treats values beyond the destination's range (docs/semantics.md, "Casts").
// saturate: fp8 destinations only — beyond the largest finite value (and +-inf) gives it, NaN stays
// NaN (PTX's .satfinite); without it an overflow is NaN for f8e4m3 and inf for f8e5m2, as torch.
// Float -> integer conversions always saturate.
struct CastOptions {
  bool saturate = false;
};
Tensor cast(const Tensor& x, DType dtype, CastOptions options, Loc loc = Loc::current());
// Two 4-bit integers per byte, the low nibble first (the element order of packed int4 weights).
// unpack_int4 of an i8 tile gives the sign-extended nibbles (-8..7) as i8 tiles; of a u8 tile the
// zero-extended ones (0..15) as u8. pack_int4 keeps the low 4 bits of each integer operand: i8 out
// for signed operands, u8 for unsigned.
std::pair<Tensor, Tensor> unpack_int4(const Tensor& packed, Loc loc = Loc::current());
Tensor pack_int4(const Tensor& lo, const Tensor& hi, Loc loc = Loc::current());

Tensor exp(const Tensor& x, Loc loc = Loc::current());
Tensor exp2(const Tensor& x, Loc loc = Loc::current());
Tensor log(const Tensor& x, Loc loc = Loc::current());
Tensor log2(const Tensor& x, Loc loc = Loc::current());
Tensor sqrt(const Tensor& x, Loc loc = Loc::current());
Tensor rsqrt(const Tensor& x, Loc loc = Loc::current());
Tensor abs(const Tensor& x, Loc loc = Loc::current());
Tensor sin(const Tensor& x, Loc loc = Loc::current());
Tensor cos(const Tensor& x, Loc loc = Loc::current());
Tensor erf(const Tensor& x, Loc loc = Loc::current());
Tensor tanh(const Tensor& x, Loc loc = Loc::current());
Tensor sigmoid(const Tensor& x, Loc loc = Loc::current());
Tensor floor(const Tensor& x, Loc loc = Loc::current());
Tensor ceil(const Tensor& x, Loc loc = Loc::current());
// The high half of the double-width product of a and b read as unsigned integers (Triton's
// umulhi; PTX mul.hi.u32). Integer operands (i8 to i64), promoted and broadcast like `*`.
Tensor umulhi(const Tensor& a, const Tensor& b, Loc loc = Loc::current());

// ---- random numbers (dsl/random.cpp; docs/language.md "Random numbers") -------------------------
// Philox 4x32-10 (Salmon et al., SC'11) with Triton's (seed, offset) convention: key = (seed lo,
// seed hi) of `seed` sign-extended to 64 bits, counter = (offset lo, offset hi, 0, 0) per element
// (an i32 offset is read as unsigned: hi = 0). `seed` is an integer scalar (or a C++ integer),
// `offset` an i32 or i64 tile (or scalar); results have offset's shape. The same (seed, offset)
// gives the same bits on every backend, every launch configuration and every run.

// Philox itself on a whole counter (c0, c1, c2, c3): i32 tiles (or scalars), broadcast together;
// the four output words as i32 tiles (read them as unsigned). Triton's tl.philox.
std::array<Tensor, 4> philox(const Tensor& seed, const Tensor& c0, const Tensor& c1,
                             const Tensor& c2, const Tensor& c3, Loc loc = Loc::current());
std::array<Tensor, 4> philox(int64_t seed, const Tensor& c0, const Tensor& c1, const Tensor& c2,
                             const Tensor& c3, Loc loc = Loc::current());
// philox(seed, offset lo, offset hi, 0, 0).
std::array<Tensor, 4> randint4x(const Tensor& seed, const Tensor& offset, Loc loc = Loc::current());
std::array<Tensor, 4> randint4x(int64_t seed, const Tensor& offset, Loc loc = Loc::current());
// The first word of randint4x.
Tensor randint(const Tensor& seed, const Tensor& offset, Loc loc = Loc::current());
Tensor randint(int64_t seed, const Tensor& offset, Loc loc = Loc::current());
// Uniform f32 in [0, 1): the top 24 bits of randint as a multiple of 2^-24 (exact, never 1).
Tensor rand(const Tensor& seed, const Tensor& offset, Loc loc = Loc::current());
Tensor rand(int64_t seed, const Tensor& offset, Loc loc = Loc::current());
// Standard normal f32 by Box-Muller on the first two words: sqrt(-2 ln u1) cos(2 pi u2) with
// u1 in (0, 1] and u2 in [0, 1), its log and cos made of exactly rounded operations so that the
// bits are the same on every backend (docs/language.md gives the exact formula).
Tensor randn(const Tensor& seed, const Tensor& offset, Loc loc = Loc::current());
Tensor randn(int64_t seed, const Tensor& offset, Loc loc = Loc::current());

// ---- memory -------------------------------------------------------------------------------------
// Loads the elements `ptr` points at. Where `mask` is false nothing is read and the element is
// `other` (zero when not given). ptr, mask and other broadcast to one shape.
Tensor load(const Tensor& ptr, Loc loc = Loc::current());
Tensor load(const Tensor& ptr, const Tensor& mask, Loc loc = Loc::current());
Tensor load(const Tensor& ptr, const Tensor& mask, double other, Loc loc = Loc::current());
Tensor load(const Tensor& ptr, const Tensor& mask, const Tensor& other, Loc loc = Loc::current());
// Stores `value` (converted to the pointee type) where `mask` is true.
void store(const Tensor& ptr, const Tensor& value, Loc loc = Loc::current());
void store(const Tensor& ptr, const Tensor& value, const Tensor& mask, Loc loc = Loc::current());

// ---- atomics (docs/language.md#atomics) ---------------------------------------------------------
// Each element of `ptr` (a pointer tile, or a scalar pointer) is updated atomically with the
// matching element of `val` (converted to the pointee type; ptr, val and mask broadcast to one
// shape), and the result holds the values memory had before. Elements whose mask is false touch
// nothing and return 0. Elements that share an address are all applied. `sem` orders the atomic
// with the program's other accesses, `scope` says to which threads (Triton's defaults: acq_rel,
// gpu). Element types: add i32/i64/f16/bf16/f32/f64; max, min, xchg, cas i32/i64/f32/f64;
// and, or, xor i32/i64. Float max/min order -0.0 below +0.0 and keep a NaN they meet.
using MemSem = ir::MemSem;
using MemScope = ir::MemScope;

// An atomic's value operand: a tile, or a C++ number of the pointee type.
struct AtomicValue {
  AtomicValue(const Tensor& t) : tensor(&t) {}
  template <Scalar S> AtomicValue(S v) : number(static_cast<double>(v)) {}
  template <class S> AtomicValue(Const<S> v) : number(static_cast<double>(v.value)) {}
  const Tensor* tensor = nullptr; // null: `number`
  double number = 0;
};

#define TESSEL_ATOMIC_RMW(NAME)                                                                    \
  Tensor NAME(const Tensor& ptr, AtomicValue val, MemSem sem = MemSem::acq_rel,                  \
              MemScope scope = MemScope::gpu, Loc loc = Loc::current());                         \
  Tensor NAME(const Tensor& ptr, AtomicValue val, const Tensor& mask,                            \
              MemSem sem = MemSem::acq_rel, MemScope scope = MemScope::gpu, Loc loc = Loc::current());
TESSEL_ATOMIC_RMW(atomic_add)  // memory += val
TESSEL_ATOMIC_RMW(atomic_max)  // memory = max(memory, val)
TESSEL_ATOMIC_RMW(atomic_min)  // memory = min(memory, val)
TESSEL_ATOMIC_RMW(atomic_and)  // memory &= val
TESSEL_ATOMIC_RMW(atomic_or)   // memory |= val
TESSEL_ATOMIC_RMW(atomic_xor)  // memory ^= val
TESSEL_ATOMIC_RMW(atomic_xchg) // memory = val
#undef TESSEL_ATOMIC_RMW
// Where memory's bits equal `cmp`'s, writes `val`; returns the old value either way.
Tensor atomic_cas(const Tensor& ptr, AtomicValue cmp, AtomicValue val, MemSem sem = MemSem::acq_rel,
                  MemScope scope = MemScope::gpu, Loc loc = Loc::current());

// ---- reductions, scans, dot ---------------------------------------------------------------------
Tensor sum(const Tensor& x, int axis, Loc loc = Loc::current());
Tensor max(const Tensor& x, int axis, Loc loc = Loc::current());
Tensor min(const Tensor& x, int axis, Loc loc = Loc::current());
Tensor argmax(const Tensor& x, int axis, Loc loc = Loc::current()); // i32, first maximum
Tensor argmin(const Tensor& x, int axis, Loc loc = Loc::current()); // i32, first minimum
// A reduction with a user combine function of two scalars (must be associative).
Tensor reduce(const Tensor& x, int axis, const std::function<Tensor(Tensor, Tensor)>& combine,
              Loc loc = Loc::current());
Tensor cumsum(const Tensor& x, int axis, Loc loc = Loc::current()); // inclusive
// a (MxK) times b (KxN) plus acc (MxN). Without acc: zeros of f32 (float operands) or i32.
Tensor dot(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor dot(const Tensor& a, const Tensor& b, const Tensor& acc, Loc loc = Loc::current());
// How a dot of f32 operands multiplies (Triton's input_precision): `ieee` in f32; `tf32` with the
// operands rounded to tf32 (10-bit mantissa, to nearest, ties away) and f32 sums, on tensor cores
// where the target has them; `tf32x3` as tf32 but each operand split into a tf32 high part and a
// tf32 low part, three products (hi*hi + hi*lo + lo*hi), near-f32 accuracy. Without a precision a
// GPU target uses tf32 and the CPU ieee. Only f32 operands take one.
enum class Precision { ieee = 0, tf32 = 1, tf32x3 = 2 };
Tensor dot(const Tensor& a, const Tensor& b, Precision precision, Loc loc = Loc::current());
Tensor dot(const Tensor& a, const Tensor& b, const Tensor& acc, Precision precision,
           Loc loc = Loc::current());

} // namespace tessel::lang
