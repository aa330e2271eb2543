// Private: the desc_load / desc_store ops (ops.def) that tensor descriptors and block pointers
// both record, and the checks of their scalar operands, so that the two spellings share one
// lowering (expand-tensor-descriptors, or TMA on sm_90a).
#pragma once

#include "tessel/ir/ir.h"
#include "tessel/lang/tensor_descriptor.h"

#include <span>
#include <vector>

namespace tessel::lang::detail {

// The parts of a box access besides its offsets, in memory order (the innermost dim last).
struct DescParts {
  const Tensor& base;
  std::span<const Tensor> shape, strides;
  const Shape& block;
  DType dtype;
  DescriptorOptions options;
};

// An extent or stride: an integer scalar handle, or a C++ number as an i32 (i64 when it needs
// more) constant. `op` and `what` name it in the error.
Tensor desc_extent(const Index& x, const char* op, const char* what, size_t i,
                   const SourceLoc& loc);
// A box coordinate as an i32 scalar (TMA's coordinates are 32-bit).
ir::Value* desc_coordinate(const Index& x, size_t i, const char* op, const SourceLoc& loc);

// The box at `offsets`, a tile of parts.block.
ir::Value* emit_desc_load(const DescParts& parts, const std::vector<ir::Value*>& offsets,
                          const SourceLoc& loc);
// Writes `tile` (already of parts.block and parts.dtype) to the box at `offsets`.
void emit_desc_store(const DescParts& parts, const std::vector<ir::Value*>& offsets,
                     ir::Value* tile, const SourceLoc& loc);

} // namespace tessel::lang::detail
