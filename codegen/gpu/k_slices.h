// Private to codegen/gpu: register double-buffering of the next k-slice (k_slices.cpp), registered
// by add_gpu_pass.
#pragma once

#include "tessel/codegen/target.h"
#include "tessel/ir/pass.h"

namespace tessel::codegen::gpu {

// The `k-slices` pass: in a pipelined loop whose dot runs on mma.sync and reads both operands from
// the pipeliner's rings, the dot becomes one dot per k-slice (the instruction's K), chained through
// the accumulator; slice j+1 is read from shared memory before the mma of slice j, and slice 0 of
// the next stage is read (after that stage's async_wait and barrier) before the last slice's mma
// and carried across the back-edge. Runs after pipeline and prepare-dot-operands, before cse and
// allocate-shared.
ir::PassInfo k_slices_pass(const Target& target, int num_warps);

} // namespace tessel::codegen::gpu
