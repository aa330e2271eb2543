// Element storage and rounding for the reference interpreter (reference_scalars.h).
#include "reference_scalars.h"

#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>

namespace tessel::fuzz {

namespace {

// A binary float format: `digits` significand bits (the implicit one included), normal exponents
// emin..emax.
struct Format {
  int digits, emin, emax;
};

Format format_of(DType k) {
  switch (k) {
  case DType::f16:
    return {11, -14, 15};
  case DType::bf16:
    return {8, -126, 127};
  case DType::f32:
    return {24, -126, 127};
  case DType::f64:
    return {53, -1022, 1023};
  case DType::f8e4m3:
  case DType::f8e5m2:
  case DType::i1:
  case DType::i8:
  case DType::i16:
  case DType::i32:
  case DType::i64:
  case DType::u8:
  case DType::u16:
  case DType::u32:
  case DType::u64:
    break;
  }
  assert(false && "format_of: not an IEEE binary format the interpreter rounds to");
  return {53, -1022, 1023};
}

// Nearest-even rounding of `x` to the format: the quantum is 2^(E - digits + 1) for x's exponent
// E, or the subnormal quantum below emin; nearbyintl rounds ties to even in the default mode.
long double round_format(long double x, Format fmt) {
  if (std::isnan(x) || std::isinf(x) || x == 0)
    return x;
  int e = 0;
  std::frexp(x, &e); // x = m * 2^e, 0.5 <= |m| < 1, so the exponent of 1.m form is e - 1
  int exponent = std::max(e - 1, fmt.emin);
  long double quantum = std::ldexp(1.0L, exponent - fmt.digits + 1);
  long double r = std::nearbyint(x / quantum) * quantum;
  if (std::fabs(r) >= std::ldexp(1.0L, fmt.emax + 1))
    return std::copysign(std::numeric_limits<long double>::infinity(), x);
  return r == 0 ? std::copysign(0.0L, x) : r;
}

// IEEE binary16 / bfloat16 bits of a value of that type, written from the formats' definitions.
uint16_t encode16(double v, Format fmt, int exp_bits) {
  const int man_bits = fmt.digits - 1, bias = fmt.emax;
  uint16_t sign = std::signbit(v) ? uint16_t(1u << 15) : 0;
  if (std::isnan(v))
    return uint16_t(sign | (((1u << exp_bits) - 1) << man_bits) | (1u << (man_bits - 1)));
  double a = std::fabs(v);
  if (std::isinf(a))
    return uint16_t(sign | (((1u << exp_bits) - 1) << man_bits));
  if (a == 0)
    return sign;
  int e = 0;
  std::frexp(a, &e);
  int exponent = e - 1;
  if (exponent < fmt.emin) // subnormal: a = m * 2^(emin - man_bits)
    return uint16_t(sign | uint16_t(std::ldexp(a, man_bits - fmt.emin)));
  uint32_t man = uint32_t(std::ldexp(a, man_bits - exponent)) - (1u << man_bits);
  return uint16_t(sign | (uint32_t(exponent + bias) << man_bits) | man);
}

double decode16(uint16_t bits, Format fmt, int exp_bits) {
  const int man_bits = fmt.digits - 1, bias = fmt.emax;
  const uint32_t exp_field = (bits >> man_bits) & ((1u << exp_bits) - 1);
  const uint32_t man = bits & ((1u << man_bits) - 1);
  double sign = (bits >> 15) ? -1.0 : 1.0;
  if (exp_field == (1u << exp_bits) - 1)
    return man ? std::numeric_limits<double>::quiet_NaN()
               : sign * std::numeric_limits<double>::infinity();
  if (exp_field == 0)
    return sign * std::ldexp(double(man), fmt.emin - man_bits);
  return sign * std::ldexp(double(man | (1u << man_bits)), int(exp_field) - bias - man_bits);
}

template <class T> T read(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T> void write(uint8_t* p, T v) { std::memcpy(p, &v, sizeof v); }

} // namespace

bool is_float(DType k) { return dtype_is_float(k); }

bool is_unsigned(DType k) { return k == DType::i1 || dtype_is_unsigned(k); }

unsigned width_of(DType k) { return dtype_bits(k); }

int64_t wrap(DType k, uint64_t bits) {
  const unsigned w = width_of(k);
  if (w >= 64)
    return int64_t(bits);
  const uint64_t low = bits & ((uint64_t(1) << w) - 1);
  if (is_unsigned(k) || !(low >> (w - 1)))
    return int64_t(low);
  return int64_t(low | ~((uint64_t(1) << w) - 1)); // sign-extend
}

double round_to(DType k, long double x) { return double(round_format(x, format_of(k))); }

double ulp(DType k, double x) {
  Format fmt = format_of(k);
  int e = 0;
  std::frexp(std::max(std::fabs(x), std::ldexp(1.0, fmt.emin)), &e);
  return std::ldexp(1.0, e - fmt.digits);
}

Elem load_elem(DType k, const uint8_t* p) {
  Elem e;
  switch (k) {
  case DType::i1:
    e.i = *p != 0;
    break;
  case DType::i8:
  case DType::u8:
    e.i = wrap(k, *p);
    break;
  case DType::i16:
  case DType::u16:
    e.i = wrap(k, read<uint16_t>(p));
    break;
  case DType::i32:
  case DType::u32:
    e.i = wrap(k, read<uint32_t>(p));
    break;
  case DType::i64:
  case DType::u64:
    e.i = read<int64_t>(p);
    break;
  case DType::f16:
    e.f = decode16(read<uint16_t>(p), format_of(k), 5);
    break;
  case DType::bf16:
    e.f = decode16(read<uint16_t>(p), format_of(k), 8);
    break;
  case DType::f32:
    e.f = read<float>(p);
    break;
  case DType::f64:
    e.f = read<double>(p);
    break;
  case DType::f8e4m3:
  case DType::f8e5m2:
    assert(false && "load_elem: the interpreter does not cover fp8 (the generator makes none)");
    break;
  }
  return e;
}

void store_elem(DType k, const Elem& e, uint8_t* p) {
  switch (k) {
  case DType::i1:
    *p = e.i != 0;
    return;
  case DType::i8:
  case DType::u8:
    *p = uint8_t(e.i);
    return;
  case DType::i16:
  case DType::u16:
    write(p, uint16_t(e.i));
    return;
  case DType::i32:
  case DType::u32:
    write(p, uint32_t(e.i));
    return;
  case DType::i64:
  case DType::u64:
    write(p, e.i);
    return;
  case DType::f16:
    write(p, encode16(e.f, format_of(k), 5));
    return;
  case DType::bf16:
    write(p, encode16(e.f, format_of(k), 8));
    return;
  case DType::f32:
    write(p, float(e.f));
    return;
  case DType::f64:
    write(p, e.f);
    return;
  case DType::f8e4m3:
  case DType::f8e5m2:
    assert(false && "store_elem: the interpreter does not cover fp8 (the generator makes none)");
    return;
  }
}

bool same_bits(DType k, const Elem& a, const Elem& b) {
  if (!is_float(k))
    return a.i == b.i;
  if (std::isnan(a.f) || std::isnan(b.f))
    return std::isnan(a.f) && std::isnan(b.f);
  return a.f == b.f && std::signbit(a.f) == std::signbit(b.f);
}

} // namespace tessel::fuzz
