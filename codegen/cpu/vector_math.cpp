// tessel's own f32 transcendental functions for the CPU backend (see the header for the accuracy).
// Every routine is branch-free: inputs are clamped into the range where the reduction is valid,
// the polynomial runs on every lane, and special values are patched in with selects. Comparisons
// are ordered (false on NaN) so that a NaN input passes through the clamps and the arithmetic to
// a NaN result. No fast-math flags: the rounding trick in `round_to_int` relies on exact IEEE
// evaluation.
#include "codegen/cpu/vector_math.h"

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <bit>
#include <cmath>
#include <initializer_list>

namespace tessel::codegen::cpu {

namespace {

// ln 2 split for Cody-Waite reduction: kLn2Hi is ln 2 rounded to f32; kLn2Lo the rest. With an
// fma, x - k * kLn2Hi is exact for the |k| <= 151 that the clamps allow (the result fits in 24
// bits), so the reduced argument is off only by k * (ln 2 - kLn2Hi - kLn2Lo), about 2^-47.
constexpr float kLn2Hi = 0x1.62e430p-1f;
constexpr float kLn2Lo = -0x1.05c610p-29f;
constexpr float kLog2e = 0x1.715476p+0f;

class F32Math {
public:
  explicit F32Math(llvm::IRBuilder<>& b) : b(b) {}

  llvm::Value* exp(llvm::Value* x);
  llvm::Value* exp2(llvm::Value* x);
  llvm::Value* log(llvm::Value* x);
  llvm::Value* log2(llvm::Value* x);
  llvm::Value* tanh(llvm::Value* x);
  llvm::Value* erf(llvm::Value* x);
  llvm::Value* log1p(llvm::Value* x);
  llvm::Value* expm1(llvm::Value* x);
  llvm::Value* sinh(llvm::Value* x);
  llvm::Value* cosh(llvm::Value* x);
  llvm::Value* exp10(llvm::Value* x);
  llvm::Value* log10(llvm::Value* x);

private:
  // e^a / 2 for a <= 90 (to +inf past FLT_MAX): exp with the halving folded into 2^k, so that
  // sinh and cosh reach FLT_MAX where e^a itself would overflow.
  llvm::Value* half_exp(llvm::Value* a);
  llvm::Value* c(double v) { return llvm::ConstantFP::get(b.getFloatTy(), v); }
  llvm::Value* i(int32_t v) { return b.getInt32(static_cast<uint32_t>(v)); }
  llvm::Value* fma(llvm::Value* x, llvm::Value* y, llvm::Value* z) {
    return b.CreateIntrinsic(b.getFloatTy(), llvm::Intrinsic::fma, {x, y, z});
  }
  // c0 + x * (c1 + x * (c2 + ...)), by fma.
  llvm::Value* horner(llvm::Value* x, std::initializer_list<double> coeffs);
  // x clamped to [lo, hi]; NaN stays NaN.
  llvm::Value* clamp(llvm::Value* x, double lo, double hi);
  llvm::Value* as_int(llvm::Value* f) { return b.CreateBitCast(f, b.getInt32Ty()); }
  llvm::Value* as_float(llvm::Value* n) { return b.CreateBitCast(n, b.getFloatTy()); }
  // 2^k as a float for k in [-126, 127].
  llvm::Value* pow2(llvm::Value* k) { return as_float(b.CreateShl(b.CreateAdd(k, i(127)), 23)); }
  // p * 2^k for k in [-252, 254], rounded once: 2^k is applied in two normal halves, and p * 2^k1
  // is exact for the p in [0.5, 2] that the polynomials give, so only the second product rounds
  // (to a subnormal, to +inf, or exactly).
  llvm::Value* scale(llvm::Value* p, llvm::Value* k);
  struct Rounded {
    llvm::Value* f; // round-to-nearest of t as a float
    llvm::Value* k; // the same as an i32
  };
  // t rounded to the nearest integer, for |t| < 2^22: adding 1.5 * 2^23 leaves the integer in the
  // low mantissa bits (no fptosi, so no poison for NaN lanes: their k is garbage that the NaN
  // result ignores).
  Rounded round_to_int(llvm::Value* t);
  struct LogParts {
    // x = 2^e (1 + f); log(1 + f) = f - hfsq + correction, hfsq = f^2 / 2.
    llvm::Value* e; // as a float
    llvm::Value* f;
    llvm::Value* hfsq;
    llvm::Value* correction;
  };
  LogParts log_parts(llvm::Value* x);
  llvm::Value* log_special_values(llvm::Value* x, llvm::Value* r);
  // e^y - 1 for y in [0, 19], accurate relative to the result for small y (tanh's core).
  llvm::Value* expm1_nonnegative(llvm::Value* y);
  // e^r - 1 for |r| <= ln 2 / 2 (a little more: k is rounded from a rounded product) as
  // r + r^2 T(r), T of degree 5 interpolating (e^r - 1 - r) / r^2 at the Chebyshev nodes of
  // [-0.35, 0.35] (fitted for tessel in f64): relative error 6e-10 for e^r - 1, 2.4e-10 for e^r,
  // one fma fewer than the Taylor series of the same accuracy.
  llvm::Value* expm1_reduced(llvm::Value* r);

