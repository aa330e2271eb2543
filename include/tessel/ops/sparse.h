// 2:4 structured sparsity (docs/stdlib.md, "2:4 structured sparsity"): a weight w [K, N] keeps
// two of every four consecutive elements along K in each column, so it is stored in half the
// space (values) with 4 bits per group saying which two were kept (metadata), in the layout the
// sparse tensor-core instruction mma.sp takes its A operand and metadata register in (the
// product is computed as out^T = w^T x^T, w^T being mma.sp's sparse A).
//
//   values   [N, K / 2], w's dtype: row n holds column n's kept weights in k order.
//   metadata i16 [N, K / 16]: word j of row n describes k = 16j .. 16j + 15, four groups of 4;
//            group i (k = 16j + 4i ..) at bits 4i .. 4i + 3: the low two bits are the position
//            (0..3) of its first kept weight, the high two bits the second's, first < second.
//            (mma.sp's metadata register for rows n and n + 8 of a 16-column step is then
//            metadata[n, j] | metadata[n + 8, j] << 16: PTX ISA, "Sparse matrix storage".)
//
// prune_2_4 and decompress_2_4 take host tensors (pruning is an offline step).
#pragma once

#include "tessel/ops/matmul.h"

namespace tessel::ops {

// Magnitude pruning: in every group of 4 along K of each column, the two weights of largest |w|
// are kept (on a tie the lower k). w: [K, N] f32/f16/bf16, any strides, no NaN; K a multiple of
// 16 (one metadata word covers 16 rows). values and metadata as above, contiguous.
void prune_2_4(const TensorView& w, const TensorView& values, const TensorView& metadata,
               std::source_location where = std::source_location::current());

// The inverse: w [K, N] (any strides, values' dtype) = the kept weights at their positions and
// zeros elsewhere. Metadata whose group names a position twice or out of order is an error
// naming the word and the group.
void decompress_2_4(const TensorView& values, const TensorView& metadata, const TensorView& w,
                    std::source_location where = std::source_location::current());

struct Sparse24Options {
  // Applied to the f32 accumulator before the store, as ops::matmul's (bias, activations,
  // residual, scale, user steps; at most 2 tensors and 4 scalars in all), on the [M, N] tile of
  // out. out's dtype is the output cast.
  std::vector<Epilogue> epilogue = {};
  // GPU: the depth of the cp.async ring the K loop streams the values and x through (1: no ring;
  // 2 to 16). The CPU ignores it.
  int num_stages = 2;
};

// out [M, N] = epilogue(x @ decompress_2_4(values, metadata)): x [M, K] f16 or bf16 (contiguous
// rows), values of x's dtype, out f32/f16/bf16, all on one device (CPU backend, simulator or GPU).
// On a GPU one kernel on sparse tensor cores (mma.sp, f32 accumulation) computes the transposed
// tile from the compressed values and the metadata (half the weight bytes, plus 1/16), its K loop
// streaming values and x through a cp.async ring; on the CPU the weights are decompressed and
// multiplied by ops::matmul. Host metadata is checked (each group two different positions in
// order); device metadata is not read back: an invalid group gives NaN in its column of out.
void matmul_sparse_2_4(const TensorView& x, const TensorView& values, const TensorView& metadata,
                       const TensorView& out, const Sparse24Options& options = {},
                       Stream* stream = nullptr,
                       std::source_location where = std::source_location::current());

} // namespace tessel::ops
