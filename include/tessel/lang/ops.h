// The operations of the tile language (Triton's names where Triton has one). Each records IR at
// the caller's source location; shape and type mistakes throw tessel::Error naming that location,
// the operation and the shapes/types involved.
#pragma once

#include "tessel/ir/mem_order.h"
#include "tessel/lang/tensor.h"

#include <array>
#include <functional>
#include <optional>
#include <source_location>
#include <utility>
#include <vector>

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

// ---- element math (dsl/element_math.cpp; docs/language.md "Element math") ----------------------
// x's bits read as `dtype`, of the same width (Triton's x.to(dtype, bitcast=True)); not i1 or
// pointers. Every bit pattern survives, but on the CPU an f16/bf16 signalling NaN may come back
// quieted (the value stays a NaN).
Tensor bitcast(const Tensor& x, DType dtype, Loc loc = Loc::current());
// Set bits / leading zero bits of an integer tile, in its type (clz(0) is the width).
Tensor popc(const Tensor& x, Loc loc = Loc::current());
Tensor clz(const Tensor& x, Loc loc = Loc::current());
// i1 tiles: x is NaN / +-inf / has its sign bit set (also -0 and negative NaNs). Float tiles only.
Tensor isnan(const Tensor& x, Loc loc = Loc::current());
Tensor isinf(const Tensor& x, Loc loc = Loc::current());
Tensor signbit(const Tensor& x, Loc loc = Loc::current());
// Triton's propagate_nan: `none` (the default minimum/maximum: one NaN operand gives the other
// operand), `all` (a NaN operand gives NaN).
enum class PropagateNan { none, all };
Tensor minimum(const Tensor& a, const Tensor& b, PropagateNan nan, Loc loc = Loc::current());
Tensor maximum(const Tensor& a, const Tensor& b, PropagateNan nan, Loc loc = Loc::current());
// minimum(maximum(x, lo), hi) (lo <= hi expected, as in Triton); with PropagateNan::all a NaN x
// gives NaN, otherwise lo.
Tensor clamp(const Tensor& x, const Tensor& lo, const Tensor& hi,
             PropagateNan nan = PropagateNan::none, Loc loc = Loc::current());

// ---- math functions (dsl/math_functions.cpp; docs/language.md "Math functions") --------------
// Float tiles only (f16, bf16, f32, f64; f16/bf16 computed in f32 and rounded once); a C++ number
// as the second operand is a scalar of the first's type. Exactly rounded on every backend:
// div_rn (IEEE division, as `/` is in tessel), sqrt_rn, copysign(x, y) (x's magnitude, y's sign),
// trunc, round (halves away from zero), rint (halves to even). From the target's math library
// within the ulp bounds of docs/semantics.md ("Accuracy of the math functions"): fdiv (approximate
// division, PTX div.full.f32 on the GPU, as Triton's tl.math.fdiv), pow (C99 Annex F special
// cases), atan2(y, x), hypot, log1p, expm1, sinh, cosh, tan, atan, asin, acos, erfinv, cbrt, log10,
// exp10.
Tensor div_rn(const Tensor& x, const Tensor& y, Loc loc = Loc::current());
Tensor div_rn(const Tensor& x, double y, Loc loc = Loc::current());
Tensor fdiv(const Tensor& x, const Tensor& y, Loc loc = Loc::current());
Tensor fdiv(const Tensor& x, double y, Loc loc = Loc::current());
Tensor pow(const Tensor& x, const Tensor& y, Loc loc = Loc::current());
Tensor pow(const Tensor& x, double y, Loc loc = Loc::current());
Tensor atan2(const Tensor& y, const Tensor& x, Loc loc = Loc::current());
Tensor atan2(const Tensor& y, double x, Loc loc = Loc::current());
Tensor hypot(const Tensor& x, const Tensor& y, Loc loc = Loc::current());
Tensor hypot(const Tensor& x, double y, Loc loc = Loc::current());
Tensor copysign(const Tensor& x, const Tensor& y, Loc loc = Loc::current());
Tensor copysign(const Tensor& x, double y, Loc loc = Loc::current());
Tensor sqrt_rn(const Tensor& x, Loc loc = Loc::current());
Tensor trunc(const Tensor& x, Loc loc = Loc::current());
Tensor round(const Tensor& x, Loc loc = Loc::current());
Tensor rint(const Tensor& x, Loc loc = Loc::current());
Tensor log1p(const Tensor& x, Loc loc = Loc::current());
Tensor expm1(const Tensor& x, Loc loc = Loc::current());
Tensor sinh(const Tensor& x, Loc loc = Loc::current());
Tensor cosh(const Tensor& x, Loc loc = Loc::current());
Tensor tan(const Tensor& x, Loc loc = Loc::current());
Tensor atan(const Tensor& x, Loc loc = Loc::current());
Tensor asin(const Tensor& x, Loc loc = Loc::current());
Tensor acos(const Tensor& x, Loc loc = Loc::current());
Tensor erfinv(const Tensor& x, Loc loc = Loc::current());
Tensor cbrt(const Tensor& x, Loc loc = Loc::current());
Tensor log10(const Tensor& x, Loc loc = Loc::current());
Tensor exp10(const Tensor& x, Loc loc = Loc::current());
// Triton's cdiv: (x + d - 1) / d on integer tiles (C truncation: the ceiling for x >= 0, d > 0).
Tensor cdiv(const Tensor& x, const Tensor& d, Loc loc = Loc::current());
Tensor cdiv(const Tensor& x, int64_t d, Loc loc = Loc::current());

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
  Tensor NAME(const Tensor& ptr, AtomicValue val, MemSem sem = MemSem::acq_rel,                    \
              MemScope scope = MemScope::gpu, Loc loc = Loc::current());                           \
  Tensor NAME(const Tensor& ptr, AtomicValue val, const Tensor& mask,                              \
              MemSem sem = MemSem::acq_rel, MemScope scope = MemScope::gpu,                        \
              Loc loc = Loc::current());
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

