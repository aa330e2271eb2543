// Private to codegen/gpu: the TMA ring of the software pipeliner (tma_ring.cpp; sm_90a, issue 15).
#pragma once

#include "tessel/codegen/target.h"
#include "tessel/ir/ir.h"

#include <string>

namespace tessel::codegen::gpu {

struct TmaRingResult {
  bool ringed = false; // the loop was rewritten
  std::string what;    // for TESSEL_DUMP=pipeline: what was done, or why not (empty: no candidate)
};

// The pipeliner's first question for a loop (pipeline.cpp asks it before its cp.async rings): a
// `for` whose one dot runs on wgmma and reads two tensor-descriptor boxes that go through TMA
// (desc_load with a `tmap`, whose offsets are computed from the induction variable) streams them
// through a ring of `num_stages` boxes and as many mbarriers: the boxes of iteration i + S - 1
// are copied by TMA while iteration i's wgmma reads slot i mod S. Not ringed (`ringed` false):
// the cp.async pipeliner then looks at the loop as before.
TmaRingResult tma_ring(ir::Context& ctx, ir::Op& loop, int num_stages, const Target& target,
                       int num_warps, bool wgmma);

// True when `ring` (a local_alloc) is the box ring of a TMA ring in `scope`: an async_tma_load
// writes one of its slots. Such a ring is refilled only after the dot that read the slot retired
// (prepare-dot-operands reads it in place and may keep one wgmma group in flight).
bool is_tma_ring(const ir::Block& scope, const ir::Value* ring);

} // namespace tessel::codegen::gpu
