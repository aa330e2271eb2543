// Private to codegen/gpu: the software pipeliner (pipeline.cpp), registered by add_gpu_pass.
#pragma once

#include "tessel/codegen/target.h"
#include "tessel/ir/pass.h"

namespace tessel::codegen::gpu {

// The `pipeline` pass: the global loads that feed a dot (or a dot_sparse's values and dense
// operand) in a `for` loop stream through a ring of `num_stages` shared buffers filled by cp.async
// for iteration i+S-1 while iteration i computes.
// A loop's own `num_stages` attribute overrides `num_stages`. Runs after assign-layouts.
// `num_warps` and `wgmma` (CompileOptions::wgmma) tell whether the loop's dot will run on wgmma
// with a group kept in flight (then the copies run S-2 iterations ahead; wgmma_in_flight.h).
ir::PassInfo pipeline_pass(const Target& target, int num_warps, int num_stages, bool wgmma = true);

} // namespace tessel::codegen::gpu
