// argmax over the last axis: the DSL kernel, the checks and the launch. One program per row walks
// it in column blocks, keeping the best value and its index; a later block replaces them only when
// strictly greater, so ties give the first index. NaN is tracked on its own (the first NaN's
// index wins), because max and comparisons against NaN would silently skip it.
#include "tessel/ops/reduce.h"

#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"

#include <fmt/format.h>

#include <limits>

namespace tessel::ops {

namespace tl = tessel::lang;

namespace detail {

const Kernel& argmax_kernel() {
  static const Kernel k =
      tl::kernel("argmax", "indices, x, x_stride, n, BLOCK",
                 [](tl::Ptr indices, tl::Ptr x, tl::Int x_stride, tl::Int n, tl::Const<int> BLOCK) {
                   constexpr double kInf = std::numeric_limits<double>::infinity();
                   auto row = tl::program_id(0).to(DType::i64);
                   auto xr = x + row * x_stride.to(DType::i64);
                   auto cols = tl::arange(0, BLOCK);
                   tl::Tensor best = tl::scalar(-kInf, DType::f32);
                   tl::Tensor best_index = tl::scalar(0, DType::i32);
                   tl::Tensor first_nan = n + 0; // n: no NaN seen
                   tl::for_range(0, n, BLOCK, [&](tl::Int k) {
                     auto c = k + cols;
                     auto v = tl::load(xr + c, c < n, -kInf).to(DType::f32);
                     auto block_max = tl::max(v, 0);
                     auto take = block_max > best;
                     // The first column holding the block's maximum, as a min reduction (the CPU
                     // backend vectorizes min; its tl::argmax lowering was ~10x a memcpy of the
                     // row).
                     auto first = tl::min(tl::where(v == block_max, c, n + 0), 0);
                     best_index = tl::where(take, first, best_index);
                     best = tl::where(take, block_max, best);
                     first_nan = tl::minimum(first_nan, tl::min(tl::where(v != v, c, n + 0), 0));
                   });
                   tl::store(indices + row, tl::where(first_nan < n, first_nan, best_index));
                 });
  return k;
}

} // namespace detail

void argmax(const TensorView& x, const TensorView& indices, const ArgmaxOptions& o, Stream* stream,
            std::source_location where) {
  detail::OpSite s{"argmax", where};
  detail::check_float(s, "x", x);
  detail::Rows r = detail::rows_of(s, "x", x);
  if (indices.dtype != DType::i32 && indices.dtype != DType::i64)
    s.fail(fmt::format("indices has dtype {}; expected i32 or i64", dtype_name(indices.dtype)));
  int64_t n = indices.rank == 0 ? 1 : indices.numel();
  if (n != r.rows)
    s.fail(fmt::format("indices has shape {} ({} elements) but x has {} rows; expected one index "
                       "per row",
                       detail::shape_str(indices), n, r.rows));
  int64_t expected = 1;
  for (int i = indices.rank - 1; i >= 0; --i) {
    if (indices.shape[i] != 1 && indices.strides[i] != expected)
      s.fail(fmt::format("indices has shape {} and is not contiguous; expected a contiguous "
                         "tensor",
                         detail::shape_str(indices)));
    expected *= indices.shape[i];
  }
  detail::check_device(s, "indices", indices, "x", x);
  int block = detail::block_for(s, r.cols, detail::kArgmaxMaxBlock, o.block_cols);
  if (r.rows == 0)
    return;
  if (r.cols == 0)
    s.fail("x's last dimension is 0; expected at least one element (the argmax of nothing is "
           "undefined)");
  if (indices.data == nullptr)
    s.fail("indices has a null data pointer");
  detail::argmax_kernel().launch(detail::grid_at(s, r.rows), detail::launch_options(block, stream),
                                 indices, x, r.stride, r.cols, block);
}

} // namespace tessel::ops