  llvm::IRBuilder<>& b;
};

llvm::Value* F32Math::horner(llvm::Value* x, std::initializer_list<double> coeffs) {
  const double* last = coeffs.end() - 1;
  llvm::Value* acc = c(*last);
  for (const double* p = last; p != coeffs.begin();)
    acc = fma(acc, x, c(*--p));
  return acc;
}

llvm::Value* F32Math::clamp(llvm::Value* x, double lo, double hi) {
  x = b.CreateSelect(b.CreateFCmpOLT(x, c(lo)), c(lo), x);
  return b.CreateSelect(b.CreateFCmpOGT(x, c(hi)), c(hi), x);
}

llvm::Value* F32Math::scale(llvm::Value* p, llvm::Value* k) {
  llvm::Value* k1 = b.CreateAShr(k, 1);
  llvm::Value* k2 = b.CreateSub(k, k1);
  return b.CreateFMul(b.CreateFMul(p, pow2(k1)), pow2(k2));
}

F32Math::Rounded F32Math::round_to_int(llvm::Value* t) {
  constexpr float kMagic = 0x1.8p23f;
  llvm::Value* shifted = b.CreateFAdd(t, c(kMagic));
  llvm::Value* f = b.CreateFSub(shifted, c(kMagic));
  llvm::Value* k = b.CreateSub(as_int(shifted), i(std::bit_cast<int32_t>(kMagic)));
  return {f, k};
}

llvm::Value* F32Math::expm1_reduced(llvm::Value* r) {
  llvm::Value* tail =
      horner(r, {0.5000000014276582, 0.1666666668252385, 0.041666456904077075, 0.008333310034678892,
                 0.0013934531654217072, 0.000198919699106141});
  return fma(b.CreateFMul(r, r), tail, r);
}

// e^x = 2^k * e^r with k = round(x / ln 2), r = x - k ln 2 in [-ln 2 / 2, ln 2 / 2]. The clamp
// maps -inf and everything below e^-104 (under half the smallest subnormal) to 0, and +inf and
// everything above 89 (past FLT_MAX) to +inf, through the same arithmetic.
llvm::Value* F32Math::exp(llvm::Value* x) {
  llvm::Value* xc = clamp(x, -104.0, 89.0);
  Rounded k = round_to_int(b.CreateFMul(xc, c(kLog2e)));
  llvm::Value* r = fma(k.f, c(-kLn2Hi), xc);
  r = fma(k.f, c(-kLn2Lo), r);
  return scale(b.CreateFAdd(c(1.0), expm1_reduced(r)), k.k);
}

// 2^x = 2^k * 2^r with k = round(x), r = x - k exact; 2^r - 1 by its Taylor series in r
// (coefficients ln2^n / n!, degree 8).
llvm::Value* F32Math::exp2(llvm::Value* x) {
  llvm::Value* xc = clamp(x, -151.0, 128.0);
  Rounded k = round_to_int(xc);
  llvm::Value* r = b.CreateFSub(xc, k.f);
  const double l = std::log(2.0);
  llvm::Value* tail =
      horner(r, {l * l / 2, std::pow(l, 3) / 6, std::pow(l, 4) / 24, std::pow(l, 5) / 120,
                 std::pow(l, 6) / 720, std::pow(l, 7) / 5040, std::pow(l, 8) / 40320});
  // r ln 2 with ln 2 in two floats: its rounding would otherwise cost a tenth of an ulp.
  const float l_hi = float(l);
  llvm::Value* q =
      fma(r, c(l_hi), fma(r, c(l - double(l_hi)), b.CreateFMul(b.CreateFMul(r, r), tail)));
  return scale(b.CreateFAdd(c(1.0), q), k.k);
}

// log x = e ln 2 + log(1 + f), x = 2^e (1 + f), 1 + f in [sqrt(2)/2, sqrt(2)) (the mantissa
// is recentred by subtracting the bits of sqrt(2)/2 before splitting). With s = f / (2 + f),
// log(1 + f) = 2 atanh(s) = 2s + s R(s^2); it is assembled as f - (f^2/2 - s (f^2/2 + R)) so that
// the large terms are exact and the rounding errors stay below f's last place.
F32Math::LogParts F32Math::log_parts(llvm::Value* x) {
  llvm::Value* tiny = b.CreateFCmpOLT(x, c(0x1p-126));
  llvm::Value* xs = b.CreateSelect(tiny, b.CreateFMul(x, c(0x1p23)), x);
  llvm::Value* e_bias = b.CreateSelect(tiny, i(-23), i(0));
  constexpr int32_t kSqrtHalf = 0x3f3504f3;
  llvm::Value* ix = b.CreateSub(as_int(xs), i(kSqrtHalf));
  llvm::Value* e = b.CreateAdd(b.CreateAShr(ix, 23), e_bias);
  llvm::Value* m = as_float(b.CreateAdd(b.CreateAnd(ix, i(0x7fffff)), i(kSqrtHalf)));
  llvm::Value* f = b.CreateFSub(m, c(1.0)); // exact (Sterbenz)
  llvm::Value* s = b.CreateFDiv(f, b.CreateFAdd(c(2.0), f));
  llvm::Value* z = b.CreateFMul(s, s);
  llvm::Value* big_r = b.CreateFMul(z, horner(z, {2.0 / 3, 2.0 / 5, 2.0 / 7, 2.0 / 9, 2.0 / 11}));
  llvm::Value* hfsq = b.CreateFMul(c(0.5), b.CreateFMul(f, f));
  llvm::Value* correction = b.CreateFMul(s, b.CreateFAdd(hfsq, big_r));
  return {b.CreateSIToFP(e, b.getFloatTy()), f, hfsq, correction};
}

// log(+-0) = -inf, log(x < 0) = NaN, log(+inf) = +inf, log(NaN) = NaN; `r` elsewhere.
llvm::Value* F32Math::log_special_values(llvm::Value* x, llvm::Value* r) {
  r = b.CreateSelect(b.CreateFCmpOEQ(x, c(0.0)), c(-INFINITY), r);
  r = b.CreateSelect(b.CreateFCmpOLT(x, c(0.0)), c(NAN), r);
  return b.CreateSelect(b.CreateFCmpUEQ(x, c(INFINITY)), x, r);
}

// log x = e ln 2 + log(1 + f) (see log_parts).
llvm::Value* F32Math::log(llvm::Value* x) {
  LogParts p = log_parts(x);
  llvm::Value* log1p = b.CreateFSub(p.f, b.CreateFSub(p.hfsq, p.correction));
  return log_special_values(x, fma(p.e, c(kLn2Hi), fma(p.e, c(kLn2Lo), log1p)));
}

// log2 x = e + log(1 + f) / ln 2. log(1 + f) is split into hi = f - f^2/2 (rounded) and the
// rest, lo (f - hi is exact by Sterbenz), and 1 / ln 2 into two floats, so that hi / ln 2, the
// large term, is rounded only once, with e, in the last fma.
llvm::Value* F32Math::log2(llvm::Value* x) {
  LogParts p = log_parts(x);
  llvm::Value* hi = b.CreateFSub(p.f, p.hfsq);
  llvm::Value* lo = b.CreateFAdd(b.CreateFSub(b.CreateFSub(p.f, hi), p.hfsq), p.correction);
  const double log2e_lo = 1.0 / std::log(2.0) - double(kLog2e);
  llvm::Value* small = fma(hi, c(log2e_lo), fma(lo, c(kLog2e), p.e));
  return log_special_values(x, fma(hi, c(kLog2e), small));
}

llvm::Value* F32Math::expm1_nonnegative(llvm::Value* y) {
  Rounded k = round_to_int(b.CreateFMul(y, c(kLog2e)));
  llvm::Value* r = fma(k.f, c(-kLn2Hi), y);
  r = fma(k.f, c(-kLn2Lo), r);
  llvm::Value* s = pow2(k.k); // k in [0, 28]
  // 2^k (e^r - 1) + (2^k - 1): 2^k - 1 is exact up to k = 24; beyond, tanh no longer sees it.
  return fma(s, expm1_reduced(r), b.CreateFSub(s, c(1.0)));
}

// tanh on two pieces of |x|, both computed on every lane and one selected:
//  * |x| < 0.625: x + x^3 Q(x^2), Q a degree-5 polynomial interpolating (tanh(x)/x - 1) / x^2 at
//    the Chebyshev nodes of x^2 in [0, 0.625^2] (relative error 6e-10, fitted for tessel in f64);
//    the final fma adds a correction under a seventh of x, so x's rounding dominates;
//  * otherwise u / (u + 2) with u = e^(2|x|) - 1, |x| clamped to 9.1, where tanh rounds to 1, and
//    the sign copied back.
llvm::Value* F32Math::tanh(llvm::Value* x) {
  llvm::Value* z = b.CreateFMul(x, x);
  llvm::Value* q = horner(z, {-0.3333333317214349, 0.13333303557031662, -0.053959259590425065,
                              0.021768918716475367, -0.008343945663248697, 0.0022927449401041666});
  llvm::Value* small = fma(b.CreateFMul(x, z), q, x);
  llvm::Value* a = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value* u = expm1_nonnegative(b.CreateFMul(clamp(a, 0.0, 9.1), c(2.0)));
  llvm::Value* large = b.CreateFDiv(u, b.CreateFAdd(u, c(2.0)));
  // Ordered: NaN takes the small path, where it stays NaN. tanh is odd: the sign of x, also for
  // -0 (the fma would give +0).
  return b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign,
                                 b.CreateSelect(b.CreateFCmpOGE(a, c(0.625)), large, small), x);
}

// erf on two pieces of |x|, both computed on every lane and one selected:
//  * |x| < 1: x (c0 + z R(z)), z = x^2, c0 = 2/sqrt(pi), R of degree 5 fitted for tessel in f64
//    (iteratively reweighted least squares towards minimax, on the relative error of erf: 1.3e-9);
//  * 1 <= |x|: 1 - erfc(|x|) with erfc a degree-14 polynomial in |x| - 2.5 fitted the same way
//    on [1, 4] (absolute error 9.4e-9); |x| is clamped to 4, where erf rounds to 1. |x| - 2.5 is
//    exact on [1, 4].
// Session 9 replaced the Taylor series (degree 11) and the degree-16 interpolant: 12 fmas fewer
// per element, the same bound (1.29 ulp worst measured; see the header). Both pieces run on every
// lane because a vector of 16 random inputs almost always holds lanes of both.
llvm::Value* F32Math::erf(llvm::Value* x) {
  llvm::Value* a = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value* z = b.CreateFMul(x, x);
  llvm::Value* r = horner(z, {-0.3761262981940098, 0.11283617358127446, -0.026854915702245814,
                              0.005190161813630386, -0.000802481279336558, 7.898675857235258e-05});
  // x c0 + (x z) R: c0 split in two floats, so that only the small correction term carries the
  // polynomial's rounding.
  const double c0 = 2.0 / std::sqrt(M_PI);
  const float c0_hi = float(c0);
  const double c0_lo = c0 - double(c0_hi);
  llvm::Value* small = fma(x, c(c0_hi), fma(x, c(c0_lo), b.CreateFMul(b.CreateFMul(x, z), r)));
  // Only the upper clamp: lanes below 1 take the small piece, and the polynomial stays finite
  // for them (u >= -2.5).
  llvm::Value* u = b.CreateFSub(b.CreateSelect(b.CreateFCmpOGT(a, c(4.0)), c(4.0), a), c(2.5));
  llvm::Value* erfc =
      horner(u, {0.00040695267123035415, -0.0021781889121672594, 0.005445676433597407,
                 -0.008351715721089874, 0.008622685716513721, -0.006109302703189883,
                 0.0027973491251545263, -0.0005600644422379475, -0.0002584809843215104,
                 0.00027039826335387867, -8.125645563616734e-05, -1.768177590849659e-05,
                 1.5767946478596778e-05, -5.093272497759101e-07, -8.961295623211012e-07});
  llvm::Value* large = b.CreateFSub(c(1.0), erfc);
  // Ordered: NaN takes the small path, where it stays NaN. erf is odd: the sign of x, also for
  // -0 (the fmas would give +0).
  return b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign,
                                 b.CreateSelect(b.CreateFCmpOGE(a, c(1.0)), large, small), x);
}

