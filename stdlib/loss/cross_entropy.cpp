// cross_entropy and cross_entropy_backward: argument checks, the host check of the labels and the
// launches of cross_entropy_kernels.cpp. The forward writes one loss per row, then (mean, sum) one
// program sums them in a fixed order, so every run gives the same bits; no atomics, no scratch.
#include "tessel/ops/loss.h"

#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "stdlib/common/row_tiles.h"
#include "stdlib/loss/cross_entropy_rows.h"

#include <fmt/format.h>

#include <climits>
#include <cstring>

namespace tessel::ops {
namespace {

using detail::OpSite;
using detail::Rows;

Rows check_logits(const OpSite& s, const TensorView& logits) {
  detail::check_float(s, "logits", logits);
  if (logits.rank != 2)
    s.fail(fmt::format("logits has shape {}; expected rank 2 (rows, classes)",
                       detail::shape_str(logits)));
  return detail::rows_of(s, "logits", logits);
}

void check_labels(const OpSite& s, const TensorView& labels, int64_t rows) {
  if (labels.dtype != DType::i32 && labels.dtype != DType::i64)
    s.fail(fmt::format("labels has dtype {}; expected i32 or i64", dtype_name(labels.dtype)));
  if (labels.rank != 1 || labels.shape[0] != rows)
    s.fail(fmt::format("labels has shape {} but logits has {} rows; expected shape [{}]",
                       detail::shape_str(labels), rows, rows));
  if (rows > 0 && labels.data == nullptr)
    s.fail("labels has a null data pointer");
}

// A tensor of one element (rank 0, or any shape of one element).
void check_one(const OpSite& s, const char* arg, const TensorView& v) {
  if (v.numel() != 1)
    s.fail(fmt::format("{} has shape {}; expected one element (rank 0 or shape [1]) for reduction "
                       "mean or sum",
                       arg, detail::shape_str(v)));
  if (v.data == nullptr)
    s.fail(fmt::format("{} has a null data pointer", arg));
}

void check_per_row(const OpSite& s, const char* arg, const TensorView& v, int64_t rows) {
  if (v.rank != 1 || v.shape[0] != rows)
    s.fail(fmt::format("{} has shape {} but logits has {} rows; expected shape [{}]", arg,
                       detail::shape_str(v), rows, rows));
  if (rows > 0 && v.data == nullptr)
    s.fail(fmt::format("{} has a null data pointer", arg));
}

int64_t label_at(const TensorView& labels, int64_t i) {
  const char* p = static_cast<const char*>(labels.data) +
                  i * labels.strides[0] * int64_t(dtype_bytes(labels.dtype));
  if (labels.dtype == DType::i32) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  int64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Host labels are checked here; device labels give NaN rows (loss.h). Returns the number of rows
// that are not ignore_index for host labels, -1 for device labels (the kernels count them).
int64_t check_label_values(const OpSite& s, const TensorView& labels, int64_t rows, int64_t classes,
                           int64_t ignore_index) {
  if (labels.device != DeviceKind::cpu)
    return -1;
  int64_t counted = 0;
  for (int64_t i = 0; i < rows; ++i) {
    int64_t v = label_at(labels, i);
    if (v != ignore_index && (v < 0 || v >= classes))
      s.fail(fmt::format("labels[{}] is {}, outside [0, {}) and not ignore_index ({}); expected a "
                         "class index of logits' last dimension",
                         i, v, classes, ignore_index));
    counted += v != ignore_index;
  }
  return counted;
}

void check_options(const OpSite& s, const CrossEntropyOptions& o) {
  if (!(o.label_smoothing >= 0.0f && o.label_smoothing <= 1.0f))
    s.fail(fmt::format("label_smoothing is {}; expected a value in [0, 1]", o.label_smoothing));
  if (o.ignore_index < INT32_MIN || o.ignore_index > INT32_MAX)
    s.fail(fmt::format("ignore_index is {}; expected a 32-bit integer", o.ignore_index));
}

int64_t label_stride(const TensorView& labels) {
  return labels.shape[0] > 1 ? labels.strides[0] : 1;
}

} // namespace

void cross_entropy(const TensorView& logits, const TensorView& labels, const TensorView& losses,
                   const TensorView& loss, const CrossEntropyOptions& o, Stream* stream,
                   std::source_location where) {
  OpSite s{"cross_entropy", where};
  check_options(s, o);
  Rows x = check_logits(s, logits);
  check_labels(s, labels, x.rows);
  detail::check_dtype(s, "losses", losses, DType::f32);
  check_per_row(s, "losses", losses, x.rows);
  if (losses.shape[0] > 1 && losses.strides[0] != 1)
    s.fail(fmt::format("losses has stride {}; expected a contiguous tensor", losses.strides[0]));
  const bool reduced = o.reduction != Reduction::none;
  if (reduced) {
    detail::check_dtype(s, "loss", loss, DType::f32);
    check_one(s, "loss", loss);
    detail::check_device(s, "loss", loss, "logits", logits);
  }
  detail::check_device(s, "labels", labels, "logits", logits);
  detail::check_device(s, "losses", losses, "logits", logits);
  int block = detail::block_for(s, x.cols, detail::kCrossEntropyMaxBlock, o.block_cols);
  if (x.cols == 0 && x.rows > 0)
    s.fail("logits has 0 classes; expected at least one (a log-softmax over nothing is undefined)");
  check_label_values(s, labels, x.rows, x.cols, o.ignore_index);
  if (int rows = detail::rows_per_program(logits, x.rows, x.cols, block); rows > 1)
    detail::cross_entropy_rows_kernel().launch(
        detail::grid_at(s, (x.rows + rows - 1) / rows), detail::launch_options(block, stream),
        losses, logits, labels, x.stride, label_stride(labels), x.cols, x.rows, int(o.ignore_index),
        o.label_smoothing, int(o.label_smoothing != 0), rows, block);
  else if (x.rows > 0)
    detail::cross_entropy_kernel().launch(
        detail::grid_at(s, x.rows), detail::launch_options(block, stream), losses, logits, labels,
        x.stride, label_stride(labels), x.cols, int(o.ignore_index), o.label_smoothing, block);
  if (!reduced)
    return;
  // With no rows, losses and labels may be null: loss stands in for them (nothing is read).
  const TensorView& lv = x.rows > 0 ? losses : loss;
  const TensorView& lb = x.rows > 0 ? labels : loss;
  detail::cross_entropy_reduce_kernel().launch(
      detail::grid_at(s, 1), detail::launch_options(detail::kCrossEntropyReduceBlock, stream), loss,
      lv, lb, x.rows > 0 ? label_stride(labels) : 1, x.rows, int(o.ignore_index),
      int(o.reduction == Reduction::mean), detail::kCrossEntropyReduceBlock);
}

void cross_entropy_backward(const TensorView& logits, const TensorView& labels,
                            const TensorView& dloss, const TensorView& dlogits,
                            const CrossEntropyOptions& o, Stream* stream,
                            std::source_location where) {
  OpSite s{"cross_entropy_backward", where};
  check_options(s, o);
  Rows x = check_logits(s, logits);
  check_labels(s, labels, x.rows);
  detail::check_float(s, "dloss", dloss);
  detail::check_float(s, "dlogits", dlogits);
  detail::check_like(s, "dlogits", dlogits, "logits", logits);
  Rows d = detail::rows_of(s, "dlogits", dlogits);
  const bool per_row = o.reduction == Reduction::none;
  if (per_row)
    check_per_row(s, "dloss", dloss, x.rows);
  else
    check_one(s, "dloss", dloss);
  detail::check_device(s, "labels", labels, "logits", logits);
  detail::check_device(s, "dloss", dloss, "logits", logits);
  int block = detail::block_for(s, x.cols, detail::kCrossEntropyMaxBlock, o.block_cols);
  if (x.empty())
    return;
  int64_t counted = check_label_values(s, labels, x.rows, x.cols, o.ignore_index);
  const int64_t dloss_stride = per_row && x.rows > 1 ? dloss.strides[0] : 0;
  if (int rows = detail::rows_per_program(logits, x.rows, x.cols, block); rows > 1) {
    detail::cross_entropy_rows_backward_kernel().launch(
        detail::grid_at(s, (x.rows + rows - 1) / rows), detail::launch_options(block, stream),
        dlogits, logits, labels, dloss, d.stride, x.stride, label_stride(labels), dloss_stride,
        x.rows, x.cols, int(o.ignore_index), counted, o.label_smoothing, int(o.reduction), rows,
        block);
    return;
  }
  detail::cross_entropy_backward_kernel().launch(
      detail::grid_at(s, x.rows), detail::launch_options(block, stream), dlogits, logits, labels,
      dloss, d.stride, x.stride, label_stride(labels), dloss_stride, x.rows, x.cols,
      int(o.ignore_index), counted, o.label_smoothing, int(o.reduction), block);
}

} // namespace tessel::ops
