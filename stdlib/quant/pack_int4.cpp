// The offline int4 weight packing of W4A16 (host tensors): group-wise quantization to nibbles,
// and the packing in either layout, the half-split (packed[r, n] = q[r, n] | q[r + K / 2, n] << 4)
// or the Marlin-style fragment order (int4_marlin.h), and its inverse.
#include "stdlib/common/args.h"
#include "stdlib/quant/int4_marlin.h"
#include "tessel/dtype.h"
#include "tessel/ops/quant.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tessel::ops {
namespace {

using detail::OpSite;

void check_host(const OpSite& s, const char* arg, const TensorView& v) {
  if (v.device != DeviceKind::cpu)
    s.fail(fmt::format("{} is on device {}; int4 packing is an offline step on host tensors: pass "
                       "host tensors and copy the results to the device",
                       arg, device_kind_name(v.device)));
}

// A contiguous host matrix [rows, cols] of `dtype`.
void check_host_matrix(const OpSite& s, const char* arg, const TensorView& v, int64_t rows,
                       int64_t cols, DType dtype, const char* why) {
  check_host(s, arg, v);
  detail::check_dtype(s, arg, v, dtype);
  if (v.rank != 2 || v.shape[0] != rows || v.shape[1] != cols)
    s.fail(fmt::format("{} has shape {}; expected [{}, {}] ({})", arg, detail::shape_str(v), rows,
                       cols, why));
  if ((rows > 1 && v.strides[0] != cols) || (cols > 1 && v.strides[1] != 1))
    s.fail(fmt::format("{} is not contiguous; expected a contiguous tensor", arg));
  if (rows * cols > 0 && v.data == nullptr)
    s.fail(fmt::format("{} has a null data pointer", arg));
}

float load_float(const TensorView& v, int64_t i) {
  const auto* p = static_cast<const unsigned char*>(v.data);
  switch (v.dtype) {
  case DType::f32: {
    float f;
    std::memcpy(&f, p + i * 4, 4);
    return f;
  }
  case DType::f16:
  case DType::bf16: {
    uint16_t h;
    std::memcpy(&h, p + i * 2, 2);
    return v.dtype == DType::f16 ? half_to_float(h) : bfloat16_to_float(h);
  }
  case DType::i1:
  case DType::i8:
  case DType::i16:
  case DType::i32:
  case DType::i64:
  case DType::f64:
  case DType::u8:
  case DType::u16:
  case DType::u32:
  case DType::u64:
  case DType::f8e4m3:
  case DType::f8e5m2:
    break;
  }
  return 0.0f; // not reached: the dtype was checked
}

// Round to nearest, ties to even (the default floating-point rounding mode).
float rne(float v) { return std::nearbyint(v); }

// One group's scale and zero (zero 8 for symmetric) from its values.
std::pair<float, float> group_params(const float* v, int64_t count, int64_t stride, Int4Mode mode) {
  float lo = 0.0f, hi = 0.0f, amax = 0.0f;
  for (int64_t i = 0; i < count; ++i) {
    lo = std::min(lo, v[i * stride]);
    hi = std::max(hi, v[i * stride]);
    amax = std::max(amax, std::fabs(v[i * stride]));
  }
  switch (mode) {
  case Int4Mode::symmetric:
    return {amax / 7.0f, 8.0f};
  case Int4Mode::asymmetric: {
    float scale = (hi - lo) / 15.0f;
    return {scale, scale > 0.0f ? std::clamp(rne(-lo / scale), 0.0f, 15.0f) : 0.0f};
  }
  }
  return {0.0f, 0.0f};
}

uint8_t nibble(float w, float scale, float zero) {
  float q = scale > 0.0f ? rne(w / scale) + zero : zero;
  return uint8_t(std::clamp(q, 0.0f, 15.0f));
}

} // namespace

namespace {

// The checks both directions share: q [K, N] nibbles, packed [K / 2, N] bytes, and the layout's
// shape rules.
void check_packing(const OpSite& s, const TensorView& q, const TensorView& packed,
                   Int4Layout layout) {
  if (q.rank != 2 || q.shape[0] % 2 != 0)
    s.fail(fmt::format("q has shape {}; expected [K, N] with an even K", detail::shape_str(q)));
  int64_t k = q.shape[0], n = q.shape[1];
  check_host_matrix(s, "q", q, k, n, DType::i8, "the nibbles");
  check_host_matrix(s, "packed", packed, k / 2, n, DType::i8, "two nibbles per byte");
  if (layout == Int4Layout::marlin && (k % 16 != 0 || n % 64 != 0))
    s.fail(fmt::format("q has shape [{}, {}]; the marlin layout packs [16, 64] tiles: expected K "
                       "a multiple of 16 and N of 64 (pad the weights, or use half_split)",
                       k, n));
}

void pack_half_split(const int8_t* in, int8_t* out, int64_t k, int64_t n) {
  for (int64_t i = 0; i < k / 2 * n; ++i)
    out[i] = int8_t(uint8_t(in[i]) | uint8_t(in[i + k / 2 * n] << 4));
}

void pack_marlin(const int8_t* in, int8_t* out, int64_t k, int64_t n) {
  auto* bytes = reinterpret_cast<uint8_t*>(out);
  std::fill(bytes, bytes + k / 2 * n, uint8_t(0));
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c) {
      auto at = detail::marlin_nibble_at(r, c, n);
      bytes[at.byte] = uint8_t(bytes[at.byte] | (uint8_t(in[r * n + c]) << (4 * at.nibble)));
    }
}

} // namespace

