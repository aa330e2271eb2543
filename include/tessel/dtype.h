// Element types as users name them (tessel::f32, tessel::bf16, ...), and the 16-bit float storage
// types used for host buffers (tessel::half, tessel::bfloat16) with round-to-nearest-even
// conversions.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace tessel {

enum class DType : uint8_t { i1, i8, i16, i32, i64, f16, bf16, f32, f64 };

inline constexpr DType i1 = DType::i1, i8 = DType::i8, i16 = DType::i16, i32 = DType::i32,
                       i64 = DType::i64, f16 = DType::f16, bf16 = DType::bf16, f32 = DType::f32,
                       f64 = DType::f64;

const char* dtype_name(DType t);
unsigned dtype_bytes(DType t); // i1 is stored as one byte
bool dtype_is_float(DType t);

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

float half_to_float(uint16_t bits);
uint16_t float_to_half(float f);        // round to nearest even; NaN stays NaN
float bfloat16_to_float(uint16_t bits);
uint16_t float_to_bfloat16(float f);    // round to nearest even; NaN stays NaN
// `v` rounded once (nearest even) to the float type `t`; integers types return `v` unchanged.
double round_to_dtype(double v, DType t);
// True when `v` is an integer that integer type `t` holds (i1: 0 or 1).
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
template <class T> struct dtype_of<const T> : dtype_of<T> {};
template <class T> inline constexpr DType dtype_of_v = dtype_of<T>::value;

template <class T>
concept Element = requires { dtype_of<T>::value; };

} // namespace tessel
