// Private to codegen: the one emitter of the scalar semantics of every elementwise op, used by the
// CPU and the GPU backend, so that the two cannot disagree on what `a < b` means on i1, what
// `x / 0` gives or how a cast rounds. Each backend lowers tensors its own way (stack arrays and
// lazy expressions on the CPU, per-thread registers on the GPU) and calls `apply` once per element
// (or per register); what differs by target is behind `ScalarTarget`: the register types, how an
// f32 is rounded to f16/bf16, and the math library (libm/LLVM intrinsics on the CPU, libdevice on
// the GPU). The GPU's packed f16x2/bf16x2 forms stay in codegen/gpu: they compute exactly the
// bits that `apply` would (only exactly rounded ops are packed).
//
// The rules (docs/architecture.md, "Scalar semantics", lists them with their edge cases):
//  * Integers are two's complement and wrap. div/rem truncate (C); x / 0 = x, x % 0 = 0,
//    INT_MIN / -1 = INT_MIN, INT_MIN % -1 = 0 (the divisor is replaced by 1, never a trap or
//    poison). Shift amounts are taken modulo the bit width; shr is arithmetic. umulhi reads its
//    operands as unsigned (the high half of the double-width product). popc/clz count bits
//    (clz(0) is the width).
//  * bitcast reinterprets bits; on the CPU an f16/bf16 NaN's payload may be quieted on the way
//    through its f32 value type (the value stays a NaN).
//  * i1 is ordered false < true: comparisons, min and max on i1 are unsigned (as pointers are).
//  * Floats: IEEE round to nearest even; f16/bf16 in f32, rounded back after each op. min/max
//    return the other operand for one NaN and -0 / +0 for min / max of zeros of both signs.
//    rem is the exact fmod. cmp_ne is true on NaN; every other comparison is false. div_rn,
//    sqrt_rn, copysign, trunc, round and rint are exact; the other math functions come from the
//    target's library, within documented ulp bounds (docs/semantics.md).
//  * Casts: float -> int saturates (NaN -> 0); every narrowing float cast and int -> f16/bf16
//    rounds once (to nearest even); f16 <-> bf16 goes through f32 (exact) with one rounding.
//  * Unsigned integers (u8 ... u64) compare, divide, take min/max and shift right as unsigned,
//    and widen with zeros; the rest is the signed rules' bits.
//  * fp8 (f8e4m3 = E4M3FN, f8e5m2) values travel as their i8 bits on every target and are
//    converted by integer arithmetic here (the same bits on the CPU and every GPU): decoding is
//    exact; encoding rounds once to nearest even and overflows to NaN (e4m3) or inf (e5m2), or
//    with cast_sat to the largest finite value (PTX's .satfinite; NaN stays NaN).
// docs/semantics.md states them for users.
#pragma once

#include "tessel/ir/ir.h"

#include <llvm/IR/IRBuilder.h>

#include <span>
#include <string_view>