void pack_int4(const TensorView& q, const TensorView& packed, Int4Layout layout,
               std::source_location where) {
  OpSite s{"pack_int4", where};
  check_packing(s, q, packed, layout);
  int64_t k = q.shape[0], n = q.shape[1];
  const auto* in = static_cast<const int8_t*>(q.data);
  auto* out = static_cast<int8_t*>(packed.data);
  for (int64_t i = 0; i < k * n; ++i)
    if (in[i] < 0 || in[i] > 15)
      s.fail(fmt::format("q[{}, {}] is {}; expected nibbles from 0 to 15", i / n, i % n, in[i]));
  switch (layout) {
  case Int4Layout::half_split:
    return pack_half_split(in, out, k, n);
  case Int4Layout::marlin:
    return pack_marlin(in, out, k, n);
  }
}

void unpack_int4(const TensorView& packed, const TensorView& q, Int4Layout layout,
                 std::source_location where) {
  OpSite s{"unpack_int4", where};
  check_packing(s, q, packed, layout);
  int64_t k = q.shape[0], n = q.shape[1];
  const auto* in = static_cast<const uint8_t*>(packed.data);
  auto* out = static_cast<int8_t*>(q.data);
  if (layout == Int4Layout::marlin) {
    for (int64_t r = 0; r < k; ++r)
      for (int64_t c = 0; c < n; ++c) {
        auto at = detail::marlin_nibble_at(r, c, n);
        out[r * n + c] = int8_t((in[at.byte] >> (4 * at.nibble)) & 15);
      }
    return;
  }
  for (int64_t i = 0; i < k / 2 * n; ++i) {
    out[i] = int8_t(in[i] & 15);
    out[i + k / 2 * n] = int8_t(in[i] >> 4);
  }
}

void pack_int4(const TensorView& q, const TensorView& packed, std::source_location where) {
  pack_int4(q, packed, Int4Layout::half_split, where);
}

void unpack_int4(const TensorView& packed, const TensorView& q, std::source_location where) {
  unpack_int4(packed, q, Int4Layout::half_split, where);
}

void quantize_weights_int4(const TensorView& w, int group_size, Int4Mode mode,
                           const TensorView& packed, const TensorView& scales,
                           const TensorView& zeros, std::source_location where) {
  quantize_weights_int4(w, group_size, mode, Int4Layout::half_split, packed, scales, zeros, where);
}

void quantize_weights_int4(const TensorView& w, int group_size, Int4Mode mode, Int4Layout layout,
                           const TensorView& packed, const TensorView& scales,
                           const TensorView& zeros, std::source_location where) {
  OpSite s{"quantize_weights_int4", where};
  check_host(s, "w", w);
  detail::check_float(s, "w", w);
  if (w.rank != 2)
    s.fail(fmt::format("w has shape {}; expected [K, N]", detail::shape_str(w)));
  int64_t k = w.shape[0], n = w.shape[1];
  if (k % 2 != 0)
    s.fail(fmt::format("w has K = {}; int4 weights pack two rows per byte: expected an even K", k));
  int64_t group = group_size == kPerChannel ? k : group_size;
  if (group_size != kPerChannel && group_size != 32 && group_size != 64 && group_size != 128)
    s.fail(fmt::format("group_size is {}; expected 32, 64, 128 or kPerChannel", group_size));
  if (group == 0 || k % group != 0)
    s.fail(fmt::format("group_size {} does not divide K = {}; pad K to a multiple of it or pick a "
                       "group size that divides it",
                       group_size, k));
  if (layout == Int4Layout::marlin && (k % 16 != 0 || n % 64 != 0))
    s.fail(fmt::format("w has shape [{}, {}]; the marlin layout packs [16, 64] tiles: expected K a "
                       "multiple of 16 and N of 64 (pad the weights, or use half_split)",
                       k, n));
  check_host_matrix(s, "w", w, k, n, w.dtype, "the weights");
  check_host_matrix(s, "scales", scales, k / group, n, DType::f32, "one row per group of K");
  bool asym = mode == Int4Mode::asymmetric;
  if (asym)
    check_host_matrix(s, "zeros", zeros, k / group, n, DType::f32, "asymmetric: one per scale");
  else if (zeros.data != nullptr || zeros.rank != 0)
    s.fail("zeros is given but the mode is symmetric (zero point 8); pass an empty TensorView");
  std::vector<float> wf(size_t(k * n));
  for (int64_t i = 0; i < k * n; ++i) {
    wf[size_t(i)] = load_float(w, i);
    if (!std::isfinite(wf[size_t(i)]))
      s.fail(fmt::format("w[{}, {}] is {}; int4 quantization needs finite weights", i / n, i % n,
                         wf[size_t(i)]));
  }
  std::vector<int8_t> q(size_t(k * n));
  auto* sc = static_cast<float*>(scales.data);
  auto* zr = asym ? static_cast<float*>(zeros.data) : nullptr;
  for (int64_t g = 0; g < k / group; ++g)
    for (int64_t c = 0; c < n; ++c) {
      auto [scale, zero] = group_params(&wf[size_t(g * group * n + c)], group, n, mode);
      sc[g * n + c] = scale;
      if (zr)
        zr[g * n + c] = zero;
      for (int64_t r = g * group; r < (g + 1) * group; ++r)
        q[size_t(r * n + c)] = int8_t(nibble(wf[size_t(r * n + c)], scale, zero));
    }
  TensorView qv = w;
  qv.data = q.data();
  qv.dtype = DType::i8;
  qv.strides[0] = n;
  qv.strides[1] = 1;
  pack_int4(qv, packed, layout, where);
}

} // namespace tessel::ops
