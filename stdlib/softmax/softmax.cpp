// softmax / log_softmax along the last axis, forward and backward: one program per row, or for the
// forward on the CPU several short rows per program (a [ROWS, BLOCK] tile,
// stdlib/common/row_tiles.h). The backward stays one row per program: its one reduction is no
// long serial chain, and a tile of rows measured no faster (bf16 ~10 % slower at 32768 x 128).
//
// A row that fits one block (BLOCK >= n) is read once into registers, reduced, and written once.
// A longer row takes the online algorithm of Milakov and Gimelshein ("Online normalizer
// calculation for softmax", 2018): one pass over column blocks keeps a running maximum m and a
// running sum s of exp(x - m), rescaling s by exp(m_old - m_new) whenever the maximum grows; a
// second pass writes exp(x - m) / s. So a long row is read twice and written once, never three
// times as with the max, sum, normalise passes. The division is a multiplication by 1 / s, one
// division per row: a vector division per 8 columns was a tenth of the CPU time at 4096 columns
// (PyTorch's CPU softmax does the same); it adds at most one rounding (under 1.5 ulp in all). The
// backward passes are the same shape: one reduction (sum(y * dy), or sum(dy) for log-softmax), then
// the elementwise gradient.
#include "tessel/ops/softmax.h"

#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "stdlib/common/row_tiles.h"
#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"

#include <cmath>

