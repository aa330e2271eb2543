// The DSL kernels of RMS norm and layer norm (norms.cpp checks arguments and launches them).
//
// forward: one program per row; a row that fits one block (plus the residual, when fused) is read
// once into registers, its statistics reduced, and y (and residual_out, mean, rstd) written once.
// A longer row is read twice (statistics, then y) and written once.
// backward: one program per row writes dx from dy, x and the saved statistics (a longer row: one
// pass for the two row sums, one to write dx). The weight and bias
// gradients are sums over rows; rather than atomics (whose order varies from run to run) a second
// kernel gives each program a strip of columns and a part of the rows (`chunk` rows; all of them
// for a short column), walked in tiles of ROWS, in order; with several parts a third kernel adds
// the parts' sums in order. The parts depend on the shape only (norms.cpp), so the sum is the same
// bits on every run, at every thread count and on every backend.
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
tl::Tensor centred(const tl::Tensor& v, const tl::Tensor& mask, const tl::Tensor& mean,
                   bool layer) {
  return layer ? tl::where(mask, v - mean, 0.0) : v;
}

// A row's mean (zero for RMS norm) and rstd.
struct Stats {
  tl::Tensor mean, rstd;
};

} // namespace

const Kernel& norm_forward_kernel() {
  static const Kernel k = tl::kernel(
      "norm_forward",
      "y, residual_out, mean, rstd, x, residual, weight, bias, y_stride, ro_stride, x_stride, "
      "r_stride, n, eps, LAYER, RESIDUAL, LOOPED, BLOCK",
      [](tl::Ptr y, tl::Ptr residual_out, tl::Ptr mean, tl::Ptr rstd, tl::Ptr x, tl::Ptr residual,
         tl::Ptr weight, tl::Ptr bias, tl::Int y_stride, tl::Int ro_stride, tl::Int x_stride,
         tl::Int r_stride, tl::Int n, tl::Float eps, tl::Const<int> LAYER, tl::Const<int> RESIDUAL,
         tl::Const<int> LOOPED, tl::Const<int> BLOCK) {
        auto row = tl::program_id(0);
        auto xr = x + row_offset(row, x_stride), rr = residual + row_offset(row, r_stride);
        auto ror = residual_out + row_offset(row, ro_stride), yr = y + row_offset(row, y_stride);
        auto cols = tl::arange(0, BLOCK);
        // h = x (+ residual) at columns c in f32, zero outside the row; residual_out gets h once.
        auto input = [&](const tl::Tensor& c, bool write_residual) {
          auto v = tl::load(xr + c, c < n, 0.0).to(DType::f32);
          if (RESIDUAL) {
            v = v + tl::load(rr + c, c < n, 0.0).to(DType::f32);
            if (write_residual)
              tl::store(ror + c, v, c < n);
          }
          return v;
        };
        auto output = [&](const tl::Tensor& c, const tl::Tensor& v, const Stats& st) {
          auto out = centred(v, c < n, st.mean, LAYER) * st.rstd *
                     tl::load(weight + c, c < n, 0.0).to(DType::f32);
          if (LAYER)
            out = out + tl::load(bias + c, c < n, 0.0).to(DType::f32);
          tl::store(yr + c, out, c < n);
        };
        auto one_block = [&] {
          auto v = input(cols, /*write_residual=*/true);
          auto mu = LAYER ? tl::sum(v, 0) / n : tl::scalar(0.0, DType::f32);
          auto c = centred(v, cols < n, mu, LAYER);
          Stats st{mu, tl::rsqrt(tl::sum(c * c, 0) / n + eps)};
          output(cols, v, st);
          return st;
        };
        // Rows longer than BLOCK: one pass merges each block's (count, mean, M2) into the running
        // ones (Chan, Golub and LeVeque's pairwise update, which keeps the variance accurate when
        // the mean is large, unlike sum and sum of squares); a second pass writes y. residual_out
        // is written in the second pass, after the block's x and residual are read, so that it
        // may be the residual itself (an in-place residual stream).
        auto looped = [&] {
          tl::Tensor count = tl::scalar(0.0, DType::f32), mu = tl::scalar(0.0, DType::f32);
          tl::Tensor m2 = tl::scalar(0.0, DType::f32);
          tl::for_range(0, n, BLOCK, [&](tl::Int k) {
            auto c = k + cols;
            auto v = input(c, /*write_residual=*/false);
            if (!LAYER) {
              m2 = m2 + tl::sum(v * v, 0);
              return;
            }
            auto block_count = tl::sum((c < n).to(DType::f32), 0);
            auto block_mean = tl::sum(v, 0) / block_count;
            auto d = tl::where(c < n, v - block_mean, 0.0);
            auto total = count + block_count;
            auto delta = block_mean - mu;
            mu = mu + delta * (block_count / total);
            m2 = m2 + tl::sum(d * d, 0) + delta * delta * (count * block_count / total);
            count = total;
          });
          Stats st{mu, tl::rsqrt(m2 / n + eps)};
          tl::for_range(0, n, BLOCK, [&](tl::Int k) {
            auto c = k + cols;
            output(c, input(c, /*write_residual=*/true), st);
          });
          return st;
        };
        Stats st = LOOPED ? looped() : one_block();
        if (LAYER)
          tl::store(mean + row, st.mean);
        tl::store(rstd + row, st.rstd);
      });
  return k;
}

