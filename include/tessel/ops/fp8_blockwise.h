// fp8 matmul with block scales, DeepSeek-V3 style (docs/stdlib.md, "fp8 with block scales").
//
//   activations: q, s = quantize_fp8_blockwise(x, Fp8Blocks::token_1x128)
//                s [M, ceil(K / 128)]: one scale per row and 128 columns
//   weights:     q, s = quantize_fp8_blockwise(w, Fp8Blocks::block_128x128)
//                s [ceil(K / 128), ceil(N / 128)]: one scale per 128 x 128 block
//   out[m, n] = epilogues(sum over K blocks kb of a_s[m, kb] * b_s[kb, n / 128] *
//                         sum over k in kb of a[m, k] * b[k, n])
//
// The scales are applied inside the k-loop: each step's partial product (a fresh f32 tile) is
// multiplied by its block's scales and added into the f32 accumulator, so no block's product is
// ever rounded to fp8 or scaled twice.
#pragma once

#include "tessel/ops/matmul.h"

#include <optional>

namespace tessel::ops {

// The scale block along K (and along N for the weights): 128, as DeepSeek-V3 uses.
inline constexpr int kFp8ScaleBlock = 128;

enum class Fp8Blocks {
  token_1x128,   // one scale per row and per 128 columns (activations)
  block_128x128, // one scale per 128 x 128 block (weights)
};

// x: [R, C] f32, f16 or bf16 with contiguous rows (any row stride); q: f8e4m3 or f8e5m2 of x's
// shape (contiguous rows); scales: f32 [R, ceil(C / 128)] (token_1x128) or [ceil(R / 128),
// ceil(C / 128)] (block_128x128), contiguous rows. Each block gets scale = amax / qmax (qmax 448
// for e4m3, 57344 for e5m2; amax the block's largest |x|, NaN ignored; 1 for an all-zero block),
// and q = fp8(x / scale): the f32 quotient rounded once to nearest even, saturated to +-qmax (a
// NaN stays NaN). The same conversion as ops::quantize (docs/semantics.md).
void quantize_fp8_blockwise(const TensorView& x, const TensorView& q, const TensorView& scales,
                            Fp8Blocks blocks, Stream* stream = nullptr,
                            std::source_location where = std::source_location::current());

struct Fp8BlockwiseOptions {
  // Applied to the f32 accumulator (after the block scales) before the store, as ops::matmul's
  // epilogues; out's dtype is the output cast.
  std::vector<Epilogue> epilogue = {};
  // Unset: block_m M's power of two from 16 (1 on the CPU) up to 64, block_n 64 (128 on the CPU),
  // block_k 128 on the CPU (one scale block per step) and 64 on a GPU (two steps per block, each
  // scaled: the 128-wide tile spills there), 4 warps (8 on a GPU for block_m above 16). block_k
  // must divide 128 (32, 64 or 128 on a GPU): each step then lies in one scale block.
  std::optional<MatmulConfig> config = std::nullopt;
};

// out [M, N] (f32, f16 or bf16) = epilogue(blockwise-scaled a @ b): a [M, K] and b [K, N] fp8
// (f8e4m3 or f8e5m2, any pair; any strides: a column-major b is an [N, K] row-major weight);
// a_scales f32 [M, ceil(K / 128)] and b_scales f32 [ceil(K / 128), ceil(N / 128)] (any strides:
// the scales of an [N, K] weight are passed transposed). On a GPU or the simulated device fp8
// needs sm_89 or later (mma.sync .e4m3/.e5m2; sm_90a too), as ops::matmul's fp8.
void matmul_fp8_blockwise(const TensorView& a, const TensorView& a_scales, const TensorView& b,
                          const TensorView& b_scales, const TensorView& out,
                          const Fp8BlockwiseOptions& options = {}, Stream* stream = nullptr,
                          std::source_location where = std::source_location::current());

} // namespace tessel::ops
