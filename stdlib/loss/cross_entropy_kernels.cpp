// The DSL kernels of cross_entropy (loss.h). One program per row walks the vocabulary in column
// blocks with a running max and a running sum of exp(x - max) (Milakov and Gimelshein), picking
// the label's logit out of the block that holds it with a compare, so the gather never reads
// outside the row whatever the label holds.
#include "stdlib/common/kernels.h"
#include "stdlib/loss/cross_entropy_rows_common.h"
#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"
#include "tessel/ops/loss.h"

#include <limits>

namespace tessel::ops::detail {

namespace tl = tessel::lang;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

tl::Tensor i64(const tl::Tensor& t) { return t.to(DType::i64); }

// What one pass over a row gathers: the running max and sum, the sum of the logits (for label
// smoothing) and the label's logit.
struct RowStats {
  tl::Tensor max, sum, sum_x, target;
  tl::Tensor lse() const { return max + tl::log(sum); }
};

RowStats row_stats(const tl::Tensor& xr, const tl::Tensor& label, const tl::Int& n, int block) {
  auto cols = tl::arange(0, block);
  RowStats r{tl::scalar(-kInf, DType::f32), tl::scalar(0.0, DType::f32),
             tl::scalar(0.0, DType::f32), tl::scalar(0.0, DType::f32)};
  tl::for_range(0, n, block, [&](tl::Int k) {
    auto c = k + cols;
    auto in = c < n;
    auto v = tl::load(xr + c, in, -kInf).to(DType::f32);
    auto m = tl::maximum(r.max, tl::max(v, 0));
    auto shift = tl::where(m == -kInf, 0.0, m); // a masked (-inf) prefix: not -inf - -inf = NaN
    r.sum = r.sum * tl::exp(r.max - shift) + tl::sum(tl::exp(v - shift), 0);
    r.max = m;
    r.sum_x = r.sum_x + tl::sum(tl::where(in, v, 0.0), 0);
    r.target = r.target + tl::sum(tl::where(i64(c) == label, v, 0.0), 0);
  });
  return r;
}

} // namespace

tl::Tensor row_weight(const tl::Tensor& label, const tl::Int& n, const tl::Int& ignore_index) {
  auto valid = (label >= 0) & (label < i64(n));
  auto ignored = label == i64(ignore_index);
  return tl::where(ignored, 0.0, tl::where(valid, tl::scalar(1.0, DType::f32), kNaN));
}

tl::Tensor count_rows(const tl::Ptr& labels, const tl::Int& label_stride, const tl::Int& rows,
                      const tl::Int& ignore_index, int block) {
  auto r = tl::arange(0, block);
  tl::Tensor count = tl::scalar(0.0, DType::f32);
  tl::for_range(0, rows, block, [&](tl::Int k) {
    auto label = i64(tl::load(labels + i64(k + r) * i64(label_stride), k + r < rows, double(0)));
    auto counted = (k + r < rows) & (label != i64(ignore_index));
    count = count + tl::sum(counted.to(DType::f32), 0);
  });
  return count;
}

const Kernel& cross_entropy_kernel() {
  static const Kernel k = tl::kernel(
      "cross_entropy",
      "losses, logits, labels, logit_stride, label_stride, n, ignore_index, smoothing, BLOCK",
      [](tl::Ptr losses, tl::Ptr logits, tl::Ptr labels, tl::Int logit_stride, tl::Int label_stride,
         tl::Int n, tl::Int ignore_index, tl::Float smoothing, tl::Const<int> BLOCK) {
        auto row = i64(tl::program_id(0));
        auto label = i64(tl::load(labels + row * i64(label_stride)));
        RowStats r = row_stats(logits + row * i64(logit_stride), label, n, BLOCK);
        // Without smoothing the mean of the logits is not used: a -inf logit (a masked class)
        // would make 0 * -inf = NaN of it (PyTorch gives the finite loss too).
        auto smoothed = tl::where(smoothing == 0.0, tl::scalar(0.0, DType::f32),
                                  smoothing * r.sum_x / n.to(DType::f32));
        auto loss = r.lse() - (1.0 - smoothing) * r.target - smoothed;
        auto w = row_weight(label, n, ignore_index);
        // w * loss would turn an ignored row with an infinite lse into NaN: select instead.
        tl::store(losses + row, tl::where(w == 1.0, loss, w));
      });
  return k;
}

