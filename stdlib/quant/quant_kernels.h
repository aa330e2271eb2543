// The DSL kernels of the quantized and low-rank matmuls (quant_kernels.cpp; quant.cpp checks the
// arguments and launches them). Private to stdlib/quant/ and tests/stdlib/.
#pragma once

#include "stdlib/matmul/epilogue.h"
#include "tessel/jit/kernel.h"

#include <string>

namespace tessel::ops::detail {

// One program per row. Params: q, scales, x, weight, q_stride, x_stride, n, eps, NORM, BLOCK.
// NORM = 1 applies RMS norm with `weight` before quantizing (weight unread otherwise).
const Kernel& quantize_int8_kernel();

// The epilogue slots every fused quantized matmul ends its parameters with, before its
// constants: e0, e1 (pointers), e0_m, e0_n, e1_m, e1_n (row and column strides), s0..s3.
// Grid: tiles of out. Params: out, x, packed, scales, zeros, perm, <slot pointers>, M, N, K,
// group, x_stride, out_stride, <slot strides and scalars>, ZEROS, PERM, BM, BN, BK. BK counts
// packed rows (2 * BK weight rows per step). PERM = 1: perm (i32 [K]) holds the x column of each
// stored weight row (act-order); unread otherwise.
const Kernel& w4a16_kernel(); // no epilogue
const Kernel& w4a16_kernel_for(const std::string& key, const Chain& chain);
// The same parameters for packed weights in Int4Layout::marlin (K % 16 == 0, N % 64 == 0): each
// weight's nibble is gathered from its fragment-order byte (int4_marlin.h), consecutive rows per
// step.
const Kernel& w4a16_marlin_kernel(); // no epilogue
const Kernel& w4a16_marlin_kernel_for(const std::string& key, const Chain& chain);

// Grid: tiles of out. Params: out, x, w, a, b, idx, <slot pointers>, M, N, K, rank, adapters,
// x_stride, w_stride, a_batch, a_stride, b_batch, b_stride, out_stride, <slot strides>, scale,
// <slot scalars>, BM, BN, BK, R (rank padded to a power of two), L (adapters padded to a power of
// two), INDEXED (idx: i32 adapter per row, -1 none).
const Kernel& lora_kernel(); // no epilogue
const Kernel& lora_kernel_for(const std::string& key, const Chain& chain);

// Grid: tiles of out. Params: out, x, values, metadata, <slot pointers>, M, N, K, x_stride,
// out_stride, <slot strides and scalars>, BM, BN, BK, XA. values [N, K / 2] and metadata i16
// [N, K / 16] contiguous, as ops::prune_2_4 makes them; XA (8 or 1) divides x_stride.
const Kernel& sparse_2_4_kernel(); // no epilogue
const Kernel& sparse_2_4_kernel_for(const std::string& key, const Chain& chain);

} // namespace tessel::ops::detail
