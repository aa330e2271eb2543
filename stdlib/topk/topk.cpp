// top-k over the last axis: the DSL kernel, the checks and the launch (docs/stdlib.md, "topk").
//
// One program per row walks it in column blocks and keeps a candidate list of the best k seen so
// far (a KB-slot tile, KB the next power of two of k). Each block is merged into the list by k
// rounds of selection over the union of block and list: the best class (see below), within it
// the largest value, within those the lowest column; that element goes to slot r and is marked
// taken. The list comes out sorted, ties in column order, so the result is deterministic and the
// same on every backend and block size. The rounds cost about k passes over what they select
// from, which is why k is bounded (kTopkMaxK); a tl::sort / tl::topk in the language (a bitonic
// network) can replace them later without changing the results.
//
// A long block (at least 4 * KB groups of kGroup columns) is first narrowed to groups: each group
// of kGroup consecutive columns is represented by its best element (one reduction along the
// group), k rounds over those G representatives pick the k best groups, and only the elements of
// those k groups are gathered (read again, from cache) and merged into the list. That is exact:
// a group outside the k best has k better groups, each holding an element better than every one
// of its own, so none of its elements is among the k best of the block. The rounds then run over
// G + KB * kGroup elements instead of BLOCK (4096 columns, KB 16: 512 instead of 4096).
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

constexpr int kGroup = 16; // columns per group of the pre-selection

// The classes of loaded values: NaN's (nan_class) or a number's, kTaken where `inside` is false.
tl::Tensor classes_of(const tl::Tensor& raw, const tl::Tensor& inside, double nan_class) {
  auto cls =
      tl::where(raw != raw, tl::scalar(nan_class, DType::i32), tl::scalar(kNumber, DType::i32));
  return tl::where(inside, cls, tl::scalar(kTaken, DType::i32));
}

// The best element of each group of kGroup columns of a block ([G] tiles: class, value, column).
Candidates group_bests(const tl::Tensor& bv, const tl::Tensor& bcls, const tl::Tensor& c,
                       int block) {
  const int64_t g = block / kGroup;
  auto v2 = tl::reshape(bv, {g, kGroup}), cls2 = tl::reshape(bcls, {g, kGroup});
  auto c2 = tl::reshape(c, {g, kGroup});
  auto top = tl::max(cls2, 1);
  auto m = tl::max(tl::where(cls2 == kNumber, v2, -kInf), 1);
  auto top2 = tl::expand_dims(top, 1), m2 = tl::expand_dims(m, 1);
  auto best = (cls2 == top2) & ((top2 != kNumber) | (v2 == m2));
  auto idx = tl::min(tl::where(best, c2, tl::scalar(kNoIndex, DType::i32)), 1);
  return {m, top, idx};
}

// The elements of the chosen groups (`groups`, a candidate list of group bests) as one
// [KB * kGroup] block read from the row `xr`: value (as selected), class and column.
Candidates gather_groups(const Candidates& groups, const tl::Tensor& xr, const tl::Int& n, int kb,
                         bool largest, double nan_class) {
  auto valid = groups.cls != kTaken;
  auto first = tl::where(valid, (groups.index / kGroup) * kGroup, tl::scalar(0, DType::i32));
  auto c = tl::expand_dims(first, 1) + tl::expand_dims(tl::arange(0, kGroup), 0);
  auto inside = tl::expand_dims(valid, 1) & (c < n);
  auto raw = tl::load(xr + c, inside, 0.0).to(DType::f32);
  const tl::Shape flat = {int64_t(kb) * kGroup};
  return {tl::reshape(largest ? raw : -raw, flat),
          tl::reshape(classes_of(raw, inside, nan_class), flat), tl::reshape(c, flat)};
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
          Candidates block{LARGEST ? raw : -raw, classes_of(raw, inside, nan_class), c};
          if (int(BLOCK) / kGroup >= 4 * int(KB)) { // narrow the block to its k best groups first
            Candidates none{tl::full({KB}, -kInf, DType::f32), tl::full({KB}, kTaken, DType::i32),
                            tl::full({KB}, kNoIndex, DType::i32)};
            Candidates g = group_bests(block.value, block.cls, block.index, int(BLOCK));
            g = merge_block(none, g.value, g.cls, g.index, slots, k);
            block = gather_groups(g, xr, n, int(KB), int(LARGEST) != 0, nan_class);
          }
          Candidates merged = merge_block(list, block.value, block.cls, block.index, slots, k);
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
