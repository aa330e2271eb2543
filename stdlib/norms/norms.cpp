// rms_norm / layer_norm (with or without the fused residual add) and their backward passes:
// argument checks, the launch configuration, and the launches of norm_kernels.cpp.
#include "tessel/ops/norms.h"

#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "stdlib/norms/weight_grad.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace tessel::ops {
namespace {

using detail::OpSite;
using detail::Rows;

constexpr int kMaxBlock = 16384; // one row block in registers: 32 f32 per thread at 16 warps
using detail::kGradBlock;
using detail::kGradRows;

// The tensors of one forward call; absent ones (no residual, RMS norm's bias and mean) are null.
struct Forward {
  const TensorView* x;
  const TensorView* residual;
  const TensorView* weight;
  const TensorView* bias;
  const TensorView* y;
  const TensorView* residual_out;
  const TensorView* mean;
  const TensorView* rstd;
  float eps;
  int block_cols;
};

// One block per row up to kMaxBlock columns; longer rows loop over blocks of kMaxBlock.
int block_for_row(const OpSite& s, const Rows& r, int requested) {
  return detail::block_for(s, r.cols, kMaxBlock, requested);
}

void check_row_tensor(const OpSite& s, const char* arg, const TensorView& v, const TensorView& x) {
  detail::check_float(s, arg, v);
  detail::check_like(s, arg, v, "x", x);
}

void run_forward(const OpSite& s, const Forward& f, Stream* stream) {
  const TensorView& x = *f.x;
  detail::check_float(s, "x", x);
  Rows xr = detail::rows_of(s, "x", x);
  check_row_tensor(s, "y", *f.y, x);
  Rows yr = detail::rows_of(s, "y", *f.y), rr = xr, ror = xr;
  if (f.residual) {
    check_row_tensor(s, "residual", *f.residual, x);
    check_row_tensor(s, "residual_out", *f.residual_out, x);
    rr = detail::rows_of(s, "residual", *f.residual);
    ror = detail::rows_of(s, "residual_out", *f.residual_out);
  }
  detail::check_vector(s, "weight", *f.weight, xr.cols, "x's last dimension");
  detail::check_device(s, "weight", *f.weight, "x", x);
  if (f.bias) {
    detail::check_vector(s, "bias", *f.bias, xr.cols, "x's last dimension");
    detail::check_device(s, "bias", *f.bias, "x", x);
    detail::check_row_stats(s, "mean", *f.mean, xr.rows);
    detail::check_device(s, "mean", *f.mean, "x", x);
  }
  detail::check_row_stats(s, "rstd", *f.rstd, xr.rows);
  detail::check_device(s, "rstd", *f.rstd, "x", x);
  // A negative eps makes 1 / sqrt(var + eps) NaN for rows of small variance: garbage, not an error.
  if (!(f.eps >= 0) || !std::isfinite(f.eps))
    s.fail(fmt::format("eps is {}; it must be a finite number >= 0 (the default is 1e-5 for "
                       "layer_norm, 1e-6 for rms_norm)",
                       f.eps));
  int block = block_for_row(s, xr, f.block_cols);
  if (xr.empty())
    return;
  // Absent tensors are never read or written (LAYER / RESIDUAL are 0); any valid view stands in.
  const TensorView& residual = f.residual ? *f.residual : x;
  const TensorView& residual_out = f.residual_out ? *f.residual_out : *f.y;
  detail::norm_forward_kernel().launch(
      detail::grid_at(s, xr.rows), detail::launch_options(block, stream), *f.y, residual_out,
      f.mean ? *f.mean : *f.rstd, *f.rstd, x, residual, *f.weight, f.bias ? *f.bias : *f.weight,
      yr.stride, ror.stride, xr.stride, rr.stride, xr.cols, f.eps, int(f.bias != nullptr),
      int(f.residual != nullptr), int(xr.cols > block), block);
}

// The tensors of one backward call; mean and dbias are null for RMS norm.
struct Backward {
  const TensorView* dy;
  const TensorView* x;
  const TensorView* weight;
  const TensorView* mean;
  const TensorView* rstd;
  const TensorView* dx;
  const TensorView* dweight;
  const TensorView* dbias;
  int block_cols;
};

// Where the parts' sums of the weight gradient go: the memory of dx, which is written only after
// they are added up (no hidden allocation). That takes a contiguous dx, 16-byte aligned (f32
// stores), with room for 2 * parts * cols f32 values; otherwise (a padded dx, say) one part.
struct PartsScratch {
  detail::GradParts split{1, 0};
  TensorView weight_parts, bias_parts;
};

PartsScratch parts_scratch(const TensorView& dx, const Rows& dxr) {
  PartsScratch p;
  p.split = detail::norm_weight_grad_parts(dxr.rows);
  const int64_t values = 2 * p.split.parts * dxr.cols;
  const bool fits = dxr.stride == dxr.cols && reinterpret_cast<uintptr_t>(dx.data) % 16 == 0 &&
                    values * 4 <= dxr.rows * dxr.cols * int64_t(dtype_bytes(dx.dtype));
  if (p.split.parts == 1 || !fits) {
    p.split = {1, dxr.rows};
    return p;
  }
  TensorView v = dx;
  v.dtype = DType::f32;
  v.rank = 2;
  v.shape[0] = p.split.parts;
  v.shape[1] = dxr.cols;
  v.strides[0] = dxr.cols;
  v.strides[1] = 1;
  p.weight_parts = v;
  v.data = static_cast<float*>(dx.data) + p.split.parts * dxr.cols;
  p.bias_parts = v;
  return p;
}

// dweight (and dbias) = sums over rows, in parts (weight_grad.h) when there are many rows.
void launch_weight_grad(const OpSite& s, const Backward& b, const Rows& xr, const Rows& dyr,
                        const Rows& dxr, Stream* stream) {
  const bool layer = b.mean != nullptr;
  // With no rows the gradients are sums of nothing: the kernel writes zeros. Its row pointers are
  // never dereferenced then, but must not be null: the weight stands in for them.
  const bool none = xr.rows == 0;
  const TensorView& dy = none ? *b.weight : *b.dy;
  const TensorView& xv = none ? *b.weight : *b.x;
  const TensorView& meanv = none ? *b.weight : layer ? *b.mean : *b.rstd;
  const TensorView& rstdv = none ? *b.weight : *b.rstd;
  int grad_block = std::min(kGradBlock, detail::block_for(s, xr.cols, kGradBlock, 0));
  const int64_t col_blocks = (xr.cols + grad_block - 1) / grad_block;
  PartsScratch p = parts_scratch(*b.dx, dxr);
  const bool split = p.split.parts > 1;
  const TensorView& dbias = layer ? *b.dbias : *b.dweight;
  detail::norm_weight_grad_kernel().launch(
      detail::grid_at(s, col_blocks, p.split.parts),
      detail::launch_options(/*4 warps for a 16 x 256 tile=*/grad_block * kGradRows / 4, stream),
      split ? p.weight_parts : *b.dweight, split ? p.bias_parts : dbias, dy, xv, meanv, rstdv,
      dyr.stride, xr.stride, xr.rows, xr.cols, p.split.chunk, split ? xr.cols : 0, int(layer),
      kGradRows, grad_block);
  if (split)
    detail::norm_weight_grad_parts_kernel().launch(
        detail::grid_at(s, col_blocks), detail::launch_options(grad_block, stream), *b.dweight,
        dbias, p.weight_parts, p.split.parts, xr.cols, int(layer), grad_block);
}

void run_backward(const OpSite& s, const Backward& b, Stream* stream) {
  const TensorView& x = *b.x;
  detail::check_float(s, "x", x);
  Rows xr = detail::rows_of(s, "x", x);
  check_row_tensor(s, "dy", *b.dy, x);
  check_row_tensor(s, "dx", *b.dx, x);
  Rows dyr = detail::rows_of(s, "dy", *b.dy), dxr = detail::rows_of(s, "dx", *b.dx);
  // The weight-gradient kernels read dy (and x) and use dx's memory for their partial sums.
  if (!xr.empty() && (b.dx->data == b.dy->data || b.dx->data == x.data))
    s.fail(fmt::format("dx is the same memory as {}, which the weight gradient reads after dx is "
                       "written; pass a separate dx",
                       b.dx->data == b.dy->data ? "dy" : "x"));
  detail::check_vector(s, "weight", *b.weight, xr.cols, "x's last dimension");
  detail::check_device(s, "weight", *b.weight, "x", x);
  detail::check_vector(s, "dweight", *b.dweight, xr.cols, "x's last dimension");
  detail::check_device(s, "dweight", *b.dweight, "x", x);
  if (b.mean) {
    detail::check_row_stats(s, "mean", *b.mean, xr.rows);
    detail::check_device(s, "mean", *b.mean, "x", x);
    detail::check_vector(s, "dbias", *b.dbias, xr.cols, "x's last dimension");
    detail::check_device(s, "dbias", *b.dbias, "x", x);
  }
  detail::check_row_stats(s, "rstd", *b.rstd, xr.rows);
  detail::check_device(s, "rstd", *b.rstd, "x", x);
  int block = block_for_row(s, xr, b.block_cols);
  if (xr.cols == 0)
    return;
  // The weight gradient first: its partial sums may live in dx's memory until dx is written.
  launch_weight_grad(s, b, xr, dyr, dxr, stream);
  bool layer = b.mean != nullptr;
  if (xr.rows > 0)
    detail::norm_backward_kernel().launch(
        detail::grid_at(s, xr.rows), detail::launch_options(block, stream), *b.dx, *b.dy, x,
        *b.weight, layer ? *b.mean : *b.rstd, *b.rstd, dxr.stride, dyr.stride, xr.stride, xr.cols,
        int(layer), int(xr.cols > block), block);
}

} // namespace

