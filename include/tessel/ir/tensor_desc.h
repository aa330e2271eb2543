// Tensor descriptors (ops.def: desc_load / desc_store): the rules a TMA tile-mode box obeys, in
// one place, so that the DSL (an error at the user's line), the IR verifier and the runtime (the
// tensor map built at launch) enforce the same ones. Each check returns a message naming the rule
// and the field, or nothing.
//
// A descriptor describes an R-dimensional (1..5) row-major tensor: a base pointer, `shape` and
// `strides` in elements (the innermost stride is 1), and a box of `block` elements. The
// operands of desc_load are base, shape[R], strides[R], offsets[R]; desc_store adds the tile.
#pragma once

#include "tessel/dtype.h"
#include "tessel/ir/ir.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace tessel::ir {

inline constexpr int kMaxDescRank = 5;        // cuTensorMapEncodeTiled's tensorRank
inline constexpr int64_t kMaxBoxDim = 256;    // boxDim[i] <= 256
inline constexpr int64_t kBoxInnerAlign = 16; // boxDim[0] * element size, and global strides

// The operands of a desc_load / desc_store, split by role.
struct DescOperands {
  Value* base = nullptr;
  std::span<Value*const> shape, strides, offsets;
  Value* tile = nullptr; // desc_store's value; null for desc_load
};
// Requires: op is a desc_load or desc_store with 1 + 3R (+1) operands, R = its block's length.
DescOperands desc_operands(const Op& op);

// TMA copies elements of 1, 2, 4 or 8 bytes: every number type but i1 (fp8 as bytes).
std::optional<std::string> check_desc_element(DType t);
// Rank 1..5, each block dim in 1..256 and a power of two, the innermost block dim's bytes a
// multiple of 16.
std::optional<std::string> check_desc_block(DType t, std::span<const int64_t> block);
// 0 (none), 32, 64 or 128 bytes, and the innermost block dim no wider than the swizzle span.
std::optional<std::string> check_desc_swizzle(DType t, std::span<const int64_t> block,
                                              int64_t swizzle);
// A stride known when tracing: the innermost (dim == rank - 1) is 1, the others positive and a
// multiple of 16 bytes.
std::optional<std::string> check_desc_stride(DType t, int dim, int rank, int64_t stride);
// 0 (zero fill) or 1 (NaN fill, float elements only).
std::optional<std::string> check_desc_padding(DType t, int64_t padding);

} // namespace tessel::ir
