// Prefix masks: when a masked global load can still be copied in 16-byte pieces by cp.async.
//
// cp.async takes a src-size operand: it reads that many bytes from the start of the copy and
// zero-fills the rest of it, reading nothing beyond. So a copy of a run of `w` elements is exact
// for any mask that is true on a prefix of the run and false after it (src-size = the prefix's
// bytes), which is what a ragged edge gives: `k < K` with k counting up along the run and K the
// same for the whole run is true on k0 .. K-1 and false from K on. A mask is a *prefix mask* of
// run `w` along dimension `d` when, in every aligned run of w elements along d, it is such a
// prefix (all-true and all-false runs included). Proved from the axis facts
// (codegen/analysis/axis_info.h), structurally:
//   * a mask constant along d over runs of w (constancy >= w): one bit per run;
//   * x < y and x <= y (and y > x, y >= x) with x contiguous over w along d (increasing by one,
//     so it cannot wrap inside the run) and y constant over w along d;
//   * a and b of two prefix masks (the shorter prefix);
//   * the same through convert_layout and broadcast (along a dimension that is not d, or from
//     a size-1 dimension, which is constant), and through expand_dims (its operand's dimension
//     for d: expand-tensor-descriptors compares the 1-D indices of a box before expanding them).
// Anything else (or, select, loads, ...) is not known to be one. An aligned sub-run of a prefix
// run is again a prefix run, so any copy width that divides w keeps the property.
#pragma once

#include "codegen/analysis/axis_info.h"
#include "tessel/ir/ir.h"

#include <cstdint>

namespace tessel::codegen::gpu {

// True when `mask` (an i1 tensor of the analysed function) is a prefix mask of run `run` (a
// power of two) along dimension `dim`.
bool is_prefix_mask(const ir::Value& mask, int dim, int64_t run,
                    const analysis::AxisAnalysis& axis);

// The operand dimension of `expand` (an expand_dims) that its result's dimension `dim` is; `dim`
// must not be the new size-1 axis.
int expanded_from(const ir::Op& expand, int dim);

// The widest run (elements, a power of two) along `dim` that a cp.async of global load `load`
// can copy whole with a src-size: at most `per_thread` (the thread's run of contiguous registers
// along `dim`) and 16 bytes, within the pointer's contiguity and alignment, and, where the load
// is masked, one over which its mask is constant or a prefix mask. 1 when nothing wider is known.
int prefix_copy_width(const ir::Op& load, int dim, int64_t per_thread,
                      const analysis::AxisAnalysis& axis);

} // namespace tessel::codegen::gpu
