// cross_entropy's kernels for rows that fit one block, ROWS rows per program on the CPU
// (stdlib/common/row_tiles.h). Private to stdlib/loss/.
#pragma once

#include "tessel/jit/kernel.h"

namespace tessel::ops::detail {

// Params: losses, logits, labels, logit_stride, label_stride, n, rows, ignore_index, smoothing,
// SMOOTH (smoothing != 0), ROWS, BLOCK. Grid: ceil(rows / ROWS).
const Kernel& cross_entropy_rows_kernel();
// Params: dlogits, logits, labels, dloss, dlogits_stride, logit_stride, label_stride,
// dloss_stride, rows, n, ignore_index, counted, smoothing, REDUCTION, ROWS, BLOCK.
const Kernel& cross_entropy_rows_backward_kernel();

} // namespace tessel::ops::detail
