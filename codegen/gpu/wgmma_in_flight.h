// Private to codegen/gpu: wgmma groups kept in flight across the iterations of a K loop
// (issue 15), and the check that nothing reads an accumulator while its wgmma may still run.
#pragma once

#include "tessel/codegen/target.h"
#include "tessel/ir/ir.h"

#include <span>

namespace tessel::codegen::gpu {

// The pipeliner's question (pipeline.cpp): may the dot of `loop`, fed by the loads in `loads`
// (the ones it streams), keep one wgmma group in flight into the next iteration? Then its rings'
// copies run num_stages - 2 iterations ahead instead of num_stages - 1, so that the slot the
// in-flight wgmma reads is not refilled before it completes. True when num_stages >= 3, `wgmma`
// (CompileOptions::wgmma) and the target has wgmma, the body has exactly one dot, select_wgmma
// takes it, both its a and b come from `loads`, and its accumulator is carried by the loop
// (`acc = dot(a, b, acc)`, through convert_layout ops).
bool keeps_wgmma_in_flight(const ir::Op& loop, std::span<ir::Op* const> loads, int num_stages,
                           const Target& target, int num_warps, bool wgmma);

// prepare-dot-operands, for a dot just put on wgmma (its a and b buffers, its accumulator in
// wgmma_acc_layout, carried by its loop if it can be): places the wgmma_wait ops. When the dot is
// the pipeliner's in-flight form (`from_rings`: a and b are slots of its rings; the loop carries
// the accumulator; the rings have at least two slots more than the copies run ahead, read from the
// body's leading async_wait), `wgmma_wait {pending = 1}` after the dot (the previous iteration's
// group completes, so its slots may be refilled) and `wgmma_wait {pending = 0}` on the loop's
// result right after the loop; otherwise `wgmma_wait {pending = 0}` right after the dot.
void place_wgmma_waits(ir::Function& f, ir::Op& dot, bool from_rings);

// The codegen check (run by the emission): no op reads an accumulator that a wgmma may still be
// writing. In flight are the results of wgmma dots (a dot whose a is a #shared buffer), of
// wgmma_wait {pending > 0}, and the body arguments and results of a `for` whose yield carries an
// in-flight value. They may only reach another wgmma dot as its accumulator, a wgmma_wait, or the
// yield of a `for`; anything else is an error at the reader's line naming the wgmma.
void check_wgmma_in_flight(const ir::Function& f);

} // namespace tessel::codegen::gpu
