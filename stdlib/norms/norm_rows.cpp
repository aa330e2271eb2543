// layer_norm / rms_norm (and their fused residual add) forward on a [ROWS, BLOCK] tile of short
// rows: the one-block case of norm_kernels.cpp's forward, several rows per program (the CPU's
// short rows, stdlib/common/row_tiles.h). Each row is read once, its statistics reduced along
// the tile's columns, and y, residual_out, mean and rstd written once; the rows past the end of
// a ragged last tile are masked.
#include "stdlib/norms/norm_rows.h"

#include "stdlib/common/row_tiles.h"
#include "tessel/lang/ops.h"

namespace tessel::ops::detail {

namespace tl = tessel::lang;

const Kernel& norm_rows_forward_kernel() {
  static const Kernel k = tl::kernel(
      "norm_rows_forward",
      "y, residual_out, mean, rstd, x, residual, weight, bias, y_stride, ro_stride, x_stride, "
      "r_stride, n, rows, eps, LAYER, RESIDUAL, ROWS, BLOCK",
      [](tl::Ptr y, tl::Ptr residual_out, tl::Ptr mean, tl::Ptr rstd, tl::Ptr x, tl::Ptr residual,
         tl::Ptr weight, tl::Ptr bias, tl::Int y_stride, tl::Int ro_stride, tl::Int x_stride,
         tl::Int r_stride, tl::Int n, tl::Int rows, tl::Float eps, tl::Const<int> LAYER,
         tl::Const<int> RESIDUAL, tl::Const<int> ROWS, tl::Const<int> BLOCK) {
        RowTile t = row_tile(rows, n, ROWS, BLOCK);
        // h = x (+ residual) in f32, zero outside the rows; residual_out gets h once, after the
        // tile's x and residual are read (residual_out may be the residual itself).
        auto v = tl::load(x + t.offsets(x_stride), t.in, 0.0).to(DType::f32);
        if (RESIDUAL) {
          v = v + tl::load(residual + t.offsets(r_stride), t.in, 0.0).to(DType::f32);
          tl::store(residual_out + t.offsets(ro_stride), v, t.in);
        }
        // Divided by n as the per-row kernel does (not times 1 / n): the same bits.
        auto mu = LAYER ? tl::sum(v, 1) / n : tl::zeros({ROWS}, DType::f32);
        auto c = LAYER ? tl::where(t.in, v - tl::expand_dims(mu, 1), 0.0) : v;
        auto rs = tl::rsqrt(tl::sum(c * c, 1) / n + eps);
        auto in_row = t.col < n;
        auto out =
            c * tl::expand_dims(rs, 1) * tl::load(weight + t.col, in_row, 0.0).to(DType::f32);
        if (LAYER)
          out = out + tl::load(bias + t.col, in_row, 0.0).to(DType::f32);
        tl::store(y + t.offsets(y_stride), out, t.in);
        if (LAYER)
          tl::store(mean + t.index, mu, t.live);
        tl::store(rstd + t.index, rs, t.live);
      });
  return k;
}

} // namespace tessel::ops::detail
