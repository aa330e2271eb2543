// The DSL kernels of RMS norm and layer norm (norms.cpp checks arguments and launches them).
//
// forward: one program per row; the row (plus the residual, when fused) is read once into
// registers, its statistics reduced, and y (and residual_out, mean, rstd) written once.
// backward: one program per row writes dx from dy, x and the saved statistics. The weight and bias
// gradients are sums over rows; rather than atomics (whose order varies from run to run) a second
// kernel gives each program a strip of columns and walks the rows in tiles of ROWS, in order, so
// the sum is the same bits on every run and on every backend.
#include "stdlib/common/kernels.h"

#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"

namespace tessel::ops::detail {
namespace {

namespace tl = tessel::lang;

tl::Tensor row_offset(const tl::Tensor& row, const tl::Int& stride) {
  return row.to(DType::i64) * stride.to(DType::i64);
}

// x - mean (layer norm) or x (RMS norm), zero outside the row.
tl::Tensor centred(const tl::Tensor& v, const tl::Tensor& mask, const tl::Tensor& mean, bool layer) {
  return layer ? tl::where(mask, v - mean, 0.0) : v;
}

} // namespace

const Kernel& norm_forward_kernel() {
  static const Kernel k = tl::kernel(
      "norm_forward",
      "y, residual_out, mean, rstd, x, residual, weight, bias, y_stride, ro_stride, x_stride, "
      "r_stride, n, eps, LAYER, RESIDUAL, BLOCK",
      [](tl::Ptr y, tl::Ptr residual_out, tl::Ptr mean, tl::Ptr rstd, tl::Ptr x,
         tl::Ptr residual, tl::Ptr weight, tl::Ptr bias, tl::Int y_stride, tl::Int ro_stride,
         tl::Int x_stride, tl::Int r_stride, tl::Int n, tl::Float eps, tl::Const<int> LAYER,
         tl::Const<int> RESIDUAL, tl::Const<int> BLOCK) {
        auto row = tl::program_id(0);
        auto cols = tl::arange(0, BLOCK);
        auto mask = cols < n;
        auto v = tl::load(x + row_offset(row, x_stride) + cols, mask, 0.0).to(DType::f32);
        if (RESIDUAL) {
          v = v + tl::load(residual + row_offset(row, r_stride) + cols, mask, 0.0).to(DType::f32);
          tl::store(residual_out + row_offset(row, ro_stride) + cols, v, mask);
        }
        auto mu = LAYER ? tl::sum(v, 0) / n : tl::scalar(0.0, DType::f32);
        auto c = centred(v, mask, mu, LAYER);
        auto rs = tl::rsqrt(tl::sum(c * c, 0) / n + eps);
        auto out = c * rs * tl::load(weight + cols, mask, 0.0).to(DType::f32);
        if (LAYER) {
          out = out + tl::load(bias + cols, mask, 0.0).to(DType::f32);
          tl::store(mean + row, mu);
        }
        tl::store(rstd + row, rs);
        tl::store(y + row_offset(row, y_stride) + cols, out, mask);
      });
  return k;
}

const Kernel& norm_backward_kernel() {
  static const Kernel k = tl::kernel(
      "norm_backward", "dx, dy, x, weight, mean, rstd, dx_stride, dy_stride, x_stride, n, LAYER, BLOCK",
      [](tl::Ptr dx, tl::Ptr dy, tl::Ptr x, tl::Ptr weight, tl::Ptr mean, tl::Ptr rstd,
         tl::Int dx_stride, tl::Int dy_stride, tl::Int x_stride, tl::Int n, tl::Const<int> LAYER,
         tl::Const<int> BLOCK) {
        auto row = tl::program_id(0);
        auto cols = tl::arange(0, BLOCK);
        auto mask = cols < n;
        auto v = tl::load(x + row_offset(row, x_stride) + cols, mask, 0.0).to(DType::f32);
        auto g = tl::load(dy + row_offset(row, dy_stride) + cols, mask, 0.0).to(DType::f32);
        auto w = tl::load(weight + cols, mask, 0.0).to(DType::f32);
        auto mu = LAYER ? tl::load(mean + row) : tl::scalar(0.0, DType::f32);
        auto rs = tl::load(rstd + row);
        auto xhat = centred(v, mask, mu, LAYER) * rs;
        auto wg = w * g;
        auto inner = xhat * (tl::sum(wg * xhat, 0) / n);
        if (LAYER)
          inner = inner + tl::sum(wg, 0) / n;
        tl::store(dx + row_offset(row, dx_stride) + cols, rs * (wg - inner), mask);
      });
  return k;
}

const Kernel& norm_weight_grad_kernel() {
  static const Kernel k = tl::kernel(
      "norm_weight_grad", "dweight, dbias, dy, x, mean, rstd, dy_stride, x_stride, rows, n, LAYER, "
                          "ROWS, BLOCK",
      [](tl::Ptr dweight, tl::Ptr dbias, tl::Ptr dy, tl::Ptr x, tl::Ptr mean, tl::Ptr rstd,
         tl::Int dy_stride, tl::Int x_stride, tl::Int rows, tl::Int n, tl::Const<int> LAYER,
         tl::Const<int> ROWS, tl::Const<int> BLOCK) {
        auto cols = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto col = tl::expand_dims(cols, 0);   // 1 x BLOCK
        auto tile_rows = tl::arange(0, ROWS);  // ROWS
        tl::Tensor acc_w = tl::zeros({ROWS, BLOCK}, DType::f32);
        tl::Tensor acc_b = tl::zeros({ROWS, BLOCK}, DType::f32);
        tl::for_range(0, rows, ROWS, [&](tl::Int r0) {
          auto r = r0 + tile_rows;
          auto rmask = r < rows;
          auto row = tl::expand_dims(r, 1); // ROWS x 1
          auto mask = tl::expand_dims(rmask, 1) & (col < n);
          auto rs = tl::expand_dims(tl::load(rstd + r, rmask, 0.0), 1);
          auto v = tl::load(x + row_offset(row, x_stride) + col, mask, 0.0).to(DType::f32);
          auto g = tl::load(dy + row_offset(row, dy_stride) + col, mask, 0.0).to(DType::f32);
          if (LAYER) {
            auto mu = tl::expand_dims(tl::load(mean + r, rmask, 0.0), 1);
            v = tl::where(mask, v - mu, 0.0);
            acc_b = acc_b + g;
          }
          acc_w = acc_w + g * v * rs;
        });
        tl::store(dweight + cols, tl::sum(acc_w, 0), cols < n);
        if (LAYER)
          tl::store(dbias + cols, tl::sum(acc_b, 0), cols < n);
      });
  return k;
}

} // namespace tessel::ops::detail