// ---- erfinv (see the header) --------------------------------------------------------------------

// erfinv(x) / x as a polynomial in each piece's variable (coefficients by increasing power).
constexpr double kErfinvSmall[] = { // in z = x^2, |x| < 0.5
    0.88622692545530257,  0.23201366489691971,    0.12755634799716045,
    0.086545158610908904, 0.065099476348730492,   0.050173138818727245,
    0.052837500812645065, 0.00045465139753228843, 0.095112896113199633};
constexpr double kErfinvMiddle[] = { // in w - 2.5, w < 5
    1.5014093511992612,      0.24664028344583874,    -0.0041773184394076008,
    -0.0012527318917215069,  0.00021825220408583194, -4.9718586511219395e-06,
    -3.4190984811340611e-06, 4.6866496812001518e-07, 1.4793477247316546e-08,
    -9.0246393960187522e-09, 5.7416389685872591e-10};
constexpr double kErfinvTail[] = { // in sqrt(w) - 3, 5 <= w < 17
    2.8329768022530377,     1.0016752581414083,      0.0094452652055934689,
    -0.0076432060711343541, 0.0056880642851489275,   -0.0035646736757744967,
    0.0014735110403054866,  -0.00012497088650285042, -0.00027417815708876135,
    0.00016394671406451714, -3.2020929228841329e-05};
