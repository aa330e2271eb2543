// RMS norm and layer norm over the last axis, with an optional fused residual add, forward and
// backward (docs/stdlib.md).
//
//   rms_norm:   y = x * rstd * weight,               rstd = 1 / sqrt(mean(x^2) + eps)
//   layer_norm: y = (x - mean) * rstd * weight + bias, rstd = 1 / sqrt(mean((x - mean)^2) + eps)
//
// The add_ forms first sum h = x + residual, write h to residual_out (the next block's residual)
// and normalise h. mean and rstd are f32, one per row, written for the backward. x, y, residual and
// residual_out are f32, f16 or bf16 of rank >= 1 (rows of contiguous elements, any row stride);
// weight and bias are contiguous f32/f16/bf16 vectors of the row length. Math is f32. A row of up
// to 16384 columns is read once into registers and written once; a longer row is read twice
// (statistics, then y) and written once.
//
// The backward takes the forward's input (h for the add_ forms), its statistics and dy, writes
// dx (for add_ forms, also the gradient of residual; add residual_out's own gradient to it) and
// the weight (and bias) gradient, reduced over rows by a second kernel in a fixed order, so the
// result is the same bits on every run.
#pragma once

#include "tessel/ops/common.h"

#include <source_location>

namespace tessel::ops {

struct RmsNormOptions {
  float eps = 1e-6f;
  // Columns per block; 0 picks it from the shape (the next power of two of the row, at most
  // 16384). A power of two; rows longer than it loop over blocks. Tests set it small.
  int block_cols = 0;
};
struct LayerNormOptions {
  float eps = 1e-5f;
  int block_cols = 0; // as RmsNormOptions::block_cols
};

void rms_norm(const TensorView& x, const TensorView& weight, const TensorView& y,
              const TensorView& rstd, const RmsNormOptions& options = {}, Stream* stream = nullptr,
              std::source_location where = std::source_location::current());
void add_rms_norm(const TensorView& x, const TensorView& residual, const TensorView& weight,
                  const TensorView& y, const TensorView& residual_out, const TensorView& rstd,
                  const RmsNormOptions& options = {}, Stream* stream = nullptr,
                  std::source_location where = std::source_location::current());
// dx = rstd * (weight * dy - xhat * mean(weight * dy * xhat)), xhat = x * rstd;
// dweight = sum over rows of dy * xhat (f32 math; dweight of any float dtype).
void rms_norm_backward(const TensorView& dy, const TensorView& x, const TensorView& weight,
                       const TensorView& rstd, const TensorView& dx, const TensorView& dweight,
                       const RmsNormOptions& options = {}, Stream* stream = nullptr,
                       std::source_location where = std::source_location::current());

void layer_norm(const TensorView& x, const TensorView& weight, const TensorView& bias,
                const TensorView& y, const TensorView& mean, const TensorView& rstd,
                const LayerNormOptions& options = {}, Stream* stream = nullptr,
                std::source_location where = std::source_location::current());
void add_layer_norm(const TensorView& x, const TensorView& residual, const TensorView& weight,
                    const TensorView& bias, const TensorView& y, const TensorView& residual_out,
                    const TensorView& mean, const TensorView& rstd,
                    const LayerNormOptions& options = {}, Stream* stream = nullptr,
                    std::source_location where = std::source_location::current());
// dx = rstd * (weight * dy - mean(weight * dy) - xhat * mean(weight * dy * xhat)),
// xhat = (x - mean) * rstd; dweight = sum over rows of dy * xhat; dbias = sum over rows of dy.
void layer_norm_backward(const TensorView& dy, const TensorView& x, const TensorView& weight,
                         const TensorView& mean, const TensorView& rstd, const TensorView& dx,
                         const TensorView& dweight, const TensorView& dbias,
                         const LayerNormOptions& options = {}, Stream* stream = nullptr,
                         std::source_location where = std::source_location::current());

} // namespace tessel::ops
