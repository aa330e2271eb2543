// The norms' weight and bias gradients summed over rows in parts (norm_kernels.cpp): how many
// parts a shape gets, and the kernel that adds the parts' sums. Private to stdlib/ and its tests.
#pragma once

#include "tessel/jit/kernel.h"

#include <cstdint>

namespace tessel::ops::detail {

// Rows per part: a program of norm_weight_grad_kernel sums at least this many rows, so that the
// parts' f32 sums (2 * parts * cols values) stay small beside the rows themselves.
inline constexpr int64_t kGradPartRows = 512;
// At most this many parts (a program then sums more rows): enough programs for every core of a
// CPU and, with the column strips, for the SMs of a GPU.
inline constexpr int64_t kGradMaxParts = 64;

// The parts of a weight gradient over `rows` rows and `chunk`, the rows of each (a multiple of
// kGradRows; the last part may be shorter). One part (chunk = rows) up to 2 * kGradPartRows rows.
// From the shape only, so that the order of the additions, and so the bits, never change.
struct GradParts {
  int64_t parts, chunk;
};
GradParts norm_weight_grad_parts(int64_t rows);

// Params: dweight, dbias, parts (f32 [2 * num_parts, n]: weight sums, then bias sums), num_parts,
// n, LAYER, BLOCK. Grid: column blocks; each adds its columns' parts in part order.
const Kernel& norm_weight_grad_parts_kernel();

} // namespace tessel::ops::detail