constexpr double kErfinvFarTail[] = { // in sqrt(w) - 5, w >= 17 (f64 only)
    4.8499064000331957,      1.0103004582855204,     -0.00013867277516044197,
    -0.00021496483121608397, 7.5740912445292069e-05, -1.9815295768738503e-05,
    4.9759642000250705e-06,  -9.7673006058699901e-07};

class Erfinv {
public:
  explicit Erfinv(llvm::IRBuilder<>& b) : b(b) {}

  // The polynomial approximation, in double, of a double x.
  llvm::Value* approximate(llvm::Value* x, bool far_tail) {
    llvm::Value* a = fabs(x);
    llvm::Value* t = b.CreateFMul(b.CreateFSub(c(1.0), a), b.CreateFAdd(c(1.0), a));
    llvm::Value* w = b.CreateFNeg(libm("log", t));
    llvm::Value* s = b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, w);
    llvm::Value* p = horner(b.CreateFSub(s, c(3.0)), kErfinvTail);
    if (far_tail)
      p = b.CreateSelect(b.CreateFCmpOLT(w, c(17.0)), p,
                         horner(b.CreateFSub(s, c(5.0)), kErfinvFarTail));
    // Ordered: NaN takes the tail, where it stays NaN.
    p = b.CreateSelect(b.CreateFCmpOLT(w, c(5.0)), horner(b.CreateFSub(w, c(2.5)), kErfinvMiddle),
                       p);
    p = b.CreateSelect(b.CreateFCmpOLT(a, c(0.5)), horner(b.CreateFMul(x, x), kErfinvSmall), p);
    llvm::Value* r = b.CreateFMul(x, p); // keeps the sign of zero
    llvm::Value* inf = b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, c(INFINITY), x);
    return b.CreateSelect(b.CreateFCmpOEQ(a, c(1.0)), inf, r);
  }

  // One Newton step on erf(r) = y: r - (erf(r) - y) sqrt(pi)/2 e^(r^2), the residual from erfc
  // where |y| > 0.5 (erf(r) - y = sign(y) ((1 - |y|) - erfc(|r|)), 1 - |y| exact). Infinite r
  // (|y| = 1) stays.
  llvm::Value* newton(llvm::Value* r, llvm::Value* y) {
    llvm::Value* ay = fabs(y);
    llvm::Value* sign = b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, c(1.0), y);
    llvm::Value* from_erfc =
        b.CreateFMul(sign, b.CreateFSub(b.CreateFSub(c(1.0), ay), libm("erfc", fabs(r))));
    llvm::Value* residual =
        b.CreateSelect(b.CreateFCmpOGT(ay, c(0.5)), from_erfc, b.CreateFSub(libm("erf", r), y));
    llvm::Value* slope = b.CreateFMul(c(std::sqrt(M_PI) / 2), libm("exp", b.CreateFMul(r, r)));
    llvm::Value* next = b.CreateFSub(r, b.CreateFMul(residual, slope));
    return b.CreateSelect(b.CreateFCmpOEQ(fabs(r), c(INFINITY)), r, next);
  }

