// Element types as users name them (tessel::f32, tessel::bf16, tessel::u32, tessel::f8e4m3, ...),
// and the narrow float storage types used for host buffers (tessel::half, tessel::bfloat16,
// tessel::float8_e4m3, tessel::float8_e5m2) with round-to-nearest-even conversions
// (docs/semantics.md states every rule).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace tessel {

// The element types of tensors and of the tile IR (ir::Type::dtype()): one list for users, the
// DSL, the IR and both backends. The unsigned and fp8 types come last so that the older values
// (and the cache keys that hash them) keep their numbers; a new type goes at the end. f8e4m3 is
// OCP's E4M3FN (bias 7, no infinities, NaN = S.1111.111, largest finite 448); f8e5m2 is E5M2 (bias
// 15, IEEE-like with infinities, largest finite 57344).
enum class DType : uint8_t {
  i1,
  i8,
  i16,
  i32,
  i64,
  f16,
  bf16,
  f32,
  f64,
  u8,
  u16,
  u32,
  u64,
  f8e4m3,
  f8e5m2
};
inline constexpr DType kLastDType = DType::f8e5m2; // every value lies in [i1, kLastDType]

inline constexpr DType i1 = DType::i1, i8 = DType::i8, i16 = DType::i16, i32 = DType::i32,
                       i64 = DType::i64, f16 = DType::f16, bf16 = DType::bf16, f32 = DType::f32,
                       f64 = DType::f64, u8 = DType::u8, u16 = DType::u16, u32 = DType::u32,
                       u64 = DType::u64, f8e4m3 = DType::f8e4m3, f8e5m2 = DType::f8e5m2;

const char* dtype_name(DType t); // "i1", "f16", ... (the IR text spells types so)
unsigned dtype_bits(DType t);    // i1 is 1 bit
unsigned dtype_bytes(DType t);   // i1 is stored as one byte
bool dtype_is_float(DType t);    // fp8 types included
bool dtype_is_unsigned(DType t); // u8 ... u64 (i1 is a boolean, not counted)
bool dtype_is_fp8(DType t);

// IEEE binary16 storage.
struct half {
  uint16_t bits = 0;
  half() = default;
  explicit half(float f);
  explicit operator float() const;
};

// bfloat16 storage: the upper half of an f32.
struct bfloat16 {
  uint16_t bits = 0;
  bfloat16() = default;
  explicit bfloat16(float f);
  explicit operator float() const;
};

// fp8 storage (one byte); conversions from float round to nearest even and are not saturating
// (an overflow gives NaN for e4m3, infinity for e5m2), as torch's .to(float8_*) does.
struct float8_e4m3 {
  uint8_t bits = 0;
  float8_e4m3() = default;
  explicit float8_e4m3(float f);
  explicit operator float() const;
};
struct float8_e5m2 {
  uint8_t bits = 0;
  float8_e5m2() = default;
  explicit float8_e5m2(float f);
  explicit operator float() const;
};

float half_to_float(uint16_t bits);
uint16_t float_to_half(float f); // round to nearest even; NaN stays NaN
float bfloat16_to_float(uint16_t bits);
uint16_t float_to_bfloat16(float f); // round to nearest even; NaN stays NaN
// fp8 <-> f32. Decoding is exact. Encoding rounds once to nearest even; with `saturate`, values
// beyond the largest finite one (and infinities) become it, NaN stays NaN; without, an overflow
// is NaN (e4m3, which has no infinity) or infinity (e5m2).
float f8e4m3_to_float(uint8_t bits);
uint8_t float_to_f8e4m3(float f, bool saturate = false);
float f8e5m2_to_float(uint8_t bits);
uint8_t float_to_f8e5m2(float f, bool saturate = false);
// `v` rounded once (nearest even) to the float type `t`; integers types return `v` unchanged.
double round_to_dtype(double v, DType t);
// True when `v` is an integer that integer type `t` holds (i1: 0 or 1; u8: 0 to 255, ...).
bool integer_fits(double v, DType t);

// The DType of a C++ element type, for typed pointers and host buffers.
template <class T> struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = DType::i1; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::i8; };
template <> struct dtype_of<int16_t> { static constexpr DType value = DType::i16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<half> { static constexpr DType value = DType::f16; };
template <> struct dtype_of<bfloat16> { static constexpr DType value = DType::bf16; };
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<uint16_t> { static constexpr DType value = DType::u16; };
template <> struct dtype_of<uint32_t> { static constexpr DType value = DType::u32; };
template <> struct dtype_of<uint64_t> { static constexpr DType value = DType::u64; };
template <> struct dtype_of<float8_e4m3> { static constexpr DType value = DType::f8e4m3; };
template <> struct dtype_of<float8_e5m2> { static constexpr DType value = DType::f8e5m2; };
template <class T> struct dtype_of<const T> : dtype_of<T> {};
template <class T> inline constexpr DType dtype_of_v = dtype_of<T>::value;

template <class T>
concept Element = requires {
  dtype_of<T>::value;
};

} // namespace tessel
