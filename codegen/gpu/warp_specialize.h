// Private to codegen/gpu: warp specialization of a TMA ring (warp_specialize.cpp; sm_90a, issue
// 15).
#pragma once

#include "tessel/codegen/target.h"
#include "tessel/ir/pass.h"

#include <string>

namespace tessel::codegen::gpu {

// Who does what in a warp-specialized loop: `producer_warps` issue the TMA copies, the
// `consumer_warps` (the kernel's layouts were assigned for exactly these) run the wgmmas. The
// CTA then has producer_warps + consumer_warps warps, the producer warpgroup last.
struct WarpRoles {
  int producer_warps = 4;
  int consumer_warps = 4;
};

// The rule the roles must follow (throws tessel::Error naming it and `where`): each role whole
// warpgroups (4 warps: wgmma and setmaxnreg act per warpgroup), exactly one producer warpgroup
// (one elected thread issues every copy; more would only idle), at least one consumer warpgroup,
// and the consumers are the warps the layouts were assigned for (`num_warps`), so that the
// roles partition the CTA's warps.
void check_warp_roles(const WarpRoles& roles, int num_warps, const std::string& where);

// Registers per thread each role asks for with setmaxnreg (dec in the producer, inc in the
// consumers): CUTLASS's 40 / 232 for one producer and up to two consumer warpgroups
// (cutlass/gemm/kernel/sm90_gemm_tma_warpspecialized_cooperative.hpp, LoadRegisterRequirement and
// MmaRegisterRequirement), fewer consumer registers when more warpgroups share the 64K file.
struct RoleRegisters {
  int producer = 40;
  int consumer = 232;
};
RoleRegisters role_registers(const WarpRoles& roles);

// The `warp-specialize` pass (after `pipeline`, before `prepare-dot-operands`): each TMA ring the
// pipeliner built (tma_ring.h) is split into a producer loop and a consumer loop that meet only
// at mbarriers (docs/gpu_codegen.md, "Warp specialization"). Loops without a TMA ring stay.
ir::PassInfo warp_specialize_pass(const Target& target, int num_warps, WarpRoles roles);

// The warps of `f`'s producer warpgroup (launched on top of the layouts' num_warps), 0 when the
// pass did not specialize a loop of `f`. It recognises the pass's role `if`: its first region
// starts with the producer's setmaxnreg.dec.
int producer_warps(const ir::Function& f);

// When the automatic choice specializes a ring (docs/gpu_codegen.md gives the rule): sm_90a, one
// or two consumer warpgroups (the 232-register budget of CUTLASS's configs).
bool warp_specialize_profitable(const Target& target, int num_warps);

} // namespace tessel::codegen::gpu