private:
  llvm::Value* c(double v) { return llvm::ConstantFP::get(b.getDoubleTy(), v); }
  llvm::Value* fabs(llvm::Value* v) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, v); }
  template <size_t N> llvm::Value* horner(llvm::Value* v, const double (&k)[N]) {
    llvm::Value* acc = c(k[N - 1]);
    for (size_t i = N - 1; i-- > 0;)
      acc = b.CreateIntrinsic(b.getDoubleTy(), llvm::Intrinsic::fma, {acc, v, c(k[i])});
    return acc;
  }
  llvm::Value* libm(const char* name, llvm::Value* v) {
    llvm::Module* m = b.GetInsertBlock()->getModule();
    llvm::FunctionCallee f = m->getOrInsertFunction(name, b.getDoubleTy(), b.getDoubleTy());
    if (auto* fn = llvm::dyn_cast<llvm::Function>(f.getCallee())) {
      fn->setDoesNotThrow();
      fn->setDoesNotAccessMemory();
      fn->setWillReturn();
    }
    return b.CreateCall(f, {v});
  }

  llvm::IRBuilder<>& b;
};

// log1p x = log u + (x - (u - 1)) / u with u = 1 + x rounded: the second term is the first-order
// correction for u's rounding (exactly x when u rounds to 1, and 0 where 1 + x is exact, as near
// -1). log u is assembled as in `log`, with the correction added to its small terms. The signs of
// zero are x's.
llvm::Value* F32Math::log1p(llvm::Value* x) {
  llvm::Value* u = b.CreateFAdd(c(1.0), x);
  llvm::Value* rounding = b.CreateFDiv(b.CreateFSub(x, b.CreateFSub(u, c(1.0))), u);
  LogParts p = log_parts(u);
  llvm::Value* small = b.CreateFAdd(p.correction, fma(p.e, c(kLn2Lo), rounding));
  llvm::Value* r = fma(p.e, c(kLn2Hi), b.CreateFSub(p.f, b.CreateFSub(p.hfsq, small)));
  r = log_special_values(u, r);
  return b.CreateSelect(b.CreateFCmpOEQ(x, c(0.0)), x, r);
}

// expm1 x = 2^k (e^r - 1) + (2^k - 1) with k = round(x / ln 2), r = x - k ln 2 as in `exp`:
// for k <= 24, 2^k - 1 is exact and the fma rounds once; above, the -1 is below 2^k's last bits and
// expm1 is computed as exp (2^k (1 + (e^r - 1)), scaled in two halves so that it overflows to +inf
// only past FLT_MAX) minus 1. The clamp to [-30, 89] keeps -1 below. The signs of zero are x's.
llvm::Value* F32Math::expm1(llvm::Value* x) {
  llvm::Value* xc = clamp(x, -30.0, 89.0);
  Rounded k = round_to_int(b.CreateFMul(xc, c(kLog2e)));
  llvm::Value* r = fma(k.f, c(-kLn2Hi), xc);
  r = fma(k.f, c(-kLn2Lo), r);
  llvm::Value* p = expm1_reduced(r);
  llvm::Value* large_k = b.CreateICmpSGT(k.k, i(24));
  llvm::Value* s = pow2(b.CreateSelect(large_k, i(24), k.k));
  llvm::Value* small = fma(s, p, b.CreateFSub(s, c(1.0)));
  llvm::Value* large = b.CreateFSub(scale(b.CreateFAdd(c(1.0), p), k.k), c(1.0));
  llvm::Value* e = b.CreateSelect(large_k, large, small);
  return b.CreateSelect(b.CreateFCmpOEQ(x, c(0.0)), x, e);
}

// ---- sinh, cosh, exp10, log10 (f32) -------------------------------------------------------------

llvm::Value* F32Math::half_exp(llvm::Value* a) {
  llvm::Value* xc = clamp(a, -104.0, 90.0);
  Rounded k = round_to_int(b.CreateFMul(xc, c(kLog2e)));
  llvm::Value* r = fma(k.f, c(-kLn2Hi), xc);
  r = fma(k.f, c(-kLn2Lo), r);
  return scale(b.CreateFAdd(c(1.0), expm1_reduced(r)), b.CreateSub(k.k, i(1)));
}

// sinh on three pieces of a = |x|, each computed on every lane and one selected, the sign copied
// back (also for -0):
//  * a < 1: x + x^3 P(x^2), P the Taylor series of (sinh x / x - 1) / x^2 through x^12 (the first
//    term left out is below 7e-13 of the result);
//  * 1 <= a < 10: (u + u / (u + 1)) / 2 with u = e^a - 1 (expm1_nonnegative: no cancellation);
//  * a >= 10: e^a / 2 (e^-a is below 2^-28 of it).
llvm::Value* F32Math::sinh(llvm::Value* x) {
  llvm::Value* a = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value* z = b.CreateFMul(x, x);
  llvm::Value* p =
      horner(z, {1.0 / 6, 1.0 / 120, 1.0 / 5040, 1.0 / 362880, 1.0 / 39916800, 1.0 / 6227020800.0});
  llvm::Value* small = fma(b.CreateFMul(x, z), p, x);
  llvm::Value* u = expm1_nonnegative(clamp(a, 0.0, 10.0));
  llvm::Value* middle =
      b.CreateFMul(c(0.5), b.CreateFAdd(u, b.CreateFDiv(u, b.CreateFAdd(u, c(1.0)))));
  llvm::Value* r = b.CreateSelect(b.CreateFCmpOLT(a, c(10.0)), middle, half_exp(a));
  // Ordered: NaN takes the small path, where it stays NaN.
  r = b.CreateSelect(b.CreateFCmpOGE(a, c(1.0)), r, small);
  return b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, r, x);
}

