// Floating-point arithmetic for f32, f64, f16, bf16 and the packed f16x2 / bf16x2 forms.
// Operands are widened to double, the operation is done in double, and the result is rounded
// once to the destination format. For +, -, *, / and sqrt this double rounding is exact
// (binary64 has more than 2p+2 bits for every p here), so results equal the ISA's .rn
// results bit for bit; f32 fma uses fmaf. Directed rounding (.rz/.rm/.rp) sets the host
// rounding mode around the lane loop. Approximate instructions (.approx, ex2, lg2, sin,
// cos, tanh, rsqrt) are computed to within an ulp of the exact value, i.e. more precisely
// than hardware; see sim/README.md for the tolerances to use against a GPU.
#include "executor.h"
#include "half.h"

#include <cfenv>
#include <cmath>

namespace tessel::sim {

namespace {

float flush(float f) { return std::fpclassify(f) == FP_SUBNORMAL ? std::copysign(0.0f, f) : f; }

struct RoundingScope {
  int saved;
  bool active;
  explicit RoundingScope(Rnd r) : saved(std::fegetround()), active(true) {
    switch (r) {
    case Rnd::rz:
      std::fesetround(FE_TOWARDZERO);
      break;
    case Rnd::rm:
      std::fesetround(FE_DOWNWARD);
      break;
    case Rnd::rp:
      std::fesetround(FE_UPWARD);
      break;
    default:
      active = false;
      break;
    }
  }
  ~RoundingScope() {
    if (active)
      std::fesetround(saved);
  }
};

double sat01(double v) {
  if (std::isnan(v))
    return 0;
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

template <typename Fn> void apply(Exec& x, const Inst& in, uint32_t mask, int inputs, Fn fn) {
  uint64_t* d = x.dst(in, 0);
  const uint64_t* a = x.src(in, 1);
  const uint64_t* b = inputs > 1 ? x.src(in, 2) : a;
  const uint64_t* c = inputs > 2 ? x.src(in, 3) : a;
  const bool ftz = in.has(kFtz), sat = in.has(kSat);
  RoundingScope rounding(in.rnd);
  switch (in.type) {
  case Type::f32:
    for_lanes(mask, [&](uint32_t l) {
      float A = bits_f32(static_cast<uint32_t>(a[l])), B = bits_f32(static_cast<uint32_t>(b[l])),
            C = bits_f32(static_cast<uint32_t>(c[l]));
      if (ftz) {
        A = flush(A);
        B = flush(B);
        C = flush(C);
      }
      double r = fn(A, B, C);
      if (sat)
        r = sat01(r);
      float f = static_cast<float>(r);
      if (ftz)
        f = flush(f);
      d[l] = f32_bits(f);
    });
    return;
  case Type::f64:
    for_lanes(mask, [&](uint32_t l) {
      double r = fn(bits_f64(a[l]), bits_f64(b[l]), bits_f64(c[l]));
      if (sat)
        r = sat01(r);
      d[l] = f64_bits(r);
    });
    return;
  case Type::f16:
  case Type::f16x2:
  case Type::bf16:
  case Type::bf16x2: {
    const bool bf = in.type == Type::bf16 || in.type == Type::bf16x2;
    const int halves = in.type == Type::f16x2 || in.type == Type::bf16x2 ? 2 : 1;
    auto load = [bf](uint64_t v, int h) {
      uint16_t bits = static_cast<uint16_t>(v >> (16 * h));
      return bf ? double(bf16_to_float(bits)) : double(half_to_float(bits));
    };
    for_lanes(mask, [&](uint32_t l) {
      uint64_t out = 0;
      for (int h = 0; h < halves; ++h) {
        double r = fn(load(a[l], h), load(b[l], h), load(c[l], h));
        if (sat)
          r = sat01(r);
        uint16_t bits = bf ? float_to_bf16(static_cast<float>(r)) : double_to_half(r);
        if (ftz && !bf && (bits & 0x7c00) == 0)
          bits &= 0x8000;
        out |= uint64_t(bits) << (16 * h);
      }
      d[l] = out;
    });
    return;
  }
  default:
    x.report(ErrorKind::unsupported, in, -1, false, 0,
             std::string("floating-point arithmetic on type .") + type_name(in.type) +
                 " is not supported");
    x.launch.aborted = true;
    return;
  }
}

double fmin_ptx(double a, double b, bool nan) {
  if (std::isnan(a) || std::isnan(b))
    return nan ? NAN : std::isnan(a) ? b : a;
  if (a == b)
    return std::signbit(a) ? a : b;
  return a < b ? a : b;
}
double fmax_ptx(double a, double b, bool nan) {
  if (std::isnan(a) || std::isnan(b))
    return nan ? NAN : std::isnan(a) ? b : a;
  if (a == b)
    return std::signbit(a) ? b : a;
  return a > b ? a : b;
}

} // namespace

void exec_float_arith(Exec& x, const Inst& in, uint32_t mask) {
  if (!mask)
    return;
  if (in.op == Op::testp) {
    // testp.class.type p, a: classify a (f32 or f64) per lane.
    const uint64_t* a = x.src(in, 1);
    uint32_t p = 0;
    for_lanes(mask, [&](uint32_t l) {
      double v = in.type == Type::f64 ? bits_f64(a[l]) : bits_f32(static_cast<uint32_t>(a[l]));
      int c = in.type == Type::f64 ? std::fpclassify(v) : std::fpclassify(static_cast<float>(v));
      bool r = false;
      switch (in.sub) {
      case Sub::finite:
        r = c != FP_INFINITE && c != FP_NAN;
        break;
      case Sub::infinite:
        r = c == FP_INFINITE;
        break;
      case Sub::number:
        r = c != FP_NAN;
        break;
      case Sub::notanumber:
        r = c == FP_NAN;
        break;
      case Sub::normal:
        r = c == FP_NORMAL;
        break;
      case Sub::subnormal:
        r = c == FP_SUBNORMAL;
        break;
      default:
        break;
      }
      p |= uint32_t(r) << l;
    });
    uint32_t& d = x.P[in.ops[0].index];
    d = (d & ~mask) | p;
    return;
  }
  const bool nan = in.has(kNaN);
  switch (in.op) {
  case Op::add:
    return apply(x, in, mask, 2, [](double a, double b, double) { return a + b; });
  case Op::sub:
    return apply(x, in, mask, 2, [](double a, double b, double) { return a - b; });
  case Op::mul:
    return apply(x, in, mask, 2, [](double a, double b, double) { return a * b; });
  case Op::fma:
  case Op::mad:
    if (in.type == Type::f32) {
      return apply(x, in, mask, 3, [](double a, double b, double c) {
        return double(std::fma(float(a), float(b), float(c)));
      });
    }
    return apply(x, in, mask, 3, [](double a, double b, double c) { return std::fma(a, b, c); });
  case Op::div:
    return apply(x, in, mask, 2, [](double a, double b, double) { return a / b; });
  case Op::min:
    return apply(x, in, mask, 2, [nan](double a, double b, double) { return fmin_ptx(a, b, nan); });
  case Op::max:
    return apply(x, in, mask, 2, [nan](double a, double b, double) { return fmax_ptx(a, b, nan); });
  case Op::abs:
    return apply(x, in, mask, 1, [](double a, double, double) { return std::fabs(a); });
  case Op::neg:
    return apply(x, in, mask, 1, [](double a, double, double) { return -a; });
  case Op::rcp:
    return apply(x, in, mask, 1, [](double a, double, double) { return 1.0 / a; });
  case Op::sqrt:
    return apply(x, in, mask, 1, [](double a, double, double) { return std::sqrt(a); });
  case Op::rsqrt:
    return apply(x, in, mask, 1, [](double a, double, double) { return 1.0 / std::sqrt(a); });
  case Op::ex2:
    return apply(x, in, mask, 1, [](double a, double, double) { return std::exp2(a); });
  case Op::lg2:
    return apply(x, in, mask, 1, [](double a, double, double) { return std::log2(a); });
  case Op::sin:
    return apply(x, in, mask, 1, [](double a, double, double) { return std::sin(a); });
  case Op::cos:
    return apply(x, in, mask, 1, [](double a, double, double) { return std::cos(a); });
  case Op::tanh:
    return apply(x, in, mask, 1, [](double a, double, double) { return std::tanh(a); });
  case Op::copysign:
    return apply(x, in, mask, 2, [](double a, double b, double) { return std::copysign(b, a); });
  default:
    x.report(ErrorKind::unsupported, in, -1, false, 0,
             std::string("'") + op_key(in.op) + "' on floating-point types is not supported");
    x.launch.aborted = true;
    return;
  }
}

} // namespace tessel::sim
