// Private to codegen/cpu: tessel's own f32 exp, exp2, log, log2, tanh, erf, log1p and expm1,
// emitted as straight-line LLVM IR (range reduction + polynomial, special values by selects) at the
// point of use, so that the loop vectoriser turns a tile's elementwise loop into plain SIMD.
// glibc's vector expf (libmvec) falls back to a scalar call for every vector that holds one special
// input, such as the -inf `other` lanes of a masked softmax load; these routines have no such path.
//
// Accuracy: the error against the exact result (glibc's libm in double), in f32 ulps, bounded as
// below and asserted by tests/codegen/cpu_vector_math_test.cpp over ~47M inputs (every 97th f32
// bit pattern plus dense and random sweeps of each function's range); the worst case measured is
// in brackets (bench/RESULTS.md, "CPU vector math"):
//   exp <= 1 (0.98)   exp2 <= 1 (0.84)   log <= 1 (0.88)   log2 <= 1.5 (1.17)
//   tanh <= 2 (1.49)  erf <= 2 (1.27)
//   log1p <= 2 (0.82)  expm1 <= 2 (1.44)   (issue 14; also docs/semantics.md "Accuracy of the
//   math functions")
//   sinh, cosh, exp10, log10 <= 2 (f32 evaluations like the above); cbrt, atan, asin, acos,
//   atan2, hypot <= 1 (computed in f64, rounded once: all but correctly rounded)
// f64 stays with libm (LLVM's intrinsics and erf/tanh calls).
// Special values are exact: exp(-inf) = 0, exp(+inf) = +inf, overflow to +inf, results that are
// subnormal rounded once; log(+-0) = -inf, log(x < 0) = NaN, log(+inf) = +inf, subnormal inputs;
// tanh(+-inf) = +-1, erf(+-inf) = +-1; the sign of zero kept by tanh and erf; NaN in, NaN out.
#pragma once

#include "tessel/ir/ir.h"

#include <llvm/IR/IRBuilder.h>

namespace tessel::codegen::cpu {

// `op` of the f32 value `x` (a scalar float), or nullptr where tessel has no routine of its own
// for `op` or for x's type (f64 stays with libm): the caller then calls libm.
llvm::Value* emit_vector_math(llvm::IRBuilder<>& b, ir::Opcode op, llvm::Value* x);
// The same for the two-operand atan2 (y = x, x = y: ops.def's operand order) and hypot.
llvm::Value* emit_vector_math2(llvm::IRBuilder<>& b, ir::Opcode op, llvm::Value* x, llvm::Value* y);

// erfinv of the f32 or f64 value `x` (libm has none), branch-free. An f32 is computed in double
// and rounded once: erfinv(x) = x P(x^2) for |x| < 0.5, else x Q(w) with w = -log(1 - x^2) on
// two pieces of w (polynomials fitted for tessel in f64 against SciPy's erfinv/erfcinv, relative
// error under 2.2e-9), so the f32 result is within 0.52 ulp (bench_math_ulp). An f64 starts from
// the same approximation (a third piece for w >= 17) and takes two Newton steps on erf, or on erfc
// for |x| > 0.5 (1 - |x| is exact there), each squaring the relative error. erfinv(+-1) = +-inf,
// |x| > 1 and NaN give NaN, the sign of zero is kept. log, erf, erfc and exp are libm's
// (vectorised through libmvec where it has them).
llvm::Value* emit_erfinv(llvm::IRBuilder<>& b, llvm::Value* x);

} // namespace tessel::codegen::cpu
