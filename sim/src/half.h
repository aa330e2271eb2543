// Conversions between binary32/binary64 and the narrow float formats the PTX subset uses:
// IEEE binary16 (f16), bfloat16, TensorFloat-32 and the FP8 formats e4m3 / e5m2. Conversion
// to a narrow format rounds to nearest even unless a function says otherwise; e4m3 has no
// infinity (it saturates to NaN or, with satfinite, to its largest finite value 448).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace tessel::sim {

inline uint32_t f32_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
inline float bits_f32(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
inline uint64_t f64_bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}
inline double bits_f64(uint64_t b) {
  double d;
  std::memcpy(&d, &b, 8);
  return d;
}

// Rounds `v` (finite, non-negative) to a float format with `mant` mantissa bits, minimum
// normal exponent `emin`, returning the encoding of the magnitude; `max_exp_field` is the
// largest exponent field of a finite value and `max_mant_at_max` the largest mantissa there.
inline uint32_t encode_narrow(double v, int mant, int emin, int bias, uint32_t overflow_code) {
  if (v == 0)
    return 0;
  int e;
  std::frexp(v, &e); // v = f * 2^e, f in [0.5, 1)
  int exp = e - 1;   // v = 1.x * 2^exp
  if (exp < emin)
    exp = emin; // subnormal range: fixed quantum
  double quantum = std::ldexp(1.0, exp - mant);
  double q = v / quantum;
  double r = std::nearbyint(q); // ties to even under the default rounding mode
  uint64_t m = static_cast<uint64_t>(r);
  if (m >= (uint64_t(2) << mant)) { // rounded up into the next binade
    m >>= 1;
    ++exp;
  }
  if (m < (uint64_t(1) << mant))
    return static_cast<uint32_t>(m); // subnormal (exp == emin)
  uint32_t field = static_cast<uint32_t>(exp + bias);
  uint32_t code = (field << mant) | static_cast<uint32_t>(m & ((uint64_t(1) << mant) - 1));
  return code >= overflow_code ? overflow_code : code;
}

inline uint16_t double_to_half(double v) {
  uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  if (std::isnan(v))
    return 0x7e00;
  double a = std::fabs(v);
  if (std::isinf(a))
    return sign | 0x7c00;
  return sign | static_cast<uint16_t>(encode_narrow(a, 10, -14, 15, 0x7c00));
}
inline uint16_t float_to_half(float v) { return double_to_half(v); }

inline float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0x1f)
    return bits_f32(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    float f = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -f : f;
  }
  return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

inline uint16_t float_to_bf16(float f) {
  uint32_t b = f32_bits(f);
  if (std::isnan(f))
    return static_cast<uint16_t>((b >> 16) | 0x40);
  uint32_t lsb = (b >> 16) & 1;
  b += 0x7fff + lsb;
  return static_cast<uint16_t>(b >> 16);
}
inline float bf16_to_float(uint16_t h) { return bits_f32(uint32_t(h) << 16); }

// cvt.rna.tf32.f32: round to 10 mantissa bits, ties away from zero; the result is an f32
// bit pattern with the low 13 bits clear.
inline uint32_t float_to_tf32(float f) {
  uint32_t b = f32_bits(f);
  if (std::isnan(f) || std::isinf(f))
    return b;
  b += 0x1000;
  return b & 0xffffe000u;
}

inline uint8_t float_to_e4m3(float v, bool satfinite) {
  uint8_t sign = std::signbit(v) ? 0x80 : 0;
  if (std::isnan(v))
    return 0x7f;
  double a = std::fabs(static_cast<double>(v));
  if (a > 448.0 || std::isinf(a)) {
    // Rounds to 448 up to 464 (the midpoint to the next, non-existent, value).
    if (!satfinite && (std::isinf(a) || a >= 464.0))
      return sign | 0x7f;
    return sign | 0x7e;
  }
  uint32_t code = encode_narrow(a, 3, -6, 7, 0x7f);
  if (code >= 0x7f)
    code = satfinite ? 0x7e : 0x7f;
  return sign | static_cast<uint8_t>(code);
}
inline float e4m3_to_float(uint8_t c) {
  float sign = (c & 0x80) ? -1.0f : 1.0f;
  uint32_t exp = (c >> 3) & 0xf, mant = c & 7;
  if (exp == 0xf && mant == 7)
    return std::nanf("");
  if (exp == 0)
    return sign * std::ldexp(static_cast<float>(mant), -9);
  return sign * std::ldexp(1.0f + mant / 8.0f, static_cast<int>(exp) - 7);
}
inline uint8_t float_to_e5m2(float v, bool satfinite) {
  uint8_t sign = std::signbit(v) ? 0x80 : 0;
  if (std::isnan(v))
    return 0x7f;
  double a = std::fabs(static_cast<double>(v));
  if (std::isinf(a))
    return satfinite ? (sign | 0x7b) : (sign | 0x7c);
  uint32_t code = encode_narrow(a, 2, -14, 15, 0x7c);
  if (code >= 0x7c && satfinite)
    code = 0x7b;
  return sign | static_cast<uint8_t>(code);
}
inline float e5m2_to_float(uint8_t c) { return half_to_float(static_cast<uint16_t>(c) << 8); }

} // namespace tessel::sim
