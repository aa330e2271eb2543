// Elementwise binary arithmetic with NumPy broadcasting and a fused output cast (docs/stdlib.md).
//
//   add(a, b, y):  y = a + b        mul(a, b, y):  y = a * b
//
// a and b (rank 1 to 4, f32/f16/bf16, each its own dtype) broadcast with NumPy's rules: shapes
// align at the right, a dimension of size 1 (or a missing one) stretches to the other's size. y
// has the broadcast shape and any float dtype: the sum or product is computed in f32 and rounded
// once to y's dtype (the fused cast). Inputs may have any strides (a broadcast dimension is read
// with stride 0); y's last dimension is contiguous, its other strides are free. y may alias an
// input of its own shape and strides (add(x, bias, x)). Backward is not provided: da = dy and
// db = dy summed over the broadcast dimensions (add), dy * b and dy * a (mul), which are these
// same ops plus a reduction.
#pragma once

#include "tessel/ops/common.h"

#include <source_location>

namespace tessel::ops {

struct BinaryOptions {};

void add(const TensorView& a, const TensorView& b, const TensorView& y,
         const BinaryOptions& options = {}, Stream* stream = nullptr,
         std::source_location where = std::source_location::current());
void mul(const TensorView& a, const TensorView& b, const TensorView& y,
         const BinaryOptions& options = {}, Stream* stream = nullptr,
         std::source_location where = std::source_location::current());

} // namespace tessel::ops
