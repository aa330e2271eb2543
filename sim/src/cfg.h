// Reconvergence points for divergent branches. A warp that splits at a conditional branch
// runs both sides one after the other and joins again at the branch's immediate
// post-dominator: the first instruction that every path from the branch must reach. This
// is computed once per function from the control-flow graph of basic blocks.
#pragma once

#include "ptx_module.h"

namespace tessel::sim {

// Sets Inst::reconverge of every `bra` in `fn` to the index of the first instruction of
// its block's immediate post-dominator, or kNoReconverge when that is the function's exit
// (the sides then only meet when the threads finish).
void compute_reconvergence(Function& fn);

} // namespace tessel::sim
