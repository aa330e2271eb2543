// Softmax and log-softmax along the last axis, forward and backward (docs/stdlib.md).
//
//   tessel::ops::softmax(x, y);                 // y = exp(x - max) / sum(exp(x - max)), per row
//   tessel::ops::softmax_backward(y, dy, dx);   // dx = y * (dy - sum(y * dy))
//
// Tensors are f32, f16 or bf16 (each its own), of rank >= 1; the last axis is contiguous and the
// leading axes collapse into rows of one stride. Math is f32. Rows that fit one block take one
// pass; longer rows use the online (running max / sum) algorithm: one read pass, one write pass.
#pragma once

#include "tessel/ops/common.h"

#include <source_location>

namespace tessel::ops {

struct SoftmaxOptions {
  // Columns per block; 0 picks it from the shape (the next power of two of the row, at most
  // 4096). A power of two; rows longer than it take the online path. Tests set it small.
  int block_cols = 0;
};

void softmax(const TensorView& x, const TensorView& y, const SoftmaxOptions& options = {},
             Stream* stream = nullptr,
             std::source_location where = std::source_location::current());
void log_softmax(const TensorView& x, const TensorView& y, const SoftmaxOptions& options = {},
                 Stream* stream = nullptr,
                 std::source_location where = std::source_location::current());
// dx = y * (dy - sum(y * dy)), y the forward's output.
void softmax_backward(const TensorView& y, const TensorView& dy, const TensorView& dx,
                      const SoftmaxOptions& options = {}, Stream* stream = nullptr,
                      std::source_location where = std::source_location::current());
// dx = dy - exp(y) * sum(dy), y the forward's output (log-probabilities).
void log_softmax_backward(const TensorView& y, const TensorView& dy, const TensorView& dx,
                          const SoftmaxOptions& options = {}, Stream* stream = nullptr,
                          std::source_location where = std::source_location::current());

} // namespace tessel::ops
