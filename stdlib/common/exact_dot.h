// tl::dot as the stdlib's kernels use it: f32 operands multiply in f32 (Precision::ieee) on every
// target. tl::dot's own GPU default for f32 is tf32 (Triton's), but an f32 op must give f32
// results (as PyTorch's matmul does by default); 16-bit and integer operands take no precision.
#pragma once

#include "tessel/lang/ops.h"
#include "tessel/lang/tensor.h"

namespace tessel::ops::detail {

inline lang::Tensor exact_dot(const lang::Tensor& a, const lang::Tensor& b, const lang::Tensor& acc,
                              lang::Loc loc = lang::Loc::current()) {
  if (a.dtype() == DType::f32)
    return lang::dot(a, b, acc, lang::Precision::ieee, loc);
  return lang::dot(a, b, acc, loc);
}

} // namespace tessel::ops::detail
