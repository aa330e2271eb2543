// mean_pool and l2_normalize: their DSL kernels, argument checks and launches.
//
// mean_pool: one program per (batch, block of hidden columns) walks the sequence in tiles of SEQ
// positions, in order (so the sum is the same bits on every run), loading only unmasked rows.
// l2_normalize: one program per row; a row that fits one block is read once and written once, a
// longer row is read once to sum its squares and once more to write.
#include "tessel/ops/pooling.h"

#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"

#include <fmt/format.h>

namespace tessel::ops {

namespace tl = tessel::lang;

namespace {

using detail::kPoolBlock;
using detail::kPoolSeq;
constexpr int kL2MaxBlock = 4096;

tl::Tensor i64(const tl::Tensor& t) { return t.to(DType::i64); }

// max(norm, eps) that keeps a NaN norm NaN: tl::maximum(NaN, eps) gives eps (on the CPU and the
// simulated device alike), which turned a NaN row into x / eps, huge finite garbage.
tl::Tensor at_least(const tl::Tensor& norm, const tl::Tensor& eps) {
  return tl::where(norm < eps, eps, norm);
}

} // namespace

namespace detail {

const Kernel& mean_pool_kernel() {
  static const Kernel k = tl::kernel(
      "mean_pool",
      "y, x, mask, y_stride, x_batch_stride, x_seq_stride, mask_stride, seq, hidden, "
      "SEQ, BLOCK",
      [](tl::Ptr y, tl::Ptr x, tl::Ptr mask, tl::Int y_stride, tl::Int x_batch_stride,
         tl::Int x_seq_stride, tl::Int mask_stride, tl::Int seq, tl::Int hidden, tl::Const<int> SEQ,
         tl::Const<int> BLOCK) {
        auto b = i64(tl::program_id(0));
        auto cols = tl::program_id(1) * BLOCK + tl::arange(0, BLOCK);
        auto col = tl::expand_dims(cols, 0);
        auto positions = tl::arange(0, SEQ);
        tl::Tensor acc = tl::zeros({SEQ, BLOCK}, DType::f32);
        tl::Tensor count = tl::zeros({SEQ}, DType::f32);
        tl::for_range(0, seq, SEQ, [&](tl::Int s0) {
          auto s = s0 + positions;
          auto m = tl::load(mask + b * i64(mask_stride) + s, s < seq, 0.0) != 0;
          auto rows = tl::expand_dims(i64(s), 1);
          auto take = tl::expand_dims(m, 1) & (col < hidden);
          acc = acc +
                tl::load(x + b * i64(x_batch_stride) + rows * i64(x_seq_stride) + col, take, 0.0)
                    .to(DType::f32);
          count = count + m.to(DType::f32);
        });
        auto total = tl::maximum(tl::sum(count, 0), 1e-9);
        tl::store(y + b * i64(y_stride) + cols, tl::sum(acc, 0) / total, cols < hidden);
      });
  return k;
}

const Kernel& l2_normalize_kernel() {
  static const Kernel k =
      tl::kernel("l2_normalize", "y, x, y_stride, x_stride, n, eps, LOOPED, BLOCK",
                 [](tl::Ptr y, tl::Ptr x, tl::Int y_stride, tl::Int x_stride, tl::Int n,
                    tl::Float eps, tl::Const<int> LOOPED, tl::Const<int> BLOCK) {
                   auto row = i64(tl::program_id(0));
                   auto xr = x + row * i64(x_stride), yr = y + row * i64(y_stride);
                   auto cols = tl::arange(0, BLOCK);
                   if (!LOOPED) {
                     auto v = tl::load(xr + cols, cols < n, 0.0).to(DType::f32);
                     auto norm = at_least(tl::sqrt(tl::sum(v * v, 0)), eps);
                     tl::store(yr + cols, v / norm, cols < n);
                     return;
                   }
                   tl::Tensor sq = tl::scalar(0.0, DType::f32);
                   tl::for_range(0, n, BLOCK, [&](tl::Int k) {
                     auto v = tl::load(xr + k + cols, k + cols < n, 0.0).to(DType::f32);
                     sq = sq + tl::sum(v * v, 0);
                   });
                   auto norm = at_least(tl::sqrt(sq), eps);
                   tl::for_range(0, n, BLOCK, [&](tl::Int k) {
                     auto v = tl::load(xr + k + cols, k + cols < n, 0.0).to(DType::f32);
                     tl::store(yr + k + cols, v / norm, k + cols < n);
                   });
                 });
  return k;
}

} // namespace detail

namespace {

void check_rank(const detail::OpSite& s, const char* arg, const TensorView& v, int rank,
                const char* layout) {
  if (v.rank != rank)
    s.fail(fmt::format("{} has shape {}; expected rank {} ({})", arg, detail::shape_str(v), rank,
                       layout));
}

void check_mask_dtype(const detail::OpSite& s, const TensorView& mask) {
  if (mask.dtype == DType::f64)
    s.fail("mask has dtype f64; expected bool, an integer type, f32, f16 or bf16");
}

} // namespace

void mean_pool(const TensorView& x, const TensorView& mask, const TensorView& y,
               const MeanPoolOptions&, Stream* stream, std::source_location where) {
  detail::OpSite s{"mean_pool", where};
  detail::check_float(s, "x", x);
  detail::check_float(s, "y", y);
  check_rank(s, "x", x, 3, "batch, seq, hidden");
  check_rank(s, "mask", mask, 2, "batch, seq");
  check_rank(s, "y", y, 2, "batch, hidden");
  check_mask_dtype(s, mask);
  const int64_t batch = x.shape[0], seq = x.shape[1], hidden = x.shape[2];
  if (mask.shape[0] != batch || mask.shape[1] != seq)
    s.fail(fmt::format("mask has shape {} but x has shape {}; expected [{}, {}]",
                       detail::shape_str(mask), detail::shape_str(x), batch, seq));
  if (y.shape[0] != batch || y.shape[1] != hidden)
    s.fail(fmt::format("y has shape {} but x has shape {}; expected [{}, {}]", detail::shape_str(y),
                       detail::shape_str(x), batch, hidden));
  detail::check_device(s, "mask", mask, "x", x);
  detail::check_device(s, "y", y, "x", x);
  detail::Rows yr = detail::rows_of(s, "y", y), mr = detail::rows_of(s, "mask", mask);
  if (batch == 0 || hidden == 0)
    return;
  if (x.data == nullptr && seq > 0)
    s.fail(fmt::format("x has shape {} but a null data pointer", detail::shape_str(x)));
  if (hidden > 1 && x.strides[2] != 1)
    s.fail(fmt::format("x's last dimension has stride {}; the last dimension must be contiguous "
                       "(stride 1): copy x to a contiguous tensor first",
                       x.strides[2]));
  // With no positions, nothing of x or mask is read; y (non-null) stands in for them.
  const TensorView& xv = seq > 0 ? x : y;
  const TensorView& mv = seq > 0 ? mask : y;
  int block = detail::block_for(s, hidden, kPoolBlock, 0);
  detail::mean_pool_kernel().launch(
      detail::grid_at(s, batch, (hidden + block - 1) / block),
      detail::launch_options(/*8 warps for an 8 x 256 tile=*/block * kPoolSeq, stream), y, xv, mv,
      yr.stride, x.strides[0], x.strides[1], mr.stride, seq, hidden, kPoolSeq, block);
}

void l2_normalize(const TensorView& x, const TensorView& y, const L2NormalizeOptions& o,
                  Stream* stream, std::source_location where) {
  detail::OpSite s{"l2_normalize", where};
  detail::check_float(s, "x", x);
  detail::check_float(s, "y", y);
  detail::check_like(s, "y", y, "x", x);
  detail::Rows xr = detail::rows_of(s, "x", x), yr = detail::rows_of(s, "y", y);
  int block = detail::block_for(s, xr.cols, kL2MaxBlock, 0);
  if (xr.empty())
    return;
  detail::l2_normalize_kernel().launch(detail::grid_at(s, xr.rows),
                                       detail::launch_options(block, stream), y, x, yr.stride,
                                       xr.stride, xr.cols, o.eps, int(xr.cols > block), block);
}

} // namespace tessel::ops
