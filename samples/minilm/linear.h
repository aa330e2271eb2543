// The encoder's dense layers on tessel::ops::matmul with a fused bias (and GELU) epilogue.
#pragma once

#include "tessel/runtime/tensor_view.h"

#include <cstdint>

namespace tessel::minilm {

enum class Activation : uint8_t { none, gelu };

// y[M, N] = act(x[M, K] @ w[K, N] + bias[N]); x, w, y contiguous row-major f32 (w is the model's
// [N, K] weight transposed once at load). f32 products in f32 (MatmulPrecision::ieee, the
// default): the embeddings must match the f32 reference to 1e-4.
void linear(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& y,
            Activation activation = Activation::none);

} // namespace tessel::minilm
