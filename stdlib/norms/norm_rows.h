// The norms' forward for rows that fit one block, ROWS rows per program on the CPU
// (stdlib/common/row_tiles.h). Private to stdlib/norms/.
#pragma once

#include "tessel/jit/kernel.h"

namespace tessel::ops::detail {

// Params: y, residual_out, mean, rstd, x, residual, weight, bias, y_stride, ro_stride, x_stride,
// r_stride, n, rows, eps, LAYER, RESIDUAL, ROWS, BLOCK. Grid: ceil(rows / ROWS).
const Kernel& norm_rows_forward_kernel();

} // namespace tessel::ops::detail