// cosh a = (w + 1 / w) / 2 with w = e^a for a = |x| < 10, else e^a / 2 (1 / w below 2^-28 of w).
// cosh(+-inf) = +inf, NaN stays NaN (the ordered compare sends it to w, which is NaN).
llvm::Value* F32Math::cosh(llvm::Value* x) {
  llvm::Value* a = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value* w = exp(clamp(a, 0.0, 10.0));
  llvm::Value* near = fma(c(0.5), w, b.CreateFDiv(c(0.5), w));
  return b.CreateSelect(b.CreateFCmpOGE(a, c(10.0)), half_exp(a), near);
}

// 10^x = 2^k 10^r with k = round(x log2 10) and r = x - k log10(2) by Cody-Waite (log10(2) in two
// floats; with the fma the first step is exact for the |k| <= 153 the clamp allows, as in exp),
// then 10^r = e^t, t = r ln 10 (ln 10 in two floats too), |t| <= ln 2 / 2: expm1_reduced's range.
// The clamp sends -inf and everything below half the smallest subnormal to 0, and +inf and
// everything past FLT_MAX to +inf.
llvm::Value* F32Math::exp10(llvm::Value* x) {
  const double log2_10 = std::log2(10.0), log10_2 = std::log10(2.0), ln10 = std::log(10.0);
  const float log10_2_hi = float(log10_2), ln10_hi = float(ln10);
  llvm::Value* xc = clamp(x, -46.0, 39.0);
  Rounded k = round_to_int(b.CreateFMul(xc, c(log2_10)));
  llvm::Value* r = fma(k.f, c(-log10_2_hi), xc);
  r = fma(k.f, c(-(log10_2 - double(log10_2_hi))), r);
  llvm::Value* t = fma(r, c(ln10_hi), b.CreateFMul(r, c(ln10 - double(ln10_hi))));
  return scale(b.CreateFAdd(c(1.0), expm1_reduced(t)), k.k);
}

// log10 x = e log10(2) + log(1 + f) log10(e), x = 2^e (1 + f) as in `log`: log(1 + f) split into
// hi = f - f^2/2 and the rest (as in log2), log10(e) and log10(2) each in two floats, so that the
// two large terms, e log10(2) and hi log10(e), are each rounded once.
llvm::Value* F32Math::log10(llvm::Value* x) {
  LogParts p = log_parts(x);
  llvm::Value* hi = b.CreateFSub(p.f, p.hfsq);
  llvm::Value* lo = b.CreateFAdd(b.CreateFSub(b.CreateFSub(p.f, hi), p.hfsq), p.correction);
  const double log10e = 1.0 / std::log(10.0), log10_2 = std::log10(2.0);
  const float log10e_hi = float(log10e), log10_2_hi = float(log10_2);
  llvm::Value* small =
      fma(hi, c(log10e - double(log10e_hi)),
          fma(lo, c(log10e_hi), b.CreateFMul(p.e, c(log10_2 - double(log10_2_hi)))));
  llvm::Value* r = fma(p.e, c(log10_2_hi), fma(hi, c(log10e_hi), small));
  return log_special_values(x, r);
}

// ---- cbrt, atan, asin, acos, atan2, hypot (f32 computed in f64) ---------------------------------
// These are computed in double and rounded once to f32, so each is within a hair of 0.5 ulp:
// double's 29 extra bits hold every rounding error of the short evaluations below. Still
// straight-line code that the loop vectoriser turns into SIMD (at half the lanes of f32).

class F64Core {
public:
  explicit F64Core(llvm::IRBuilder<>& b) : b(b) {}

  llvm::Value* cbrt(llvm::Value* x);
  llvm::Value* atan(llvm::Value* x);
  llvm::Value* asin(llvm::Value* x);
  llvm::Value* acos(llvm::Value* x);
  llvm::Value* atan2(llvm::Value* y, llvm::Value* x);
  llvm::Value* hypot(llvm::Value* x, llvm::Value* y);

private:
  llvm::Value* c(double v) { return llvm::ConstantFP::get(b.getDoubleTy(), v); }
  llvm::Value* wide(llvm::Value* f) { return b.CreateFPExt(f, b.getDoubleTy()); }
  llvm::Value* narrow(llvm::Value* d) { return b.CreateFPTrunc(d, b.getFloatTy()); }
  llvm::Value* fabs(llvm::Value* v) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, v); }
  llvm::Value* sqrt(llvm::Value* v) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, v); }
  llvm::Value* copysign(llvm::Value* m, llvm::Value* s) {
    return b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, m, s);
  }
  // atan of a double 0 <= a <= 1 (NaN stays NaN).
  llvm::Value* atan_unit(llvm::Value* a);
  // atan of a double a >= 0, inf included.
  llvm::Value* atan_nonnegative(llvm::Value* a);

  llvm::IRBuilder<>& b;
};

