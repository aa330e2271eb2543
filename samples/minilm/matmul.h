// The encoder's private matmul (until tessel::ops::matmul lands: one call site each in
// encoder.cpp and attention.cpp switches over): a tl::dot tile kernel over strided, batched
// operands with a fused epilogue (scale, bias, GELU(erf), key mask), f32 in and out, on the CPU
// backend or the device of the views (CUDA, simulated).
//
//   C[z][m, n] = act(alpha * sum_k A[z][m, k] B[z][k, n] + bias[n]),  masked to -FLT_MAX where
//                mask[z / heads][n] == 0
//
// z runs over batch * heads; each operand addresses element (z, i, j) as
// offset + (z / heads) * batch_stride + (z % heads) * head_stride + i * row_stride + j *
// col_stride, so Q, K and V can be read in place from one [tokens, 3 * hidden] projection.
#pragma once

#include "tessel/runtime/tensor_view.h"

#include <cstdint>

namespace tessel::minilm {

enum class Activation : uint8_t { none, gelu };

struct Operand {
  TensorView data; // the buffer (its data pointer and device; its shape is not used)
  int64_t offset = 0, batch_stride = 0, head_stride = 0, row_stride = 0, col_stride = 1;
};

struct MatmulEpilogue {
  float alpha = 1.0f;
  const TensorView* bias = nullptr; // [N] f32
  Activation activation = Activation::none;
  const TensorView* key_mask = nullptr; // [batch, N] i32, row stride mask_stride
  int64_t mask_stride = 0;
};

struct MatmulShape {
  int64_t batch = 1, heads = 1, m = 0, n = 0, k = 0;
};

void batched_matmul(const Operand& a, const Operand& b, const Operand& c, const MatmulShape& shape,
                    const MatmulEpilogue& epilogue = {});

// y[M, N] = act(x[M, K] @ w[K, N] + bias[N]); x, w, y contiguous row-major f32 (w is the model's
// [N, K] weight transposed once at load).
void linear(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& y,
            Activation activation = Activation::none);

} // namespace tessel::minilm
