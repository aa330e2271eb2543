// DType names and sizes, and exact f16/bf16 <-> f32 conversions (round to nearest even).
#include "tessel/dtype.h"

#include "tessel/error.h"

#include <bit>
#include <cmath>

namespace tessel {

const char* dtype_name(DType t) {
  switch (t) {
  case DType::i1: return "i1";
  case DType::i8: return "i8";
  case DType::i16: return "i16";
  case DType::i32: return "i32";
  case DType::i64: return "i64";
  case DType::f16: return "f16";
  case DType::bf16: return "bf16";
  case DType::f32: return "f32";
  case DType::f64: return "f64";
  }
  TESSEL_UNREACHABLE("bad dtype");
}

unsigned dtype_bytes(DType t) {
  switch (t) {
  case DType::i1:
  case DType::i8: return 1;
  case DType::i16:
  case DType::f16:
  case DType::bf16: return 2;
  case DType::i32:
  case DType::f32: return 4;
  case DType::i64:
  case DType::f64: return 8;
  }
  TESSEL_UNREACHABLE("bad dtype");
}

bool dtype_is_float(DType t) {
  return t == DType::f16 || t == DType::bf16 || t == DType::f32 || t == DType::f64;
}

static uint32_t bits_of(float f) { return std::bit_cast<uint32_t>(f); }
static float float_of(uint32_t u) { return std::bit_cast<float>(u); }

float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) // inf or NaN
    return float_of(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0)
      return float_of(sign);
    // Subnormal: value = mant * 2^-24.
    float v = float(mant) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return float_of(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t float_to_half(float f) {
  uint32_t u = bits_of(f);
  uint16_t sign = uint16_t((u >> 16) & 0x8000);
  uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) // inf or NaN
    return uint16_t(sign | 0x7c00 | (a > 0x7f800000u ? 0x200 : 0));
  if (a >= 0x477ff000u) // rounds to >= 65520: overflow to inf
    return uint16_t(sign | 0x7c00);
  if (a < 0x38800000u) { // below the smallest normal half (2^-14): subnormal or zero
    // Scale so that the half's subnormal unit (2^-24) is 1, then round to nearest even.
    float v = float_of(a) * 16777216.0f; // 2^24, exact
    uint32_t r = uint32_t(v);
    float rem = v - float(r);
    if (rem > 0.5f || (rem == 0.5f && (r & 1)))
      ++r;
    return uint16_t(sign | r);
  }
  // Normal: rebias the exponent, round the 13 dropped mantissa bits to nearest even.
  uint32_t rounded = a + 0xfffu + ((a >> 13) & 1);
  return uint16_t(sign | ((rounded - 0x38000000u) >> 13));
}

float bfloat16_to_float(uint16_t b) { return float_of(uint32_t(b) << 16); }

uint16_t float_to_bfloat16(float f) {
  uint32_t u = bits_of(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) // NaN: keep it quiet and NaN
    return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1);
  return uint16_t(u >> 16);
}

// f64 -> f32 rounded to odd: truncated toward zero, with the last bit set when inexact. Rounding
// that to 16 bits (nearest even) then gives the correctly rounded 16-bit value of `v`.
static float round_to_odd_f32(double v) {
  float f = static_cast<float>(v);
  if (std::isnan(v) || static_cast<double>(f) == v)
    return f;
  uint32_t bits = bits_of(f);
  if (std::fabs(static_cast<double>(f)) > std::fabs(v))
    bits -= 1; // rounded away from zero: step back toward zero
  return float_of(bits | 1);
}

double round_to_dtype(double v, DType t) {
  switch (t) {
  case DType::f64: return v;
  case DType::f32: return static_cast<double>(static_cast<float>(v));
  case DType::f16: return half_to_float(float_to_half(round_to_odd_f32(v)));
  case DType::bf16: return bfloat16_to_float(float_to_bfloat16(round_to_odd_f32(v)));
  case DType::i1:
  case DType::i8:
  case DType::i16:
  case DType::i32:
  case DType::i64: return v;
  }
  TESSEL_UNREACHABLE("bad dtype");
}

bool integer_fits(double v, DType t) {
  if (dtype_is_float(t) || v != std::trunc(v))
    return false;
  if (t == DType::i1)
    return v == 0 || v == 1;
  double limit = std::ldexp(1.0, int(dtype_bytes(t) * 8) - 1); // 2^(bits-1), exact
  return v >= -limit && v < limit;
}

half::half(float f) : bits(float_to_half(f)) {}
half::operator float() const { return half_to_float(bits); }
bfloat16::bfloat16(float f) : bits(float_to_bfloat16(f)) {}
bfloat16::operator float() const { return bfloat16_to_float(bits); }

} // namespace tessel
