// cross_entropy forward and backward for rows that fit one block, a [ROWS, BLOCK] tile of rows per
// program (the CPU's short rows, stdlib/common/row_tiles.h). The same arithmetic as
// cross_entropy_kernels.cpp's one-block case, with two savings that per-row programs could not
// make cheaply: the label is compared with the i32 column indices (an i64 compare of a 128-wide
// row is 16 vectors; a label outside [0, n) becomes -1, which matches nothing, and its row is NaN
// anyway), and the logits' sum for label smoothing is a Const choice (SMOOTH), not a reduction
// every row pays for.
#include "stdlib/loss/cross_entropy_rows.h"

#include "stdlib/common/kernels.h"
#include "stdlib/common/row_tiles.h"
#include "stdlib/loss/cross_entropy_rows_common.h"
#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"
#include "tessel/ops/loss.h"

#include <limits>

namespace tessel::ops::detail {

namespace tl = tessel::lang;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

tl::Tensor i64(const tl::Tensor& t) { return t.to(DType::i64); }
tl::Tensor column(const tl::Tensor& per_row) { return tl::expand_dims(per_row, 1); }

// The tile's labels (i64, [ROWS]) and their columns as i32, -1 for a label outside [0, n).
struct Labels {
  tl::Tensor label, column;
};
Labels load_labels(const tl::Ptr& labels, const tl::Int& label_stride, const tl::Int& n,
                   const RowTile& t) {
  auto label = i64(tl::load(labels + t.index * i64(label_stride), t.live, double(0)));
  auto valid = (label >= 0) & (label < i64(n));
  return {label, tl::where(valid, label, tl::scalar(-1, DType::i64)).to(DType::i32)};
}

// Each row's log-sum-exp; a row of only -inf logits gives -inf (max -inf, sum 0), as the per-row
// kernels' running max does.
tl::Tensor log_sum_exp(const tl::Tensor& v) {
  auto m = tl::max(v, 1);
  auto shift = tl::where(m == -kInf, 0.0, m);
  return m + tl::log(tl::sum(tl::exp(v - column(shift)), 1));
}

} // namespace

const Kernel& cross_entropy_rows_kernel() {
  static const Kernel k = tl::kernel(
      "cross_entropy_rows",
      "losses, logits, labels, logit_stride, label_stride, n, rows, ignore_index, smoothing, "
      "SMOOTH, ROWS, BLOCK",
      [](tl::Ptr losses, tl::Ptr logits, tl::Ptr labels, tl::Int logit_stride, tl::Int label_stride,
         tl::Int n, tl::Int rows, tl::Int ignore_index, tl::Float smoothing, tl::Const<int> SMOOTH,
         tl::Const<int> ROWS, tl::Const<int> BLOCK) {
        RowTile t = row_tile(rows, n, ROWS, BLOCK);
        Labels l = load_labels(labels, label_stride, n, t);
        auto v = tl::load(logits + t.offsets(logit_stride), t.in, -kInf).to(DType::f32);
        auto target = tl::sum(tl::where(t.col == column(l.column), v, 0.0), 1);
        auto loss = log_sum_exp(v) - (1.0 - smoothing) * target;
        // Without smoothing the logits' mean is not used: a -inf logit (a masked class) would make
        // 0 * -inf = NaN of it.
        if (SMOOTH)
          loss = loss - smoothing * tl::sum(tl::where(t.in, v, 0.0), 1) / n.to(DType::f32);
        auto w = row_weight(l.label, n, ignore_index);
        // w * loss would turn an ignored row with an infinite lse into NaN: select instead.
        tl::store(losses + t.index, tl::where(w == 1.0, loss, w), t.live);
      });
  return k;
}

const Kernel& cross_entropy_rows_backward_kernel() {
  static const Kernel k = tl::kernel(
      "cross_entropy_rows_backward",
      "dlogits, logits, labels, dloss, dlogits_stride, logit_stride, label_stride, dloss_stride, "
      "rows, n, ignore_index, counted, smoothing, REDUCTION, ROWS, BLOCK",
      [](tl::Ptr dlogits, tl::Ptr logits, tl::Ptr labels, tl::Ptr dloss, tl::Int dlogits_stride,
         tl::Int logit_stride, tl::Int label_stride, tl::Int dloss_stride, tl::Int rows, tl::Int n,
         tl::Int ignore_index, tl::Int counted, tl::Float smoothing, tl::Const<int> REDUCTION,
         tl::Const<int> ROWS, tl::Const<int> BLOCK) {
        RowTile t = row_tile(rows, n, ROWS, BLOCK);
        Labels l = load_labels(labels, label_stride, n, t);
        auto v = tl::load(logits + t.offsets(logit_stride), t.in, -kInf).to(DType::f32);
        auto lse = log_sum_exp(v);
        const Reduction reduction = Reduction(int(REDUCTION));
        tl::Tensor g = reduction == Reduction::none
                           ? tl::load(dloss + t.index * i64(dloss_stride), t.live, 0.0)
                           : tl::load(dloss);
        g = g.to(DType::f32);
        // The mean's count: given by the host when it read the labels (counted >= 0), else
        // counted here, a pass over every label in every program.
        if (reduction == Reduction::mean)
          tl::if_(
              counted < 0,
              [&] {
                g = g /
                    count_rows(labels, label_stride, rows, ignore_index, kCrossEntropyReduceBlock);
              },
              [&] { g = g / counted.to(DType::f32); });
        auto w = column(row_weight(l.label, n, ignore_index));
        auto p = tl::exp(v - column(lse));
        auto hit =
            tl::where(t.col == column(l.column), 1.0 - smoothing, tl::scalar(0.0, DType::f32));
        auto grad = (reduction == Reduction::none ? column(g) : g) *
                    (p - smoothing / n.to(DType::f32) - hit);
        // An ignored row is 0 (selected, so that an infinite lse there cannot make it NaN).
        tl::store(dlogits + t.offsets(dlogits_stride), tl::where(w == 1.0, grad, w), t.in);
      });
  return k;
}

} // namespace tessel::ops::detail
