// Test helper: a host buffer of any tessel dtype, read and written as doubles (f16/bf16 through
// tessel's round-to-nearest-even conversions), with random fill, poisoning and comparison.
#pragma once

#include "tessel/dtype.h"
#include "tessel/runtime/tensor_view.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace tessel::testing {

class HostArray {
public:
  HostArray(DType t, size_t n) : dtype_(t), n_(n), bytes_(n * dtype_bytes(t) + 16) {}

  DType dtype() const { return dtype_; }
  size_t size() const { return n_; }
  void* data() { return bytes_.data(); }
  // The buffer as a launch argument (a 1-D TensorView that carries the dtype).
  TensorView arg() { return TensorView(bytes_.data(), dtype_, {int64_t(n_)}); }

  double get(size_t i) const {
    const uint8_t* p = bytes_.data() + i * dtype_bytes(dtype_);
    switch (dtype_) {
    case DType::i1:
      return *p ? 1 : 0;
    case DType::i8:
      return double(load<int8_t>(p));
    case DType::i16:
      return double(load<int16_t>(p));
    case DType::i32:
      return double(load<int32_t>(p));
    case DType::i64:
      return double(load<int64_t>(p));
    case DType::f16:
      return half_to_float(load<uint16_t>(p));
    case DType::bf16:
      return bfloat16_to_float(load<uint16_t>(p));
    case DType::f32:
      return double(load<float>(p));
    case DType::f64:
      return load<double>(p);
    case DType::u8:
      return double(*p);
    case DType::u16:
      return double(load<uint16_t>(p));
    case DType::u32:
      return double(load<uint32_t>(p));
    case DType::u64:
      return double(load<uint64_t>(p));
    case DType::f8e4m3:
      return f8e4m3_to_float(*p);
    case DType::f8e5m2:
      return f8e5m2_to_float(*p);
    }
    return 0;
  }

  void set(size_t i, double v) {
    uint8_t* p = bytes_.data() + i * dtype_bytes(dtype_);
    switch (dtype_) {
    case DType::i1:
      *p = v != 0;
      return;
    case DType::i8:
      store(p, int8_t(v));
      return;
    case DType::i16:
      store(p, int16_t(v));
      return;
    case DType::i32:
      store(p, int32_t(v));
      return;
    case DType::i64:
      store(p, int64_t(v));
      return;
    case DType::f16:
      store(p, float_to_half(float(v)));
      return;
    case DType::bf16:
      store(p, float_to_bfloat16(float(v)));
      return;
    case DType::f32:
      store(p, float(v));
      return;
    case DType::f64:
      store(p, v);
      return;
    case DType::u8:
      store(p, uint8_t(v));
      return;
    case DType::u16:
      store(p, uint16_t(v));
      return;
    case DType::u32:
      store(p, uint32_t(v));
      return;
    case DType::u64:
      store(p, uint64_t(v));
      return;
    case DType::f8e4m3:
      store(p, float_to_f8e4m3(float(v)));
      return;
    case DType::f8e5m2:
      store(p, float_to_f8e5m2(float(v)));
      return;
    }
  }

  // Uniform values in [lo, hi); integers are rounded toward zero.
  void fill_random(uint64_t seed, double lo, double hi) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> dist(lo, hi);
    for (size_t i = 0; i < n_; ++i)
      set(i, dtype_is_float(dtype_) ? dist(rng) : std::trunc(dist(rng)));
  }

  // A value no correct kernel writes: NaN for floats, 0x5A bytes for integers.
  void poison() {
    std::memset(bytes_.data(), 0x5A, bytes_.size());
    if (dtype_is_float(dtype_))
      for (size_t i = 0; i < n_; ++i)
        set(i, std::nan(""));
  }

private:
  template <class T> static T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  template <class T> static void store(uint8_t* p, T v) { std::memcpy(p, &v, sizeof v); }

  DType dtype_;
  size_t n_;
  std::vector<uint8_t> bytes_;
};

// Tolerance for comparing a kernel's result of type `t` with a double reference: relative to the
// magnitude (at least 1), a few units in the last place of the type.
inline double tolerance_for(DType t, double scale_ulps = 4) {
  switch (t) {
  case DType::f16:
    return scale_ulps * 9.8e-4;
  case DType::bf16:
    return scale_ulps * 7.9e-3;
  case DType::f32:
    return scale_ulps * 1.2e-7;
  case DType::f64:
    return scale_ulps * 2.3e-16;
  case DType::f8e4m3:
    return scale_ulps * 6.25e-2;
  case DType::f8e5m2:
    return scale_ulps * 0.125;
  case DType::u8:
  case DType::u16:
  case DType::u32:
  case DType::u64:
  case DType::i1:
  case DType::i8:
  case DType::i16:
  case DType::i32:
  case DType::i64:
    return 0;
  }
  return 0;
}

inline bool close_enough(double got, double want, double tol) {
  if (std::isnan(want))
    return std::isnan(got);
  if (std::isinf(want))
    return got == want;
  return std::fabs(got - want) <= tol * std::max(1.0, std::fabs(want));
}

} // namespace tessel::testing
