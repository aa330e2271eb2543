// dot_sparse on mma.sp (lower_mma_sp.cpp): a free function over the Lowering's public interface,
// so that adding it did not touch lowering.h (included by every lowering file).
#pragma once

#include "codegen/gpu/lowering.h"

namespace tessel::codegen::gpu::detail {

// A dot_sparse prepare-dot-operands put on mma.sp (its result in #mma).
void lower_mma_sp(Lowering& l, const ir::Op& op);

} // namespace tessel::codegen::gpu::detail