// A first guess from the bits (the exponent divided by 3: within 4% for normal floats; a
// subnormal is scaled by 2^24 first and the result by 2^-8), then two Halley steps in double,
// y <- y (y^3 + 2a) / (2y^3 + a), each cubing the relative error (4e-2 -> 1e-5 -> 1e-15).
// cbrt(+-0) = +-0, cbrt(+-inf) = +-inf, NaN stays NaN: those take the input through.
llvm::Value* F64Core::cbrt(llvm::Value* x) {
  llvm::Type* i32 = b.getInt32Ty();
  llvm::Value* a = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value* tiny = b.CreateFCmpOLT(a, llvm::ConstantFP::get(b.getFloatTy(), 0x1p-126));
  llvm::Value* as =
      b.CreateSelect(tiny, b.CreateFMul(a, llvm::ConstantFP::get(b.getFloatTy(), 0x1p24)), a);
  llvm::Value* guess_bits =
      b.CreateAdd(b.CreateUDiv(b.CreateBitCast(as, i32), b.getInt32(3)), b.getInt32(0x2a5137a0));
  llvm::Value* y = wide(b.CreateBitCast(guess_bits, b.getFloatTy()));
  llvm::Value* ad = wide(as);
  for (int step = 0; step < 2; ++step) {
    llvm::Value* y3 = b.CreateFMul(b.CreateFMul(y, y), y);
    y = b.CreateFDiv(b.CreateFMul(y, b.CreateFAdd(y3, b.CreateFMul(c(2.0), ad))),
                     b.CreateFAdd(b.CreateFMul(c(2.0), y3), ad));
  }
  y = b.CreateSelect(tiny, b.CreateFMul(y, c(0x1p-8)), y);
  llvm::Value* special =
      b.CreateOr(b.CreateFCmpOEQ(a, llvm::ConstantFP::get(b.getFloatTy(), 0.0)),
                 b.CreateFCmpUEQ(a, llvm::ConstantFP::get(b.getFloatTy(), INFINITY)));
  return b.CreateSelect(special, x,
                        b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, narrow(y), x));
}

// 0 <= a <= 1: a > tan(pi/8) is reduced by atan a = pi/4 + atan((a - 1) / (a + 1)), leaving
// |t| <= tan(pi/8) = 0.414, where the Taylor series of atan to t^23 is within 2e-10 (relative).
llvm::Value* F64Core::atan_unit(llvm::Value* a) {
  llvm::Value* big = b.CreateFCmpOGT(a, c(0.41421356237309503));
  llvm::Value* t =
      b.CreateSelect(big, b.CreateFDiv(b.CreateFSub(a, c(1.0)), b.CreateFAdd(a, c(1.0))), a);
  llvm::Value* z = b.CreateFMul(t, t);
  llvm::Value* acc = c(-1.0 / 23);
  for (int n = 10; n >= 1; --n)
    acc = b.CreateIntrinsic(b.getDoubleTy(), llvm::Intrinsic::fma,
                            {acc, z, c((n % 2 ? -1.0 : 1.0) / (2 * n + 1))});
  llvm::Value* r =
      b.CreateIntrinsic(b.getDoubleTy(), llvm::Intrinsic::fma, {b.CreateFMul(t, z), acc, t});
  return b.CreateSelect(big, b.CreateFAdd(c(M_PI / 4), r), r);
}

// a > 1: pi/2 - atan(1 / a) (1 / inf = 0: atan(inf) = pi/2).
llvm::Value* F64Core::atan_nonnegative(llvm::Value* a) {
  llvm::Value* above = b.CreateFCmpOGT(a, c(1.0));
  llvm::Value* r = atan_unit(b.CreateSelect(above, b.CreateFDiv(c(1.0), a), a));
  return b.CreateSelect(above, b.CreateFSub(c(M_PI / 2), r), r);
}

llvm::Value* F64Core::atan(llvm::Value* x) {
  llvm::Value* xd = wide(x);
  return narrow(copysign(atan_nonnegative(fabs(xd)), xd)); // odd; keeps -0
}

// asin x = atan(x / sqrt((1 - x)(1 + x))): the product is exact in double for an f32 x, and
// |x| = 1 gives x / 0 = +-inf, atan +-pi/2; |x| > 1 a NaN square root.
llvm::Value* F64Core::asin(llvm::Value* x) {
  llvm::Value* xd = wide(x);
  llvm::Value* s = sqrt(b.CreateFMul(b.CreateFSub(c(1.0), xd), b.CreateFAdd(c(1.0), xd)));
  llvm::Value* q = b.CreateFDiv(xd, s);
  llvm::Value* r = copysign(atan_nonnegative(fabs(q)), xd);
  return narrow(b.CreateSelect(b.CreateFCmpOEQ(xd, c(0.0)), xd, r)); // 0 / 1 keeps -0 anyway
}

// acos x = 2 atan(sqrt((1 - x) / (1 + x))): no cancellation near x = 1; x = -1 gives 2 / 0 = inf,
// 2 atan(inf) = pi; |x| > 1 a NaN.
llvm::Value* F64Core::acos(llvm::Value* x) {
  llvm::Value* xd = wide(x);
  llvm::Value* q = sqrt(b.CreateFDiv(b.CreateFSub(c(1.0), xd), b.CreateFAdd(c(1.0), xd)));
  return narrow(b.CreateFMul(c(2.0), atan_nonnegative(q)));
}