// ---- shapes built from the ops above (dsl/shapes.cpp, dsl/sort.cpp)
// ------------------------------ These are compositions of where, broadcasts, reshape, permute and
// one-element sums (a sum along an axis in which every element but one is -0.0 or 0 is that
// element, bit for bit), so every backend runs them and none needs a lowering of its own. Pointer
// tiles are not accepted by the ops that extract elements (split, gather, flip, sort, topk): split
// the offsets instead. join: a and b (broadcast together, promoted like where) stacked in a new
// minor dim of 2.
Tensor join(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
// The inverse of join: x's last dim must be 2; the two halves without it.
std::pair<Tensor, Tensor> split(const Tensor& x, Loc loc = Loc::current());
// a0 b0 a1 b1 ... along the last dim (join, then merge the new dim into the last).
Tensor interleave(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
// a then b along `dim` (same shapes). `can_reorder` is Triton's deprecated hint: tessel accepts it
// and always returns the concatenation in order (docs/language.md).
Tensor cat(const Tensor& a, const Tensor& b, bool can_reorder = false, int dim = 0,
           Loc loc = Loc::current());
// x reversed along `dim` (default: the last).
Tensor flip(const Tensor& x, int dim = -1, Loc loc = Loc::current());
// x as a 1-D tile, row-major.
Tensor ravel(const Tensor& x, Loc loc = Loc::current());
// result[.., j, ..] = src[.., index[.., j, ..], ..] along `axis`: index (integers) has src's rank
// and src's dims except at `axis`. An index outside [0, src dim) gives 0 (-0.0 for floats).
Tensor gather(const Tensor& src, const Tensor& index, int axis, Loc loc = Loc::current());
// Counts of the values 0 .. num_bins-1 of a 1-D integer tile (i32[num_bins]); values outside
// that range, and where `mask` is false, are not counted.
Tensor histogram(const Tensor& x, int num_bins, Loc loc = Loc::current());
Tensor histogram(const Tensor& x, int num_bins, const Tensor& mask, Loc loc = Loc::current());
// Bitonic sort along `dim`. NaN sorts above every number. With indices: also where each result
// element came from (i32); ties keep the lower index first, so the result is unique (stable).
Tensor sort(const Tensor& x, int dim = -1, bool descending = false, Loc loc = Loc::current());
std::pair<Tensor, Tensor> sort_with_indices(const Tensor& x, int dim = -1, bool descending = false,
                                            Loc loc = Loc::current());
// The k largest elements along the last dim, largest first, with their indices (ties: lower
// index first). k is a power of two no larger than the last dim.
std::pair<Tensor, Tensor> topk(const Tensor& x, int k, Loc loc = Loc::current());

// ---- general scans and reductions (dsl/scans.cpp, dsl/tuple_reduce.cpp)
// --------------------------- A combine function over a tuple of values: combine(lhs, rhs) with lhs
// the earlier elements. It is called on tiles (it must be elementwise and associative; commutative
// is not needed) and its results are converted to the values' dtypes. Both run as fixed trees over
// the bits of the index along the axis, so their results (floats included) are the same bits on
// every backend and for every num_warps (docs/language.md "Scans and reductions").
using Values = std::vector<Tensor>;
using Combine = std::function<Values(const Values& lhs, const Values& rhs)>;
// Inclusive scan: out[i] = x[0] (+) x[1] (+) ... (+) x[i]; with `reverse`,
// out[i] = x[n-1] (+) x[n-2] (+) ... (+) x[i]. Values share one shape.
Values associative_scan(const Values& values, int axis, const Combine& combine,
                        bool reverse = false, Loc loc = Loc::current());
Tensor associative_scan(const Tensor& x, int axis,
                        const std::function<Tensor(Tensor, Tensor)>& combine, bool reverse = false,
                        Loc loc = Loc::current());
// A reduction of a tuple of values with a user combine (the pairwise tree (x0 (+) x1) (+) (x2 (+)
// x3) ...); `keep_dims` keeps the axis with size 1.
Values reduce(const Values& values, int axis, const Combine& combine, bool keep_dims = false,
              Loc loc = Loc::current());

struct ReduceOptions {
  bool keep_dims = false;                    // keep the reduced axis, with size 1
  std::optional<DType> dtype = std::nullopt; // convert first (sum: default i32 for i1/i8/i16)
  // Float sums in the pairwise tree order above (f16/bf16 in f32): the same bits on every run,
  // backend and num_warps. Without it the order is the backend's (unspecified; faster).
  bool deterministic = false;
};
Tensor sum(const Tensor& x, int axis, const ReduceOptions& options, Loc loc = Loc::current());
Tensor max(const Tensor& x, int axis, const ReduceOptions& options, Loc loc = Loc::current());
Tensor min(const Tensor& x, int axis, const ReduceOptions& options, Loc loc = Loc::current());
Tensor argmax(const Tensor& x, int axis, const ReduceOptions& options, Loc loc = Loc::current());
Tensor argmin(const Tensor& x, int axis, const ReduceOptions& options, Loc loc = Loc::current());
// (value, index): the maximum (minimum) and its first index (i32); NaNs are ignored unless all are.
std::pair<Tensor, Tensor> max_with_indices(const Tensor& x, int axis, bool keep_dims = false,
                                           Loc loc = Loc::current());
std::pair<Tensor, Tensor> min_with_indices(const Tensor& x, int axis, bool keep_dims = false,
                                           Loc loc = Loc::current());
// (mean, population variance) along `axis` by Welford/Chan's combine, in f32 (f64 for f64), over
// the elements where `mask` is true; no element: mean 0, variance NaN.
std::pair<Tensor, Tensor> mean_var(const Tensor& x, int axis, Loc loc = Loc::current());
std::pair<Tensor, Tensor> mean_var(const Tensor& x, int axis, const Tensor& mask,
                                   Loc loc = Loc::current());

struct ScanOptions {
  bool reverse = false;                      // from the last element to the first
  std::optional<DType> dtype = std::nullopt; // convert first (default i32 for i1/i8/i16; wraps)
};
Tensor cumsum(const Tensor& x, int axis, const ScanOptions& options, Loc loc = Loc::current());
Tensor cumprod(const Tensor& x, int axis, const ScanOptions& options = {},
               Loc loc = Loc::current());

// ---- Triton's remaining language ops (issue 14; dsl/ops_atomic, random, shapes, sort.cpp) ---
// atomic_load: each element (where `mask` holds; 0 elsewhere) read as one atomic access, ordered
// by `sem` (relaxed or acquire, Triton's default acquire) at `scope` (PTX ld.acquire.gpu).
// atomic_store: each element written as one atomic access (relaxed or release, default release;
// PTX st.release.gpu). Element types i32, i64, u32, u64, f32, f64.
Tensor atomic_load(const Tensor& ptr, MemSem sem = MemSem::acquire, MemScope scope = MemScope::gpu,
                   Loc loc = Loc::current());
Tensor atomic_load(const Tensor& ptr, const Tensor& mask, MemSem sem = MemSem::acquire,
                   MemScope scope = MemScope::gpu, Loc loc = Loc::current());
void atomic_store(const Tensor& ptr, AtomicValue val, MemSem sem = MemSem::release,
                  MemScope scope = MemScope::gpu, Loc loc = Loc::current());
void atomic_store(const Tensor& ptr, AtomicValue val, const Tensor& mask,
                  MemSem sem = MemSem::release, MemScope scope = MemScope::gpu,
                  Loc loc = Loc::current());
// Waits until every element of memory at `ptr` equals `expected` (atomic_load in a loop), then
// returns an all-true i1 tile of ptr's shape (Triton's result; no timeout: see docs/language.md).
Tensor atomic_poll(const Tensor& ptr, AtomicValue expected, MemSem sem = MemSem::acquire,
                   MemScope scope = MemScope::gpu, Loc loc = Loc::current());

// Random helpers as Triton's: rand4x / randn4x use all four words of randint4x (rand's and randn's
// rules: rand4x[0] == rand, randn4x[0] == randn; randn4x[1] is the sine of the pair, [2] and [3]
// the pair of words 2 and 3). uint_to_uniform_float is Triton's formula on an i32/u32 (i64/u64)
// tile: (x < 0 ? ~x : x) * 4.6566127342e-10 (1.0842020432385337e-19), as f32.
// pair_uniform_to_normal is Box-Muller on f32 tiles: r = sqrt(-2 ln max(u1, 1e-7)), (r cos 2 pi u2,
// r sin 2 pi u2), with the log and the sine and cosine made of exactly rounded operations (the same
// bits on every backend; u2 counts in steps of 2^-24 of a turn).
std::array<Tensor, 4> rand4x(const Tensor& seed, const Tensor& offset, Loc loc = Loc::current());
std::array<Tensor, 4> rand4x(int64_t seed, const Tensor& offset, Loc loc = Loc::current());
std::array<Tensor, 4> randn4x(const Tensor& seed, const Tensor& offset, Loc loc = Loc::current());
std::array<Tensor, 4> randn4x(int64_t seed, const Tensor& offset, Loc loc = Loc::current());
Tensor uint_to_uniform_float(const Tensor& x, Loc loc = Loc::current());
std::pair<Tensor, Tensor> pair_uniform_to_normal(const Tensor& u1, const Tensor& u2,
                                                 Loc loc = Loc::current());

// Triton's swizzle2d: the (row, column) of program (i, j) of a size_i x size_j grid when programs
// go down columns in groups of size_g rows (the L2-friendly matmul order); integer tiles/scalars.
std::pair<Tensor, Tensor> swizzle2d(const Tensor& i, const Tensor& j, const Tensor& size_i,
                                    const Tensor& size_j, const Tensor& size_g,
                                    Loc loc = Loc::current());
// x[start : start + length] along `dim` as a new tile (a gather with an arange index; no view):
// length a power of two, 0 <= start, start + length <= the dim.
Tensor slice(const Tensor& x, int dim, int64_t start, int64_t length, Loc loc = Loc::current());
// The merge step of sort (Triton's bitonic_merge): log2(n) compare-exchange columns at distances
// n/2, n/4, .., 1 along the last dim, each putting the smaller (descending: larger) element of a
// pair first. A bitonic row comes out sorted.
Tensor bitonic_merge(const Tensor& x, int dim = -1, bool descending = false,
                     Loc loc = Loc::current());

} // namespace tessel::lang
