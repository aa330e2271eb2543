// The DSL kernels of fp8 with block scales (fp8_blockwise_kernels.cpp; fp8_blockwise.cpp checks
// the arguments and launches them). Private to stdlib/quant/ and tests/stdlib/.
#pragma once

#include "stdlib/matmul/epilogue.h"
#include "tessel/jit/kernel.h"

#include <string>

namespace tessel::ops::detail {

// Grid (row blocks, column blocks of 128). Params: q, scales, x, rows, cols, x_stride, q_stride,
// s_stride, WEIGHT, QDTYPE, RB. WEIGHT 0 (1 x 128): a program quantizes RB rows of one column
// block, one scale per row; WEIGHT 1 (128 x 128): a program quantizes one 128 x 128 block, RB
// rows at a time, one scale for all of it. QDTYPE 1 f8e4m3, 2 f8e5m2 (QuantCode's values).
const Kernel& quantize_fp8_blockwise_kernel();

// Grid: tiles of out. Params: out, a, b, a_scales, b_scales, e0, e1, M, N, K, a_m, a_k, b_k,
// b_n, out_stride, as_m, as_k, bs_k, bs_n, e0_m, e0_n, e1_m, e1_n, s0..s3, BM, BN, BK (BK
// divides 128: each step lies in one scale block).
const Kernel& fp8_blockwise_kernel(); // no epilogue
const Kernel& fp8_blockwise_kernel_for(const std::string& key, const Chain& chain);

} // namespace tessel::ops::detail
