// Elementwise activations and gated linear units, forward and backward (docs/stdlib.md).
//
//   gelu(x)  = x * Phi(x)            (erf form), or the tanh approximation
//              0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
//   silu(x)  = x * sigmoid(x)
//   swiglu(gate, up) = silu(gate) * up,  geglu(gate, up) = gelu(gate) * up
//
// The gated forms read gate and up once and write y once; gate and up may be the two halves of one
// [rows, 2H] tensor (views with a row stride of 2H), as a fused up/gate projection produces.
// Tensors are f32, f16 or bf16 (each its own), rows of contiguous elements with any row stride;
// math is f32. The backward passes take the forward's inputs and dy.
#pragma once

#include "tessel/ops/common.h"

#include <cstdint>
#include <source_location>

namespace tessel::ops {

enum class GeluApproximation : uint8_t { none, tanh };

struct GeluOptions {
  GeluApproximation approximate = GeluApproximation::none;
};
struct SiluOptions {};

void gelu(const TensorView& x, const TensorView& y, const GeluOptions& options = {},
          Stream* stream = nullptr, std::source_location where = std::source_location::current());
void gelu_backward(const TensorView& x, const TensorView& dy, const TensorView& dx,
                   const GeluOptions& options = {}, Stream* stream = nullptr,
                   std::source_location where = std::source_location::current());
void silu(const TensorView& x, const TensorView& y, const SiluOptions& options = {},
          Stream* stream = nullptr, std::source_location where = std::source_location::current());
void silu_backward(const TensorView& x, const TensorView& dy, const TensorView& dx,
                   const SiluOptions& options = {}, Stream* stream = nullptr,
                   std::source_location where = std::source_location::current());

void swiglu(const TensorView& gate, const TensorView& up, const TensorView& y,
            const SiluOptions& options = {}, Stream* stream = nullptr,
            std::source_location where = std::source_location::current());
// dgate = dy * up * silu'(gate), dup = dy * silu(gate).
void swiglu_backward(const TensorView& gate, const TensorView& up, const TensorView& dy,
                     const TensorView& dgate, const TensorView& dup,
                     const SiluOptions& options = {}, Stream* stream = nullptr,
                     std::source_location where = std::source_location::current());
void geglu(const TensorView& gate, const TensorView& up, const TensorView& y,
           const GeluOptions& options = {}, Stream* stream = nullptr,
           std::source_location where = std::source_location::current());
// dgate = dy * up * gelu'(gate), dup = dy * gelu(gate).
void geglu_backward(const TensorView& gate, const TensorView& up, const TensorView& dy,
                    const TensorView& dgate, const TensorView& dup, const GeluOptions& options = {},
                    Stream* stream = nullptr,
                    std::source_location where = std::source_location::current());

} // namespace tessel::ops
