// cvt between every integer width and the float formats (f16, bf16, tf32, f32, f64, e4m3,
// e5m2 and their packed x2 forms), with rounding modes, saturation, .relu and .ftz.
// Float-to-integer conversions saturate to the destination range and map NaN to 0, as the
// ISA specifies; integer narrowing truncates unless .sat clamps.
#include "executor.h"
#include "half.h"

#include <cfenv>
#include <cmath>
#include <limits>

namespace tessel::sim {

namespace {

double load_float(Type t, uint64_t v) {
  switch (t) {
  case Type::f16:
    return half_to_float(static_cast<uint16_t>(v));
  case Type::bf16:
    return bf16_to_float(static_cast<uint16_t>(v));
  case Type::f32:
  case Type::tf32:
    return bits_f32(static_cast<uint32_t>(v));
  case Type::f64:
    return bits_f64(v);
  case Type::e4m3:
    return e4m3_to_float(static_cast<uint8_t>(v));
  case Type::e5m2:
    return e5m2_to_float(static_cast<uint8_t>(v));
  default:
    return 0;
  }
}

double round_integral(double v, Rnd r) {
  switch (r) {
  case Rnd::rzi:
  case Rnd::rz:
    return std::trunc(v);
  case Rnd::rmi:
  case Rnd::rm:
    return std::floor(v);
  case Rnd::rpi:
  case Rnd::rp:
    return std::ceil(v);
  case Rnd::rni:
  case Rnd::rn:
    return std::nearbyint(v); // ties to even
  case Rnd::rna:
    return std::round(v);
  default:
    return v;
  }
}

// Float -> integer with saturation; NaN gives 0.
uint64_t float_to_int(double v, Type dst, Rnd r) {
  if (std::isnan(v))
    return 0;
  v = round_integral(v, r == Rnd::none ? Rnd::rzi : r);
  unsigned bits = type_size(dst) * 8;
  if (is_signed(dst)) {
    double lo = -std::ldexp(1.0, bits - 1), hi = std::ldexp(1.0, bits - 1);
    if (v <= lo)
      return static_cast<uint64_t>(
          static_cast<int64_t>(bits == 64 ? INT64_MIN : -(int64_t(1) << (bits - 1))));
    if (v >= hi)
      return bits == 64 ? uint64_t(INT64_MAX) : (uint64_t(1) << (bits - 1)) - 1;
    return static_cast<uint64_t>(static_cast<int64_t>(v));
  }
  double hi = std::ldexp(1.0, bits);
  if (v <= 0)
    return 0;
  if (v >= hi)
    return bits == 64 ? ~uint64_t(0) : (uint64_t(1) << bits) - 1;
  return static_cast<uint64_t>(v);
}

uint64_t store_float(Type dst, double v, const Inst& in) {
  bool satfinite = in.has(kSatFinite);
  if (in.has(kRelu) && !std::isnan(v) && v < 0)
    v = 0;
  if (in.has(kSat))
    v = std::isnan(v) ? 0 : v < 0 ? 0 : v > 1 ? 1 : v;
  switch (dst) {
  case Type::f16:
    return double_to_half(v);
  case Type::bf16:
    return float_to_bf16(static_cast<float>(v));
  case Type::tf32:
    return float_to_tf32(static_cast<float>(v));
  case Type::f32: {
    float f = static_cast<float>(v);
    if (in.has(kFtz) && std::fpclassify(f) == FP_SUBNORMAL)
      f = std::copysign(0.0f, f);
    return f32_bits(f);
  }
  case Type::f64:
    return f64_bits(v);
  case Type::e4m3:
    return float_to_e4m3(static_cast<float>(v), satfinite);
  case Type::e5m2:
    return float_to_e5m2(static_cast<float>(v), satfinite);
  default:
    return 0;
  }
}

Type element_of(Type packed) {
  switch (packed) {
  case Type::f16x2:
    return Type::f16;
  case Type::bf16x2:
    return Type::bf16;
  case Type::e4m3x2:
    return Type::e4m3;
  case Type::e5m2x2:
    return Type::e5m2;
  default:
    return packed;
  }
}

} // namespace

void exec_convert(Exec& x, const Inst& in, uint32_t mask) {
  if (!mask)
    return;
  const Type dt = in.type, st = in.type2;
  uint64_t* d = x.dst(in, 0);
  const uint64_t* a = x.src(in, 1);
  int saved_round = std::fegetround();
  bool directed = in.rnd == Rnd::rz || in.rnd == Rnd::rm || in.rnd == Rnd::rp;
  if (directed && is_float(dt) && is_float(st))
    std::fesetround(in.rnd == Rnd::rz   ? FE_TOWARDZERO
                    : in.rnd == Rnd::rm ? FE_DOWNWARD
                                        : FE_UPWARD);
  // Packed destinations from two sources: d = {hi: a, lo: b}.
  if ((dt == Type::f16x2 || dt == Type::bf16x2 || dt == Type::e4m3x2 || dt == Type::e5m2x2) &&
      !(st == Type::f16x2 || st == Type::e4m3x2 || st == Type::e5m2x2) && in.nops >= 3) {
    const uint64_t* b = x.src(in, 2);
    Type e = element_of(dt);
    unsigned w = type_size(e) * 8;
    for_lanes(mask, [&](uint32_t l) {
      uint64_t hi = store_float(e, load_float(st, a[l]), in);
      uint64_t lo = store_float(e, load_float(st, b[l]), in);
      d[l] = (hi << w) | lo;
    });
  } else if ((st == Type::e4m3x2 || st == Type::e5m2x2) && dt == Type::f16x2) {
    Type e = element_of(st);
    for_lanes(mask, [&](uint32_t l) {
      uint64_t lo = double_to_half(load_float(e, a[l] & 0xff));
      uint64_t hi = double_to_half(load_float(e, (a[l] >> 8) & 0xff));
      d[l] = (hi << 16) | lo;
    });
  } else if (is_float(st) && is_float(dt)) {
    for_lanes(mask, [&](uint32_t l) {
      double v = load_float(st, a[l]);
      if (in.has(kFtz) && st == Type::f32 && std::fpclassify(static_cast<float>(v)) == FP_SUBNORMAL)
        v = std::copysign(0.0, v);
      if (in.rnd == Rnd::rni || in.rnd == Rnd::rzi || in.rnd == Rnd::rmi || in.rnd == Rnd::rpi)
        v = round_integral(v, in.rnd);
      d[l] = store_float(dt, v, in);
    });
  } else if (is_float(st)) {
    for_lanes(mask, [&](uint32_t l) {
      double v = load_float(st, a[l]);
      uint64_t r = float_to_int(v, dt, in.rnd);
      d[l] = is_signed(dt) ? static_cast<uint64_t>(load_signed(dt, r)) : r;
    });
  } else if (is_float(dt)) {
    int saved = std::fegetround();
    if (directed)
      std::fesetround(in.rnd == Rnd::rz   ? FE_TOWARDZERO
                      : in.rnd == Rnd::rm ? FE_DOWNWARD
                                          : FE_UPWARD);
    for_lanes(mask, [&](uint32_t l) {
      double v;
      if (is_signed(st)) {
        int64_t s = load_signed(st, a[l]);
        // int64 -> f32 must round once: go through float directly.
        if (dt == Type::f32) {
          d[l] = store_float(dt, static_cast<float>(s), in);
          return;
        }
        v = static_cast<double>(s);
      } else {
        uint64_t u = load_unsigned(st, a[l]);
        if (dt == Type::f32) {
          d[l] = store_float(dt, static_cast<float>(u), in);
          return;
        }
        v = static_cast<double>(u);
      }
      d[l] = store_float(dt, v, in);
    });
    std::fesetround(saved);
  } else {
    // Integer to integer: extend or truncate; .sat clamps to the destination range.
    unsigned dbits = type_size(dt) * 8;
    for_lanes(mask, [&](uint32_t l) {
      if (in.has(kSat)) {
        bool ss = is_signed(st), ds = is_signed(dt);
        __int128 v = ss ? __int128(load_signed(st, a[l])) : __int128(load_unsigned(st, a[l]));
        __int128 lo = ds ? -(__int128(1) << (dbits - 1)) : 0;
        __int128 hi = ds ? (__int128(1) << (dbits - 1)) - 1 : (__int128(1) << dbits) - 1;
        if (v < lo)
          v = lo;
        if (v > hi)
          v = hi;
        uint64_t r = static_cast<uint64_t>(v);
        d[l] = ds ? static_cast<uint64_t>(load_signed(dt, r)) : load_unsigned(dt, r);
        return;
      }
      uint64_t v =
          is_signed(st) ? static_cast<uint64_t>(load_signed(st, a[l])) : load_unsigned(st, a[l]);
      d[l] = is_signed(dt) ? static_cast<uint64_t>(load_signed(dt, v)) : load_unsigned(dt, v);
    });
  }
  std::fesetround(saved_round);
}

} // namespace tessel::sim
