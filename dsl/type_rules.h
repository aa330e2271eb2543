// Private: the DSL's typing rules — NumPy broadcasting, element-type
// promotion — and the helpers that turn a violation into a tessel::Error at the user's line.
#pragma once

#include "tessel/ir/builder.h"
#include "tessel/lang/tensor.h"

#include <string>

namespace tessel::lang::detail {

std::string shape_str(std::span<const int64_t> shape); // "[128, 64]"
std::string type_str(const ir::Type* t);               // "tensor<128xf32>" as "f32[128]"

// A double as a user wrote it ("0.5", "3", "1e+30").
std::string format_value(double v);
// Throws tessel::Error "FILE:LINE: OP: MESSAGE".
[[noreturn]] void fail(const SourceLoc& loc, std::string_view op, const std::string& message);

// NumPy broadcasting of two shapes; an error naming both shapes when incompatible.
Shape broadcast_shapes(std::span<const int64_t> a, std::span<const int64_t> b, const SourceLoc& loc,
                       std::string_view op);
// `v` broadcast to `shape` (splat, expand_dims and broadcast ops as needed).
ir::Value* broadcast_to_shape(ir::Value* v, std::span<const int64_t> shape, const SourceLoc& loc,
                              std::string_view op);
// The common element type of two element types (float beats integer, wider beats narrower,
// f16 with bf16 gives f32, i1 with anything gives the other).
DType promote(DType a, DType b);
// `v` with its elements converted to `t` (no op when already `t`).
ir::Value* convert(ir::Value* v, DType t, const SourceLoc& loc);
// A constant of `t` shaped like `shape`.
ir::Value* constant_like(double value, DType t, std::span<const int64_t> shape,
                         const SourceLoc& loc);
// The largest tile one program may hold (elements).
inline constexpr int64_t kMaxTileElements = int64_t(1) << 24;
// Checks that every dim is a power of two and that the tile is not larger than the limit.
void check_shape(std::span<const int64_t> shape, const SourceLoc& loc, std::string_view op);

} // namespace tessel::lang::detail
