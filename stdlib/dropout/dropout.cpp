// dropout / dropout_backward: argument checks and the launch of dropout_kernels.cpp. The backward
// is the forward's kernel on dy: the same (seed, offset) give the same mask.
#include "tessel/ops/dropout.h"

#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"

#include <fmt/format.h>

namespace tessel::ops {
namespace {

using detail::OpSite;
using detail::Rows;

constexpr int kMaxBlock = 4096; // columns per program, as the activations

int32_t low_word(uint64_t v) { return int32_t(uint32_t(v)); }
int32_t high_word(uint64_t v) { return int32_t(uint32_t(v >> 32)); }

void check_probability(const OpSite& s, float p) {
  if (!(p >= 0.0f && p <= 1.0f)) // NaN too
    s.fail(fmt::format("p is {}; expected a probability in [0, 1] (the fraction of elements "
                       "dropped)",
                       p));
}

void apply(const OpSite& s, const char* in_arg, const TensorView& in, const char* out_arg,
           const TensorView& out, const DropoutOptions& o, Stream* stream) {
  detail::check_float(s, in_arg, in);
  Rows r = detail::rows_of(s, in_arg, in);
  detail::check_float(s, out_arg, out);
  detail::check_like(s, out_arg, out, in_arg, in);
  Rows w = detail::rows_of(s, out_arg, out);
  check_probability(s, o.p);
  int block = detail::block_for(s, r.cols, kMaxBlock, 0);
  if (r.empty())
    return;
  // Every row's first counter (offset + row * cols) a multiple of 4: no program straddles a
  // group of four, and one more program per row is never needed.
  bool aligned = o.offset % 4 == 0 && (r.cols % 4 == 0 || r.rows == 1);
  int64_t programs = (r.cols + (aligned ? 0 : 3) + block - 1) / block;
  detail::dropout_kernel().launch(
      detail::grid_at(s, r.rows, programs), detail::launch_options(block, stream), out, in,
      w.stride, r.stride, r.cols, low_word(o.seed), high_word(o.seed), low_word(o.offset),
      high_word(o.offset), o.p, int(aligned), block);
}

} // namespace

void dropout(const TensorView& x, const TensorView& y, const DropoutOptions& o, Stream* stream,
             std::source_location where) {
  apply({"dropout", where}, "x", x, "y", y, o, stream);
}

void dropout_backward(const TensorView& dy, const TensorView& dx, const DropoutOptions& o,
                      Stream* stream, std::source_location where) {
  apply({"dropout_backward", where}, "dy", dy, "dx", dx, o, stream);
}

} // namespace tessel::ops