namespace detail {

GradParts norm_weight_grad_parts(int64_t rows) {
  if (rows < 2 * kGradPartRows)
    return {1, rows};
  const int64_t parts = std::min(kGradMaxParts, rows / kGradPartRows);
  const int64_t chunk = (rows + parts - 1) / parts;
  const int64_t tiled = (chunk + kGradRows - 1) / kGradRows * kGradRows; // whole ROWS tiles
  return {(rows + tiled - 1) / tiled, tiled};
}

} // namespace detail

void rms_norm(const TensorView& x, const TensorView& weight, const TensorView& y,
              const TensorView& rstd, const RmsNormOptions& o, Stream* stream,
              std::source_location where) {
  run_forward({"rms_norm", where},
              {&x, nullptr, &weight, nullptr, &y, nullptr, nullptr, &rstd, o.eps, o.block_cols},
              stream);
}

void add_rms_norm(const TensorView& x, const TensorView& residual, const TensorView& weight,
                  const TensorView& y, const TensorView& residual_out, const TensorView& rstd,
                  const RmsNormOptions& o, Stream* stream, std::source_location where) {
  run_forward(
      {"add_rms_norm", where},
      {&x, &residual, &weight, nullptr, &y, &residual_out, nullptr, &rstd, o.eps, o.block_cols},
      stream);
}