namespace tessel::ops {
namespace {

namespace tl = tessel::lang;

constexpr int kMaxBlock = 4096; // 16 KB of f32 per row block: 16 values per thread at 8 warps

tl::Tensor row_start(const tl::Ptr& base, const tl::Int& stride) {
  return base + tl::program_id(0).to(DType::i64) * stride.to(DType::i64);
}

// The forward kernel. LOG: log-softmax. LOOPED: the row is longer than BLOCK.
const Kernel& forward_kernel() {
  static const Kernel k =
      tl::kernel("softmax_forward", "y, x, y_stride, x_stride, n, LOG, LOOPED, BLOCK",
                 [](tl::Ptr y, tl::Ptr x, tl::Int y_stride, tl::Int x_stride, tl::Int n,
                    tl::Const<int> LOG, tl::Const<int> LOOPED, tl::Const<int> BLOCK) {
                   auto xr = row_start(x, x_stride), yr = row_start(y, y_stride);
                   auto cols = tl::arange(0, BLOCK);
                   if (!LOOPED) {
                     auto mask = cols < n;
                     auto v = tl::load(xr + cols, mask, -INFINITY).to(DType::f32);
                     auto shifted = v - tl::max(v, 0);
                     auto e = tl::exp(shifted);
                     auto s = tl::sum(e, 0);
                     tl::store(yr + cols, LOG ? shifted - tl::log(s) : e * (1.0 / s), mask);
                     return;
                   }
                   tl::Tensor m = tl::scalar(-INFINITY, DType::f32),
                              s = tl::scalar(0.0, DType::f32);
                   tl::for_range(0, n, BLOCK, [&](tl::Int k) {
                     auto c = k + cols;
                     auto v = tl::load(xr + c, c < n, -INFINITY).to(DType::f32);
                     auto m_new = tl::maximum(m, tl::max(v, 0));
                     // While every element so far is -inf (a masked prefix), shift by 0: -inf -
                     // -inf would make the sum NaN although later blocks are finite.
                     auto shift = tl::where(m_new == -INFINITY, 0.0, m_new);
                     s = s * tl::exp(m - shift) + tl::sum(tl::exp(v - shift), 0);
                     m = m_new;
                   });
                   auto log_s = tl::log(s), inv_s = 1.0 / s;
                   tl::for_range(0, n, BLOCK, [&](tl::Int k) {
                     auto c = k + cols;
                     auto v = tl::load(xr + c, c < n, 0.0).to(DType::f32);
                     tl::store(yr + c, LOG ? v - m - log_s : tl::exp(v - m) * inv_s, c < n);
                   });
                 });
  return k;
}

// The forward kernel for rows that fit one block, ROWS rows per program (CPU, short rows: see
// stdlib/common/row_tiles.h). Masked-off rows load -inf, whose NaN results are never stored.
const Kernel& forward_rows_kernel() {
  static const Kernel k = tl::kernel(
      "softmax_rows_forward", "y, x, y_stride, x_stride, n, rows, LOG, ROWS, BLOCK",
      [](tl::Ptr y, tl::Ptr x, tl::Int y_stride, tl::Int x_stride, tl::Int n, tl::Int rows,
         tl::Const<int> LOG, tl::Const<int> ROWS, tl::Const<int> BLOCK) {
        detail::RowTile t = detail::row_tile(rows, n, ROWS, BLOCK);
        auto v = tl::load(x + t.offsets(x_stride), t.in, -INFINITY).to(DType::f32);
        auto shifted = v - tl::expand_dims(tl::max(v, 1), 1);
        auto e = tl::exp(shifted);
        auto s = tl::expand_dims(tl::sum(e, 1), 1);
        tl::store(y + t.offsets(y_stride), LOG ? shifted - tl::log(s) : e * (1.0 / s), t.in);
      });
  return k;
}

// The backward kernel: dx = y * (dy - sum(y * dy)), or for log-softmax dx = dy - exp(y) * sum(dy).
const Kernel& backward_kernel() {
  static const Kernel k = tl::kernel(
      "softmax_backward", "dx, y, dy, dx_stride, y_stride, dy_stride, n, LOG, LOOPED, BLOCK",
      [](tl::Ptr dx, tl::Ptr y, tl::Ptr dy, tl::Int dx_stride, tl::Int y_stride, tl::Int dy_stride,
         tl::Int n, tl::Const<int> LOG, tl::Const<int> LOOPED, tl::Const<int> BLOCK) {
        auto dxr = row_start(dx, dx_stride), yr = row_start(y, y_stride);
        auto dyr = row_start(dy, dy_stride);
        auto cols = tl::arange(0, BLOCK);
        auto gradient = [&](const tl::Tensor& yv, const tl::Tensor& g, const tl::Tensor& total) {
          return LOG ? g - tl::exp(yv) * total : yv * (g - total);
        };
        if (!LOOPED) {
          auto mask = cols < n;
          auto yv = tl::load(yr + cols, mask, 0.0).to(DType::f32);
          auto g = tl::load(dyr + cols, mask, 0.0).to(DType::f32);
          auto total = tl::sum(LOG ? g : yv * g, 0);
          tl::store(dxr + cols, gradient(yv, g, total), mask);
          return;
        }
        tl::Tensor total = tl::scalar(0.0, DType::f32);
        tl::for_range(0, n, BLOCK, [&](tl::Int k) {
          auto c = k + cols;
          auto g = tl::load(dyr + c, c < n, 0.0).to(DType::f32);
          if (LOG) {
            total = total + tl::sum(g, 0);
            return;
          }
          auto yv = tl::load(yr + c, c < n, 0.0).to(DType::f32);
          total = total + tl::sum(yv * g, 0);
        });
        tl::for_range(0, n, BLOCK, [&](tl::Int k) {
          auto c = k + cols;
          auto yv = tl::load(yr + c, c < n, 0.0).to(DType::f32);
          auto g = tl::load(dyr + c, c < n, 0.0).to(DType::f32);
          tl::store(dxr + c, gradient(yv, g, total), c < n);
        });
      });
  return k;
}

void forward(const detail::OpSite& s, const TensorView& x, const TensorView& y, bool log,
             const SoftmaxOptions& o, Stream* stream) {
  detail::check_float(s, "x", x);
  detail::check_float(s, "y", y);
  detail::check_like(s, "y", y, "x", x);
  detail::Rows xr = detail::rows_of(s, "x", x), yr = detail::rows_of(s, "y", y);
  int block = detail::block_for(s, xr.cols, kMaxBlock, o.block_cols);
  if (xr.empty())
    return;
  if (int rows = detail::rows_per_program(x, xr.rows, xr.cols, block); rows > 1) {
    forward_rows_kernel().launch(detail::grid_at(s, (xr.rows + rows - 1) / rows),
                                 detail::launch_options(block, stream), y, x, yr.stride, xr.stride,
                                 xr.cols, xr.rows, int(log), rows, block);
    return;
  }
  forward_kernel().launch(detail::grid_at(s, xr.rows), detail::launch_options(block, stream), y, x,
                          yr.stride, xr.stride, xr.cols, int(log), int(xr.cols > block), block);
}

void backward(const detail::OpSite& s, const TensorView& y, const TensorView& dy,
              const TensorView& dx, bool log, const SoftmaxOptions& o, Stream* stream) {
  detail::check_float(s, "y", y);
  detail::check_float(s, "dy", dy);
  detail::check_float(s, "dx", dx);
  detail::check_like(s, "dy", dy, "y", y);
  detail::check_like(s, "dx", dx, "y", y);
  detail::Rows yr = detail::rows_of(s, "y", y), dyr = detail::rows_of(s, "dy", dy);
  detail::Rows dxr = detail::rows_of(s, "dx", dx);
  int block = detail::block_for(s, yr.cols, kMaxBlock, o.block_cols);
  if (yr.empty())
    return;
  backward_kernel().launch(detail::grid_at(s, yr.rows), detail::launch_options(block, stream), dx,
                           y, dy, dxr.stride, yr.stride, dyr.stride, yr.cols, int(log),
                           int(yr.cols > block), block);
}

} // namespace

void softmax(const TensorView& x, const TensorView& y, const SoftmaxOptions& options,
             Stream* stream, std::source_location where) {
  forward({"softmax", where}, x, y, /*log=*/false, options, stream);
}

void log_softmax(const TensorView& x, const TensorView& y, const SoftmaxOptions& options,
                 Stream* stream, std::source_location where) {
  forward({"log_softmax", where}, x, y, /*log=*/true, options, stream);
}

void softmax_backward(const TensorView& y, const TensorView& dy, const TensorView& dx,
                      const SoftmaxOptions& options, Stream* stream, std::source_location where) {
  backward({"softmax_backward", where}, y, dy, dx, /*log=*/false, options, stream);
}

void log_softmax_backward(const TensorView& y, const TensorView& dy, const TensorView& dx,
                          const SoftmaxOptions& options, Stream* stream,
                          std::source_location where) {
  backward({"log_softmax_backward", where}, y, dy, dx, /*log=*/true, options, stream);
}

// The kernels, for tests that compile them for a GPU target.
namespace detail {
const Kernel& softmax_forward_kernel() { return forward_kernel(); }
const Kernel& softmax_backward_kernel() { return backward_kernel(); }
const Kernel& softmax_rows_forward_kernel() { return forward_rows_kernel(); }
} // namespace detail

} // namespace tessel::ops
