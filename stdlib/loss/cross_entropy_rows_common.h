// What cross_entropy's per-row kernels (cross_entropy_kernels.cpp) and its short-row tile kernels
// (cross_entropy_rows.cpp) share, so both weigh rows and count the mean's rows the same way.
// Private to stdlib/loss/.
#pragma once

#include "tessel/lang/ops.h"

namespace tessel::ops::detail {

// 1 for a counted row, 0 for an ignored one; NaN for a label outside [0, n). `label` is i64.
lang::Tensor row_weight(const lang::Tensor& label, const lang::Int& n,
                        const lang::Int& ignore_index);

// The rows whose label is not ignore_index, in f32, read `block` labels at a time.
lang::Tensor count_rows(const lang::Ptr& labels, const lang::Int& label_stride,
                        const lang::Int& rows, const lang::Int& ignore_index, int block);

} // namespace tessel::ops::detail