// atan2(y, x) with C's special values (Annex F, as libdevice): the angle of (|x|, |y|) from
// atan(min / max) in [0, pi/4] (pi/2 - it when |y| > |x|), reflected to pi - it when x's sign bit
// is set, with y's sign. Both zero: 0 or pi; both infinite: pi/4 or 3pi/4; a NaN gives NaN.
llvm::Value* F64Core::atan2(llvm::Value* y, llvm::Value* x) {
  llvm::Value* yd = wide(y);
  llvm::Value* xd = wide(x);
  llvm::Value* ay = fabs(yd);
  llvm::Value* ax = fabs(xd);
  llvm::Value* steep = b.CreateFCmpOGT(ay, ax);
  llvm::Value* lo = b.CreateSelect(steep, ax, ay);
  llvm::Value* hi = b.CreateSelect(steep, ay, ax);
  llvm::Value* t = atan_unit(b.CreateFDiv(lo, hi));
  t = b.CreateSelect(steep, b.CreateFSub(c(M_PI / 2), t), t);
  llvm::Value* both_inf =
      b.CreateAnd(b.CreateFCmpOEQ(ax, c(INFINITY)), b.CreateFCmpOEQ(ay, c(INFINITY)));
  t = b.CreateSelect(both_inf, c(M_PI / 4), t);
  t = b.CreateSelect(b.CreateFCmpOEQ(ay, c(0.0)), c(0.0), t); // 0 / 0 and 0 / x
  llvm::Value* x_negative =
      b.CreateICmpSLT(b.CreateBitCast(x, b.getInt32Ty()), b.getInt32(0)); // sign bit: -0 too
  t = b.CreateSelect(x_negative, b.CreateFSub(c(M_PI), t), t);
  llvm::Value* any_nan = b.CreateFCmpUNO(xd, yd);
  return narrow(b.CreateSelect(any_nan, c(NAN), copysign(t, yd)));
}

// sqrt(x^2 + y^2) in double: the squares are exact and cannot overflow there; an infinite operand
// gives +inf even with a NaN (Annex F).
llvm::Value* F64Core::hypot(llvm::Value* x, llvm::Value* y) {
  llvm::Value* xd = wide(x);
  llvm::Value* yd = wide(y);
  llvm::Value* s = sqrt(
      b.CreateIntrinsic(b.getDoubleTy(), llvm::Intrinsic::fma, {xd, xd, b.CreateFMul(yd, yd)}));
  llvm::Value* any_inf =
      b.CreateOr(b.CreateFCmpOEQ(fabs(xd), c(INFINITY)), b.CreateFCmpOEQ(fabs(yd), c(INFINITY)));
  return narrow(b.CreateSelect(any_inf, c(INFINITY), s));
}

} // namespace

llvm::Value* emit_erfinv(llvm::IRBuilder<>& b, llvm::Value* x) {
  llvm::IRBuilderBase::FastMathFlagGuard guard(b);
  b.clearFastMathFlags();
  Erfinv e(b);
  if (x->getType()->isFloatTy())
    return b.CreateFPTrunc(e.approximate(b.CreateFPExt(x, b.getDoubleTy()), /*far_tail=*/false),
                           b.getFloatTy());
  TESSEL_ASSERT(x->getType()->isDoubleTy(), "erfinv of a float or a double");
  llvm::Value* r = e.approximate(x, /*far_tail=*/true);
  return e.newton(e.newton(r, x), x);
}

llvm::Value* emit_vector_math(llvm::IRBuilder<>& b, ir::Opcode op, llvm::Value* x) {
  if (!x->getType()->isFloatTy())
    return nullptr;
  // Exact IEEE arithmetic whatever the builder carries (see the top of the file).
  llvm::IRBuilderBase::FastMathFlagGuard guard(b);
  b.clearFastMathFlags();
  F32Math m(b);
  switch (op) {
  case ir::Opcode::Exp:
    return m.exp(x);
  case ir::Opcode::Exp2:
    return m.exp2(x);
  case ir::Opcode::Log:
    return m.log(x);
  case ir::Opcode::Log2:
    return m.log2(x);
  case ir::Opcode::Tanh:
    return m.tanh(x);
  case ir::Opcode::Erf:
    return m.erf(x);
  case ir::Opcode::Log1p:
    return m.log1p(x);
  case ir::Opcode::Expm1:
    return m.expm1(x);
  case ir::Opcode::Sinh:
    return m.sinh(x);
  case ir::Opcode::Cosh:
    return m.cosh(x);
  case ir::Opcode::Exp10:
    return m.exp10(x);
  case ir::Opcode::Log10:
    return m.log10(x);
  case ir::Opcode::Cbrt:
    return F64Core(b).cbrt(x);
  case ir::Opcode::Atan:
    return F64Core(b).atan(x);
  case ir::Opcode::Asin:
    return F64Core(b).asin(x);
  case ir::Opcode::Acos:
    return F64Core(b).acos(x);
  default:
    return nullptr; // the other math functions: LLVM intrinsics or libm
  }
}

llvm::Value* emit_vector_math2(llvm::IRBuilder<>& b, ir::Opcode op, llvm::Value* x,
                               llvm::Value* y) {
  if (!x->getType()->isFloatTy())
    return nullptr;
  llvm::IRBuilderBase::FastMathFlagGuard guard(b);
  b.clearFastMathFlags();
  switch (op) {
  case ir::Opcode::Atan2:
    return F64Core(b).atan2(x, y);
  case ir::Opcode::Hypot:
    return F64Core(b).hypot(x, y);
  default:
    return nullptr; // pow, fdiv, rem: libm, an instruction
  }
}

} // namespace tessel::codegen::cpu