namespace tessel::codegen {

// What differs by target.
class ScalarTarget {
public:
  virtual ~ScalarTarget() = default;
  // The type an element travels in: f16/bf16 as `float` (CPU) or `half`/`bfloat` (GPU).
  virtual llvm::Type* value_type(const ir::Type* elem) = 0;
  // The type of a pointee in memory (the stride of addptr).
  virtual llvm::Type* memory_type(const ir::Type* pointee) = 0;
  // `f` (a float) rounded to nearest even to f16 or bf16 `elem`, in `value_type(elem)`.
  virtual llvm::Value* round_f32(llvm::Value* f, const ir::Type* elem) = 0;
  // True when add/sub/mul on f16/bf16 `elem` run natively on half/bfloat registers. Only for
  // exactly rounded hardware ops: f32 has more than 2p+2 bits for p = 11 and 8, so computing in
  // f32 and rounding gives the same bits (fma is not in the set: it could round twice).
  virtual bool has_native_narrow_arith(const ir::Type* elem) const = 0;
  // A math function on f32 or f64 operands: exp, exp2, log, log2, sqrt, rsqrt, sin, cos, erf,
  // tanh, floor, ceil, rem (fmod, which must be exact), and the math functions of issue 14
  // (fdiv, pow, atan2, hypot, log1p, expm1, sinh, cosh, tan, atan, asin, acos, erfinv, cbrt,
  // log10, exp10) within the bounds docs/semantics.md ("Accuracy of the math functions") gives.
  virtual llvm::Value* math(ir::Opcode op, std::span<llvm::Value* const> args) = 0;
  // The target's own fp8 conversions, or null where it has none (the integer arithmetic of
  // ScalarSemantics then does them): f32 -> fp8 bits rounded to nearest even with saturation to
  // the largest finite value (PTX cvt.rn.satfinite.e4m3x2.f32), and fp8 bits -> f32 (cvt.rn.f16x2
  // .e4m3x2, exact). Only their NaN bits may differ from the semantics here, which fixes them.
  virtual llvm::Value* native_f32_to_fp8_sat(llvm::Value* f, const ir::Type* to) { return nullptr; }
  virtual llvm::Value* native_fp8_to_f32(llvm::Value* bits, const ir::Type* from) {
    return nullptr;
  }
  // A user-reachable op the target cannot lower: throws.
  [[noreturn]] virtual void unsupported(const ir::Op& op, std::string_view why) = 0;
};

class ScalarSemantics {
public:
  ScalarSemantics(llvm::IRBuilder<>& b, ScalarTarget& target) : b(b), target(target) {}

  // The result of elementwise `op` on one element; `args` are in the targets' value types.
  llvm::Value* apply(const ir::Op& op, std::span<llvm::Value* const> args);
  // `v` of element type `from` converted to `to`; `saturate` only for fp8 destinations.
  llvm::Value* cast(llvm::Value* v, const ir::Type* from, const ir::Type* to,
                    bool saturate = false);
  // The literal `value` as an element of `elem` (rounded once, to nearest even, for floats).
  llvm::Value* constant(const ir::Type* elem, const ir::Attr& value);
  // The bits of `v` (of element type `from`) read as `to`, of the same width.
  llvm::Value* bitcast(llvm::Value* v, const ir::Type* from, const ir::Type* to);

  // f16/bf16 values as float (exact), others unchanged.
  llvm::Value* widen(llvm::Value* v);
  // A float or double `f` rounded once to float type `elem`, in `value_type(elem)`.
  llvm::Value* narrow(llvm::Value* f, const ir::Type* elem);

private:
  llvm::Value* apply_float(const ir::Op& op, const ir::Type* elem, std::span<llvm::Value* const> a);
  llvm::Value* apply_integer(const ir::Op& op, const ir::Type* elem,
                             std::span<llvm::Value* const> a);
  llvm::Value* compare(ir::Opcode op, const ir::Type* elem, llvm::Value* x, llvm::Value* y);
  llvm::Value* float_min_max(ir::Opcode op, llvm::Value* x, llvm::Value* y);
  llvm::Value* exactly_rounded(ir::Opcode op, std::span<llvm::Value* const> a);
  llvm::Value* safe_divisor(llvm::Value* x, llvm::Value* y);
  llvm::Value* shift_amount(llvm::Value* y);
  llvm::Value* unsigned_mul_hi(llvm::Value* x, llvm::Value* y);
  llvm::Value* f64_to_f32_round_to_odd(llvm::Value* d);
  llvm::Value* cast_fp8(llvm::Value* v, const ir::Type* from, const ir::Type* to, bool saturate);
  llvm::Value* fp8_to_f32(llvm::Value* bits, const ir::Type* from);
  llvm::Value* f32_to_fp8(llvm::Value* f, const ir::Type* to, bool saturate);
  llvm::Value* int_to_int(llvm::Value* v, const ir::Type* from, const ir::Type* to);
  llvm::Value* int_to_float(llvm::Value* v, const ir::Type* from, llvm::Type* to);

  llvm::IRBuilder<>& b;
  ScalarTarget& target;
};

// The elementwise ops whose f16/bf16 result equals one hardware op on half/bfloat (the GPU packs
// them in pairs): add, sub, mul, neg, abs.
bool is_exact_narrow_op(ir::Opcode op);

} // namespace tessel::codegen
