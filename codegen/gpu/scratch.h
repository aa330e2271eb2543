// Private to codegen/gpu: how many bytes of shared memory each op borrows while it runs. The
// emission (convert_layout.cpp, lower_reduce.cpp) and the allocate-shared pass
// (allocate_shared.cpp) both ask these functions, so the plan in the IR and what the emission
// touches cannot drift apart.
#pragma once

#include "codegen/gpu/linear_layout.h"
#include "tessel/codegen/target.h"
#include "tessel/ir/ir.h"
#include "tessel/ir/pass.h"

#include <cstdint>
#include <span>

namespace tessel::codegen::gpu::detail {

// A conversion between two layouts of one tensor of `elem`: 0 when registers can be renamed
// (same lane and warp bases), else the tensor's bytes (pointers travel as 8-byte integers).
int64_t conversion_scratch_bytes(const LinearLayout& from, const LinearLayout& to,
                                 const ir::Type* elem);

// A reduction `op` whose operand is in layout `in`: the partials of the warp groups along the
// axis (0 when the axis stays within a warp), values rounded up to 16 bytes, then argmax indices.
int64_t reduce_scratch_bytes(const ir::Op& op, const LinearLayout& in);

// A scan `op` running in layout `l` (its operand's and result's): the exchange of the warps'
// totals (0 when the axis stays within a warp). The conversions into and out of `l` are
// convert_layout ops of their own (assign-layouts).
int64_t scan_scratch_bytes(const ir::Op& op, const LinearLayout& l);

// An atomic `op` whose pointer is in layout `ptr_layout` (null for a scalar pointer): when its
// result is used, the old values the owning threads hand to the replicated copies (0 when the
// layout replicates nothing, the element for a scalar).
int64_t atomic_scratch_bytes(const ir::Op& op, const ir::Function& f,
                             const LinearLayout* ptr_layout);

// A desc_load / desc_store through TMA (a `tmap`; lower_tma.cpp): the box, rounded up to 128
// bytes, then its mbarrier (16 bytes); 0 for one without a tensor map. The box starts
// 1024-byte aligned (the swizzle modes' period); tma_barrier_offset is the mbarrier's offset in it.
int64_t tma_scratch_bytes(const ir::Op& op);
int64_t tma_box_bytes(const ir::Op& op);
int64_t tma_barrier_offset(const ir::Op& op);
inline constexpr int64_t kTmaBoxAlign = 1024;

} // namespace tessel::codegen::gpu::detail

namespace tessel::codegen::gpu {
// The allocate-shared pass (allocate_shared.cpp); registered by add_gpu_pass.
ir::PassInfo allocate_shared_pass(const Target& target);
} // namespace tessel::codegen::gpu
