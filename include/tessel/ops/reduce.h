// Reductions over the last axis that return indices (docs/stdlib.md). Forward only.
//
//   argmax: indices[r] = the first j with x[r, j] = max_j x[r, j]; a row holding NaN gives the
//           index of its first NaN (as PyTorch and NumPy).
#pragma once

#include "tessel/ops/common.h"

#include <source_location>

namespace tessel::ops {

struct ArgmaxOptions {
  int block_cols = 0; // 0: chosen from the row (at most 4096); a power of two, for tests
};

// x: [..., C] f32/f16/bf16 (rows of contiguous elements, any row stride), C >= 1;
// indices: x's shape without the last dimension (or [rows]), contiguous, i32 or i64.
void argmax(const TensorView& x, const TensorView& indices, const ArgmaxOptions& options = {},
            Stream* stream = nullptr, std::source_location where = std::source_location::current());

} // namespace tessel::ops
