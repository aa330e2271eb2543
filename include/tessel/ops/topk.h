// top-k over the last axis (docs/stdlib.md, "topk"). Forward only.
//
//   values[r, j], indices[r, j] for j < k: the k largest elements of row r (the k smallest with
//   largest = false), in order (largest first; smallest first), ties in index order (the lower
//   column first, as a stable sort), NaN greater than every number (as torch.topk): with largest
//   a row's NaNs come first, without they come last. -0 and +0 are equal (a tie).
#pragma once

#include "tessel/ops/common.h"

#include <cstdint>
#include <source_location>

namespace tessel::ops {

struct TopkOptions {
  bool largest = true; // the k largest (else the k smallest)
  bool sorted = true;  // accepted for torch's signature: the result is always sorted
  int block_cols = 0;  // 0: chosen from the row (at most 4096); a power of two, for tests
};

// The largest k the op takes: it costs about k passes over each row's block in registers.
inline constexpr int64_t kTopkMaxK = 256;

// x: [..., C] f32/f16/bf16 (rows of contiguous elements, any row stride); values: x's shape with
// the last dimension k, f32/f16/bf16 (converted on the store); indices: the same shape, i32 or
// i64. 0 <= k <= min(C, kTopkMaxK); k = 0 or no rows is a no-op.
void topk(const TensorView& x, const TensorView& values, const TensorView& indices, int64_t k,
          const TopkOptions& options = {}, Stream* stream = nullptr,
          std::source_location where = std::source_location::current());

} // namespace tessel::ops
