// Masked mean pooling over the sequence axis and L2 normalisation along the last axis, the two
// steps after a sentence-embedding model's encoder (docs/stdlib.md). Forward only.
//
//   mean_pool:    y[b, :] = sum_s mask[b, s] != 0 ? x[b, s, :] : 0  /  max(count_b, 1e-9)
//                 (count_b = the number of non-zero mask entries; an all-zero mask gives zeros,
//                 and masked positions are never read, so padding may hold anything)
//   l2_normalize: y = x / max(||x||_2, eps), per row
#pragma once

#include "tessel/ops/common.h"

#include <source_location>

namespace tessel::ops {

struct MeanPoolOptions {};
struct L2NormalizeOptions {
  float eps = 1e-12f;
};

// x: [batch, seq, hidden] f32/f16/bf16 (hidden contiguous; batch and seq strides free);
// mask: [batch, seq] of any dtype but f64 (non-zero = a real token; seq contiguous);
// y: [batch, hidden] f32/f16/bf16.
void mean_pool(const TensorView& x, const TensorView& mask, const TensorView& y,
               const MeanPoolOptions& options = {}, Stream* stream = nullptr,
               std::source_location where = std::source_location::current());
void l2_normalize(const TensorView& x, const TensorView& y, const L2NormalizeOptions& options = {},
                  Stream* stream = nullptr,
                  std::source_location where = std::source_location::current());

} // namespace tessel::ops