const Kernel& cross_entropy_reduce_kernel() {
  static const Kernel k = tl::kernel(
      "cross_entropy_reduce", "loss, losses, labels, label_stride, rows, ignore_index, MEAN, BLOCK",
      [](tl::Ptr loss, tl::Ptr losses, tl::Ptr labels, tl::Int label_stride, tl::Int rows,
         tl::Int ignore_index, tl::Const<int> MEAN, tl::Const<int> BLOCK) {
        auto r = tl::arange(0, BLOCK);
        tl::Tensor total = tl::scalar(0.0, DType::f32);
        tl::for_range(0, rows, BLOCK, [&](tl::Int k) {
          total = total + tl::sum(tl::load(losses + (k + r), k + r < rows, 0.0), 0);
        });
        if (MEAN)
          total = total / count_rows(labels, label_stride, rows, ignore_index, BLOCK);
        tl::store(loss, total);
      });
  return k;
}

const Kernel& cross_entropy_backward_kernel() {
  static const Kernel k = tl::kernel(
      "cross_entropy_backward",
      "dlogits, logits, labels, dloss, dlogits_stride, logit_stride, label_stride, dloss_stride, "
      "rows, n, ignore_index, counted, smoothing, REDUCTION, BLOCK",
      [](tl::Ptr dlogits, tl::Ptr logits, tl::Ptr labels, tl::Ptr dloss, tl::Int dlogits_stride,
         tl::Int logit_stride, tl::Int label_stride, tl::Int dloss_stride, tl::Int rows, tl::Int n,
         tl::Int ignore_index, tl::Int counted, tl::Float smoothing, tl::Const<int> REDUCTION,
         tl::Const<int> BLOCK) {
        auto row = i64(tl::program_id(0));
        auto label = i64(tl::load(labels + row * i64(label_stride)));
        auto xr = logits + row * i64(logit_stride);
        auto lse = row_stats(xr, label, n, BLOCK).lse();
        const bool per_row = Reduction(int(REDUCTION)) == Reduction::none;
        tl::Tensor g =
            tl::load(dloss + (per_row ? row * i64(dloss_stride) : row * 0)).to(DType::f32);
        // The mean's count: given by the host when it read the labels (counted >= 0), else
        // counted here, a pass over every label in every program (rows^2 work in all).
        if (Reduction(int(REDUCTION)) == Reduction::mean)
          tl::if_(
              counted < 0,
              [&] {
                g = g /
                    count_rows(labels, label_stride, rows, ignore_index, kCrossEntropyReduceBlock);
              },
              [&] { g = g / counted.to(DType::f32); });
        auto w = row_weight(label, n, ignore_index);
        auto dr = dlogits + row * i64(dlogits_stride);
        auto cols = tl::arange(0, BLOCK);
        auto off = smoothing / n.to(DType::f32);
        tl::for_range(0, n, BLOCK, [&](tl::Int k) {
          auto c = k + cols;
          auto in = c < n;
          auto p = tl::exp(tl::load(xr + c, in, 0.0).to(DType::f32) - lse);
          auto hit = tl::where(i64(c) == label, 1.0 - smoothing, tl::scalar(0.0, DType::f32));
          // An ignored row is 0 (selected, so that an infinite lse there cannot make it NaN).
          tl::store(dr + c, tl::where(w == 1.0, g * (p - off - hit), w), in);
        });
      });
  return k;
}

} // namespace tessel::ops::detail