void rms_norm_backward(const TensorView& dy, const TensorView& x, const TensorView& weight,
                       const TensorView& rstd, const TensorView& dx, const TensorView& dweight,
                       const RmsNormOptions& o, Stream* stream, std::source_location where) {
  run_backward({"rms_norm_backward", where},
               {&dy, &x, &weight, nullptr, &rstd, &dx, &dweight, nullptr, o.block_cols}, stream);
}

void layer_norm(const TensorView& x, const TensorView& weight, const TensorView& bias,
                const TensorView& y, const TensorView& mean, const TensorView& rstd,
                const LayerNormOptions& o, Stream* stream, std::source_location where) {
  run_forward({"layer_norm", where},
              {&x, nullptr, &weight, &bias, &y, nullptr, &mean, &rstd, o.eps, o.block_cols},
              stream);
}

void add_layer_norm(const TensorView& x, const TensorView& residual, const TensorView& weight,
                    const TensorView& bias, const TensorView& y, const TensorView& residual_out,
                    const TensorView& mean, const TensorView& rstd, const LayerNormOptions& o,
                    Stream* stream, std::source_location where) {
  run_forward({"add_layer_norm", where},
              {&x, &residual, &weight, &bias, &y, &residual_out, &mean, &rstd, o.eps, o.block_cols},
              stream);
}

void layer_norm_backward(const TensorView& dy, const TensorView& x, const TensorView& weight,
                         const TensorView& mean, const TensorView& rstd, const TensorView& dx,
                         const TensorView& dweight, const TensorView& dbias,
                         const LayerNormOptions& o, Stream* stream, std::source_location where) {
  run_backward({"layer_norm_backward", where},
               {&dy, &x, &weight, &mean, &rstd, &dx, &dweight, &dbias, o.block_cols}, stream);
}

} // namespace tessel::ops
