// Quantize and dequantize: int8 and fp8 (f8e4m3, f8e5m2) with per-tensor, per-channel or
// per-token scales (docs/stdlib.md, "Quantize and dequantize"; the conversions' rules are
// docs/semantics.md's).
//
//   quantize(x, q, scales):    q = convert(x / scale)        (scales computed, or given)
//   dequantize(q, scales, y):  y = q * scale                  (rounded once to y's dtype)
//
// x and y are f32, f16 or bf16 of any rank >= 1, seen as rows (all leading dimensions) of a
// contiguous last dimension; q has x's shape and is i8, f8e4m3 or f8e5m2. scales is a contiguous
// f32 tensor of 1 element (per_tensor), `rows` elements (per_token: one per row) or `cols`
// elements (per_channel: one per column of the last dimension).
//
// With compute_scales, quantize first writes scale = amax / qmax for each group (amax the
// largest |x| of the group, NaN ignored; qmax = 127, 448 or 57344), and 1 where amax is 0. Then
// x / scale is computed in f32 (IEEE division) and converted: to int8 rounded to nearest even
// and clamped to [-127, 127] (NaN -> 0); to fp8 rounded once to nearest even, saturating to the
// largest finite value when `saturate` (the default), else overflowing to NaN (e4m3) / inf (e5m2).
#pragma once

#include "tessel/ops/common.h"

#include <cstdint>
#include <source_location>

namespace tessel::ops {

enum class QuantGranularity : uint8_t { per_tensor, per_channel, per_token };

struct QuantizeOptions {
  DType dtype = DType::i8; // i8, f8e4m3 or f8e5m2: q's dtype
  QuantGranularity granularity = QuantGranularity::per_token;
  bool compute_scales = true; // write scales from x; false: read the caller's
  bool saturate = true;       // fp8: clamp to the largest finite value (int8 always clamps)
};

struct DequantizeOptions {
  QuantGranularity granularity = QuantGranularity::per_token;
};

void quantize(const TensorView& x, const TensorView& q, const TensorView& scales,
              const QuantizeOptions& options = {}, Stream* stream = nullptr,
              std::source_location where = std::source_location::current());
void dequantize(const TensorView& q, const TensorView& scales, const TensorView& y,
                const DequantizeOptions& options = {}, Stream* stream = nullptr,
                std::source_location where = std::source_location::current());

} // namespace tessel::ops
