// top-k over the last axis: the DSL kernel, the checks and the launch (docs/stdlib.md, "topk").
//
// One program per row walks it in column blocks and keeps a candidate list of the best k seen so
// far (a KB-slot tile, KB the next power of two of k). Each block is merged into the list by k
// rounds of selection over the union of block and list: the best class (see below), within it
// the largest value, within those the lowest column; that element goes to slot r and is marked
// taken. The list comes out sorted, ties in column order, so the result is deterministic and the
// same on every backend and block size. The cost is about k passes over each block in registers
// (k * C work per row), which is why k is bounded (kTopkMaxK); a tl::sort / tl::topk in the
// language (a bitonic network) can replace the rounds later without changing the results.
//
// NaN cannot be ordered by comparisons (max skips it, == never holds), so each element carries a
// class: taken or masked (0) < numbers (2), and NaN above numbers for `largest` (3, as
// torch.topk: NaN is the largest) or below them otherwise (1: picked after every number). The
// smallest-k case selects the largest of -x.
#include "tessel/ops/topk.h"

#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace tessel::ops {

namespace tl = tessel::lang;

namespace {

constexpr int kTaken = 0;  // masked columns, taken elements, empty slots
constexpr int kNumber = 2; // the class of every non-NaN value
constexpr double kNoIndex = std::numeric_limits<int32_t>::max();
constexpr double kInf = std::numeric_limits<double>::infinity();

// The candidate list: values (as selected: x, or -x for the smallest), classes and columns.
struct Candidates {
  tl::Tensor value, cls, index;
};

// Merges one block (its values `bv`, classes `bcls`, columns `c`) into `list`: k rounds, each
// taking the best element of the union into the next slot.
Candidates merge_block(Candidates list, tl::Tensor bv, tl::Tensor bcls, const tl::Tensor& c,
                       const tl::Tensor& slots, const tl::Int& k) {
  Candidates out = list;
  auto none = tl::scalar(kNoIndex, DType::i32);
  auto taken = tl::scalar(kTaken, DType::i32);
  tl::for_range(0, k, 1, [&](tl::Int r) {
    auto top = tl::maximum(tl::max(bcls, 0), tl::max(list.cls, 0));
    auto m = tl::maximum(tl::max(tl::where(bcls == kNumber, bv, -kInf), 0),
                         tl::max(tl::where(list.cls == kNumber, list.value, -kInf), 0));
    auto by_class = top != kNumber; // a NaN class: its elements tie, the column decides
    auto in_block = (bcls == top) & (by_class | (bv == m));
    auto in_list = (list.cls == top) & (by_class | (list.value == m));
    auto idx = tl::minimum(tl::min(tl::where(in_block, c, none), 0),
                           tl::min(tl::where(in_list, list.index, none), 0));
    auto at = slots == r;
    out.value = tl::where(at, m, out.value);
    out.cls = tl::where(at, top, out.cls);
    out.index = tl::where(at, idx, out.index);
    bcls = tl::where(c == idx, taken, bcls);
    list.cls = tl::where(list.index == idx, taken, list.cls);
  });
  return out;
}

int next_power_of_two(int64_t n, int at_least) {
  int64_t b = at_least;
  while (b < n)
    b *= 2;
  return int(b);
}

void check_result(const detail::OpSite& s, const char* arg, const TensorView& v,
                  const TensorView& x, int64_t k) {
  bool same = v.rank == x.rank && v.shape[v.rank - 1] == k;
  for (int i = 0; same && i + 1 < v.rank; ++i)
    same = v.shape[i] == x.shape[i];
  if (!same) {
    TensorView want = x;
    want.shape[want.rank - 1] = k;
    s.fail(fmt::format("{} has shape {} but x has shape {} and k is {}; expected shape {}", arg,
                       detail::shape_str(v), detail::shape_str(x), k, detail::shape_str(want)));
  }
  detail::check_device(s, arg, v, "x", x);
}

} // namespace

namespace detail {

const Kernel& topk_kernel() {
  static const Kernel kernel = tl::kernel(
      "topk", "values, indices, x, x_stride, v_stride, i_stride, n, k, LARGEST, KB, BLOCK",
      [](tl::Ptr values, tl::Ptr indices, tl::Ptr x, tl::Int x_stride, tl::Int v_stride,
         tl::Int i_stride, tl::Int n, tl::Int k, tl::Const<int> LARGEST, tl::Const<int> KB,
         tl::Const<int> BLOCK) {
        const double nan_class = LARGEST ? 3 : 1;
        auto row = tl::program_id(0).to(DType::i64);
        auto xr = x + row * x_stride.to(DType::i64);
        auto cols = tl::arange(0, BLOCK);
        auto slots = tl::arange(0, KB);
        Candidates list{tl::full({KB}, -kInf, DType::f32), tl::full({KB}, kTaken, DType::i32),
                        tl::full({KB}, kNoIndex, DType::i32)};
        tl::for_range(0, n, BLOCK, [&](tl::Int start) {
          auto c = start + cols;
          auto inside = c < n;
          auto raw = tl::load(xr + c, inside, 0.0).to(DType::f32);
          auto bv = LARGEST ? raw : -raw;
          auto cls = tl::where(raw != raw, tl::scalar(nan_class, DType::i32),
                               tl::scalar(kNumber, DType::i32));
          Candidates merged = merge_block(
              list, bv, tl::where(inside, cls, tl::scalar(kTaken, DType::i32)), c, slots, k);
          list.value = merged.value;
          list.cls = merged.cls;
          list.index = merged.index;
        });
        auto wanted = slots < k;
        tl::store(indices + row * i_stride.to(DType::i64) + slots, list.index, wanted);
        // The values are read back from x (exact: -0 stays -0, a NaN keeps its payload).
        tl::store(values + row * v_stride.to(DType::i64) + slots, tl::load(xr + list.index, wanted),
                  wanted);
      });
  return kernel;
}

} // namespace detail

void topk(const TensorView& x, const TensorView& values, const TensorView& indices, int64_t k,
          const TopkOptions& o, Stream* stream, std::source_location where) {
  detail::OpSite s{"topk", where};
  detail::check_float(s, "x", x);
  detail::Rows r = detail::rows_of(s, "x", x);
  if (k < 0 || k > r.cols)
    s.fail(fmt::format("k is {} but x's last dimension is {}; expected 0 <= k <= {}", k, r.cols,
                       r.cols));
  if (k > kTopkMaxK)
    s.fail(fmt::format("k is {}; expected at most {} (the op selects in k rounds per row; sort "
                       "the rows instead for a larger k)",
                       k, kTopkMaxK));
  detail::check_float(s, "values", values);
  check_result(s, "values", values, x, k);
  if (indices.dtype != DType::i32 && indices.dtype != DType::i64)
    s.fail(fmt::format("indices has dtype {}; expected i32 or i64", dtype_name(indices.dtype)));
  check_result(s, "indices", indices, x, k);
  detail::Rows vr = detail::rows_of(s, "values", values);
  detail::Rows ir = detail::rows_of(s, "indices", indices);
  int block = detail::block_for(s, r.cols, detail::kTopkMaxBlock, o.block_cols);
  if (r.rows == 0 || k == 0)
    return;
  int kb = next_power_of_two(k, 16);
  detail::topk_kernel().launch(
      detail::grid_at(s, r.rows), detail::launch_options(std::max(block, kb), stream), values,
      indices, x, r.stride, vr.stride, ir.stride, r.cols, k, int(o.largest), kb, block);
}

} // namespace tessel::ops
