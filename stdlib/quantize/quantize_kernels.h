// The quantize/dequantize DSL kernels (stdlib/quantize/quantize.cpp), for the registry and the
// tests that compile them on their own. Private to stdlib/ and tests/stdlib/.
#pragma once

#include "tessel/jit/kernel.h"

namespace tessel::ops::detail {

// The GRAN parameter of the kernels: QuantGranularity's values.
// The QDTYPE parameter: 0 int8, 1 f8e4m3, 2 f8e5m2.
enum class QuantCode : int { int8 = 0, f8e4m3 = 1, f8e5m2 = 2 };

// Params: scales, x, rows, cols, x_stride, GRAN, QDTYPE, BLOCK. Writes amax / qmax per group.
// Grid: per_token rows; per_channel column blocks; per_tensor up to kTensorAmaxPrograms, each
// folding its rows' amax into scales[0] with an atomic max (between quant_tensor_scale's steps).
const Kernel& quant_scales_kernel();
// Params: scales, QDTYPE, FINISH. Grid: 1. FINISH 0 zeroes scales[0]; 1 turns the amax there
// into amax / qmax (1 for an all-zero tensor).
const Kernel& quant_tensor_scale_kernel();
// Params: q, x, scales, cols, x_stride, q_stride, GRAN, QDTYPE, SATURATE, BLOCK.
// Grid: (rows, column blocks).
const Kernel& quantize_kernel();
// Params: y, q, scales, cols, q_stride, y_stride, GRAN, BLOCK. Grid: (rows, column blocks).
const Kernel& dequantize_kernel();

inline constexpr int kQuantBlock = 1024;
// per_tensor scales: the programs of the amax reduction (each a strip of rows).
inline constexpr int64_t kTensorAmaxPrograms = 256;
// dequantize's block, at half the warps of num_warps_for: 16 bytes of q per thread.
inline constexpr int kDequantBlock = 2048;

} // namespace tessel::ops::detail
