// DType names, sizes and classes, and exact f16/bf16/fp8 <-> f32 conversions (round to nearest
// even).
#include "tessel/dtype.h"

#include "tessel/error.h"

#include <bit>
#include <cmath>

namespace tessel {

const char* dtype_name(DType t) {
  switch (t) {
  case DType::i1:
    return "i1";
  case DType::i8:
    return "i8";
  case DType::i16:
    return "i16";
  case DType::i32:
    return "i32";
  case DType::i64:
    return "i64";
  case DType::f16:
    return "f16";
  case DType::bf16:
    return "bf16";
  case DType::f32:
    return "f32";
  case DType::f64:
    return "f64";
  case DType::u8:
    return "u8";
  case DType::u16:
    return "u16";
  case DType::u32:
    return "u32";
  case DType::u64:
    return "u64";
  case DType::f8e4m3:
    return "f8e4m3";
  case DType::f8e5m2:
    return "f8e5m2";
  }
  TESSEL_UNREACHABLE("bad dtype");
}

unsigned dtype_bits(DType t) { return t == DType::i1 ? 1 : 8 * dtype_bytes(t); }

unsigned dtype_bytes(DType t) {
  switch (t) {
  case DType::i1:
  case DType::i8:
  case DType::u8:
  case DType::f8e4m3:
  case DType::f8e5m2:
    return 1;
  case DType::i16:
  case DType::u16:
  case DType::f16:
  case DType::bf16:
    return 2;
  case DType::i32:
  case DType::u32:
  case DType::f32:
    return 4;
  case DType::i64:
  case DType::u64:
  case DType::f64:
    return 8;
  }
  TESSEL_UNREACHABLE("bad dtype");
}

bool dtype_is_float(DType t) {
  return t == DType::f16 || t == DType::bf16 || t == DType::f32 || t == DType::f64 ||
         dtype_is_fp8(t);
}

bool dtype_is_unsigned(DType t) {
  return t == DType::u8 || t == DType::u16 || t == DType::u32 || t == DType::u64;
}

bool dtype_is_fp8(DType t) { return t == DType::f8e4m3 || t == DType::f8e5m2; }

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

// ---- fp8 ---------------------------------------------------------------------------------------
// One description per format; the same arithmetic as codegen/scalar_semantics.cpp emits for
// kernels (tests/codegen/fp8_test.cpp checks both against an independent reference).
namespace {
struct Fp8Format {
  int man_bits;     // 3 (e4m3) or 2 (e5m2)
  int bias;         // 7 or 15
  uint8_t max_code; // the largest finite magnitude: 0x7e (448) or 0x7b (57344)
  uint8_t overflow; // what a non-saturating overflow gives: 0x7f (NaN) or 0x7c (inf)
};
constexpr Fp8Format kE4M3{3, 7, 0x7e, 0x7f};
constexpr Fp8Format kE5M2{2, 15, 0x7b, 0x7c};

float fp8_to_float(uint8_t c, const Fp8Format& f) {
  const int exp_bits = 7 - f.man_bits;
  const uint32_t sign = uint32_t(c & 0x80) << 24;
  const uint32_t exp = (c >> f.man_bits) & ((1u << exp_bits) - 1);
  const uint32_t man = c & ((1u << f.man_bits) - 1);
  const bool has_inf = f.overflow != 0x7f;
  if ((c & 0x7f) > f.max_code) { // NaN, or e5m2's infinity
    const bool inf = has_inf && man == 0;
    return std::bit_cast<float>(sign | (inf ? 0x7f800000u : 0x7fc00000u));
  }
  if (exp == 0) { // subnormal: man * 2^(1 - bias - man_bits)
    const float v = std::ldexp(float(man), 1 - f.bias - f.man_bits);
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((exp + 127 - f.bias) << 23) | (man << (23 - f.man_bits)));
}

uint8_t float_to_fp8(float x, const Fp8Format& f, bool saturate) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const uint8_t sign = uint8_t((u >> 24) & 0x80);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u)
    return sign | 0x7f;
  const int drop = 23 - f.man_bits;
  uint32_t code;
  if (a >= uint32_t(128 - f.bias) << 23) { // normal in fp8 (or beyond it)
    uint64_t rounded = uint64_t(a) + ((1u << (drop - 1)) - 1) + ((a >> drop) & 1);
    code = uint32_t(rounded >> drop) - (uint32_t(127 - f.bias) << f.man_bits);
  } else { // subnormal in fp8: count units of 2^(1 - bias - man_bits), ties to even
    code = uint32_t(std::nearbyint(std::ldexp(std::bit_cast<float>(a), f.bias - 1 + f.man_bits)));
  }
  if (code > f.max_code)
    code = saturate ? f.max_code : f.overflow;
  return sign | uint8_t(code);
}
} // namespace

float f8e4m3_to_float(uint8_t bits) { return fp8_to_float(bits, kE4M3); }
uint8_t float_to_f8e4m3(float f, bool saturate) { return float_to_fp8(f, kE4M3, saturate); }
float f8e5m2_to_float(uint8_t bits) { return fp8_to_float(bits, kE5M2); }
uint8_t float_to_f8e5m2(float f, bool saturate) { return float_to_fp8(f, kE5M2, saturate); }

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
  case DType::f64:
    return v;
  case DType::f32:
    return static_cast<double>(static_cast<float>(v));
  case DType::f16:
    return half_to_float(float_to_half(round_to_odd_f32(v)));
  case DType::bf16:
    return bfloat16_to_float(float_to_bfloat16(round_to_odd_f32(v)));
  case DType::f8e4m3:
    return f8e4m3_to_float(float_to_f8e4m3(round_to_odd_f32(v)));
  case DType::f8e5m2:
    return f8e5m2_to_float(float_to_f8e5m2(round_to_odd_f32(v)));
  case DType::i1:
  case DType::i8:
  case DType::i16:
  case DType::i32:
  case DType::i64:
  case DType::u8:
  case DType::u16:
  case DType::u32:
  case DType::u64:
    return v;
  }
  TESSEL_UNREACHABLE("bad dtype");
}

bool integer_fits(double v, DType t) {
  if (dtype_is_float(t) || v != std::trunc(v))
    return false;
  if (t == DType::i1)
    return v == 0 || v == 1;
  if (dtype_is_unsigned(t))
    return v >= 0 && v < std::ldexp(1.0, int(dtype_bytes(t) * 8));
  double limit = std::ldexp(1.0, int(dtype_bytes(t) * 8) - 1); // 2^(bits-1), exact
  return v >= -limit && v < limit;
}

half::half(float f) : bits(float_to_half(f)) {}
half::operator float() const { return half_to_float(bits); }
bfloat16::bfloat16(float f) : bits(float_to_bfloat16(f)) {}
bfloat16::operator float() const { return bfloat16_to_float(bits); }
float8_e4m3::float8_e4m3(float f) : bits(float_to_f8e4m3(f)) {}
float8_e4m3::operator float() const { return f8e4m3_to_float(bits); }
float8_e5m2::float8_e5m2(float f) : bits(float_to_f8e5m2(f)) {}
float8_e5m2::operator float() const { return f8e5m2_to_float(bits); }

} // namespace tessel