const Kernel& norm_backward_kernel() {
  static const Kernel k = tl::kernel(
      "norm_backward",
      "dx, dy, x, weight, mean, rstd, dx_stride, dy_stride, x_stride, n, LAYER, LOOPED, BLOCK",
      [](tl::Ptr dx, tl::Ptr dy, tl::Ptr x, tl::Ptr weight, tl::Ptr mean, tl::Ptr rstd,
         tl::Int dx_stride, tl::Int dy_stride, tl::Int x_stride, tl::Int n, tl::Const<int> LAYER,
         tl::Const<int> LOOPED, tl::Const<int> BLOCK) {
        auto row = tl::program_id(0);
        auto xr = x + row_offset(row, x_stride), dyr = dy + row_offset(row, dy_stride);
        auto dxr = dx + row_offset(row, dx_stride);
        auto cols = tl::arange(0, BLOCK);
        auto mu = LAYER ? tl::load(mean + row) : tl::scalar(0.0, DType::f32);
        auto rs = tl::load(rstd + row);
        struct Terms {
          tl::Tensor xhat, wg; // normalised input, weight * dy
        };
        auto terms = [&](const tl::Tensor& c) {
          auto v = tl::load(xr + c, c < n, 0.0).to(DType::f32);
          auto g = tl::load(dyr + c, c < n, 0.0).to(DType::f32);
          auto w = tl::load(weight + c, c < n, 0.0).to(DType::f32);
          return Terms{centred(v, c < n, mu, LAYER) * rs, w * g};
        };
        // dx = rstd * (wg - xhat * mean(wg * xhat) - mean(wg)), the last term for layer norm only.
        auto write = [&](const tl::Tensor& c, const Terms& t, const tl::Tensor& sum_wgx,
                         const tl::Tensor& sum_wg) {
          auto inner = t.xhat * (sum_wgx / n);
          if (LAYER)
            inner = inner + sum_wg / n;
          tl::store(dxr + c, rs * (t.wg - inner), c < n);
        };
        if (!LOOPED) {
          Terms t = terms(cols);
          write(cols, t, tl::sum(t.wg * t.xhat, 0), tl::sum(t.wg, 0));
          return;
        }
        tl::Tensor sum_wgx = tl::scalar(0.0, DType::f32), sum_wg = tl::scalar(0.0, DType::f32);
        tl::for_range(0, n, BLOCK, [&](tl::Int k) {
          Terms t = terms(k + cols);
          sum_wgx = sum_wgx + tl::sum(t.wg * t.xhat, 0);
          if (LAYER)
            sum_wg = sum_wg + tl::sum(t.wg, 0);
        });
        tl::for_range(0, n, BLOCK,
                      [&](tl::Int k) { write(k + cols, terms(k + cols), sum_wgx, sum_wg); });
      });
  return k;
}

const Kernel& norm_weight_grad_kernel() {
  static const Kernel k = tl::kernel(
      "norm_weight_grad",
      "dweight, dbias, dy, x, mean, rstd, dy_stride, x_stride, rows, n, chunk, part_stride, LAYER, "
      "ROWS, BLOCK",
      [](tl::Ptr dweight, tl::Ptr dbias, tl::Ptr dy, tl::Ptr x, tl::Ptr mean, tl::Ptr rstd,
         tl::Int dy_stride, tl::Int x_stride, tl::Int rows, tl::Int n, tl::Int chunk,
         tl::Int part_stride, tl::Const<int> LAYER, tl::Const<int> ROWS, tl::Const<int> BLOCK) {
        auto cols = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto col = tl::expand_dims(cols, 0);  // 1 x BLOCK
        auto tile_rows = tl::arange(0, ROWS); // ROWS
        // This program's rows: part program_id(1) of `chunk` rows (the last part may be shorter).
        auto part = tl::program_id(1);
        auto first = part * chunk;
        auto last = tl::minimum(first + chunk, rows);
        tl::Tensor acc_w = tl::zeros({ROWS, BLOCK}, DType::f32);
        tl::Tensor acc_b = tl::zeros({ROWS, BLOCK}, DType::f32);
        tl::for_range(first, last, ROWS, [&](tl::Int r0) {
          auto r = r0 + tile_rows;
          auto rmask = r < last;
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
        // One part: the sums themselves. Several: part p's sums at p * part_stride (f32 scratch).
        auto out = row_offset(part, part_stride) + cols;
        tl::store(dweight + out, tl::sum(acc_w, 0), cols < n);
        if (LAYER)
          tl::store(dbias + out, tl::sum(acc_b, 0), cols < n);
      });
  return k;
}

const Kernel& norm_weight_grad_parts_kernel() {
  static const Kernel k = tl::kernel(
      "norm_weight_grad_parts", "dweight, dbias, parts, num_parts, n, LAYER, BLOCK",
      [](tl::Ptr dweight, tl::Ptr dbias, tl::Ptr parts, tl::Int num_parts, tl::Int n,
         tl::Const<int> LAYER, tl::Const<int> BLOCK) {
        auto cols = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto in = cols < n;
        // parts is [2 * num_parts, n]: the weight sums of each part, then the bias sums. Added in
        // part order, whatever the thread count.
        tl::Tensor acc_w = tl::zeros({BLOCK}, DType::f32), acc_b = tl::zeros({BLOCK}, DType::f32);
        tl::for_range(0, num_parts, 1, [&](tl::Int p) {
          acc_w = acc_w + tl::load(parts + row_offset(p, n) + cols, in, 0.0);
          if (LAYER)
            acc_b = acc_b + tl::load(parts + row_offset(p + num_parts, n) + cols, in, 0.0);
        });
        tl::store(dweight + cols, acc_w, in);
        if (LAYER)
          tl::store(dbias + cols, acc_b, in);
      });
  return k;
}

} // namespace tessel::ops::detail
