// Cross-entropy fused with log-softmax over a large vocabulary, forward and backward
// (docs/stdlib.md). Per row i of logits x [rows, C] with label y_i and smoothing e:
//
//   lse_i  = log sum_j exp(x_ij)       (online: a running max and sum over column blocks; the
//                                       softmax is never written anywhere)
//   loss_i = lse_i - (1 - e) x_iy - (e / C) sum_j x_ij
//          = (1 - e) (-log p_iy) + e mean_j (-log p_ij)            (PyTorch's label smoothing)
//   dx_ij  = g_i (p_ij - e / C - (1 - e) [j == y_i])
//
// A row whose label equals ignore_index has loss 0 and gradient 0 and is not counted in the mean.
// reduction mean divides the sum by the number of counted rows (no counted row: 0 / 0 = NaN, as
// PyTorch). Labels outside [0, C) other than ignore_index are an error before launch when the
// labels are host memory; device labels are not copied back to check them: the gather is masked
// (never a wild read) and such a row's loss and gradient are NaN.
#pragma once

#include "tessel/ops/common.h"

#include <cstdint>
#include <source_location>

namespace tessel::ops {

enum class Reduction : uint8_t { none, mean, sum };

struct CrossEntropyOptions {
  int64_t ignore_index = -100;
  float label_smoothing = 0.0f; // in [0, 1]
  Reduction reduction = Reduction::mean;
  int block_cols = 0; // 0: chosen from C (at most 4096); a power of two, for tests
};

// logits: [rows, C] f32/f16/bf16 (C contiguous, any row stride); labels: [rows] i32 or i64;
// losses: [rows] f32, always written (the per-row losses, 0 where ignored): reduction none's
// result; loss: one f32 element (rank 0 or [1]) written with the mean or sum, unused (any view)
// for reduction none.
void cross_entropy(const TensorView& logits, const TensorView& labels, const TensorView& losses,
                   const TensorView& loss, const CrossEntropyOptions& options = {},
                   Stream* stream = nullptr,
                   std::source_location where = std::source_location::current());

// dloss: [rows] float for reduction none, one float element for mean and sum. dlogits has
// logits' shape, any float dtype; it may be logits itself (the gradient written in place into the
// logits, as Liger-Kernel does: each block is read before it is written).
void cross_entropy_backward(const TensorView& logits, const TensorView& labels,
                            const TensorView& dloss, const TensorView& dlogits,
                            const CrossEntropyOptions& options = {}, Stream* stream = nullptr,
                            std::source_location where = std::source_location::current());

} // namespace tessel::ops
