// Private: a linked kernel's resources against its target's limits (codegen/gpu/compile.cpp).
#pragma once

#include "tessel/codegen/gpu.h"

namespace tessel::codegen::gpu {

// out.resources (nvJitLink's report), out.shared_bytes and out.num_warps against the target's
// registers per thread, registers per block (registers x threads) and shared memory per block
// (dynamic + static). Throws tessel::Error naming the kernel, the resource, the need, the limit
// and a fix, so that a kernel that could never launch fails when it is compiled, not in the
// driver. A report that was not parsed is not checked.
void check_resources(const CompiledKernel& out, const Target& target);

} // namespace tessel::codegen::gpu
