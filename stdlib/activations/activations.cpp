// gelu / silu / swiglu / geglu and their backward passes: argument checks and launches of
// activation_kernels.cpp. The ungated forms are the gated kernels with GATED = 0 (the `up`
// arguments then stand in for nothing and are never read).
#include "tessel/ops/activations.h"

#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"

#include <climits>
#include <initializer_list>

namespace tessel::ops {
namespace {

using detail::Activation;
using detail::OpSite;
using detail::Rows;

constexpr int kMaxBlock = 1024; // columns per program: 16 KB of f32 in flight at 4 warps

Activation gelu_kind(const GeluOptions& o) {
  switch (o.approximate) {
  case GeluApproximation::none:
    return Activation::gelu_erf;
  case GeluApproximation::tanh:
    return Activation::gelu_tanh;
  }
  TESSEL_UNREACHABLE("unknown GeluApproximation");
}

// Rows shorter than a block, each tensor's rows exactly `cols` apart (contiguous): viewed instead
// as one row of rows * cols elements, so that a program covers a whole block rather than one short
// row (at 32768 x 128 one program per row spent most of its time starting programs on the CPU).
void flatten_short_rows(int max_block, std::initializer_list<Rows*> all) {
  const Rows& first = **all.begin();
  int64_t total = first.rows * first.cols;
  if (first.rows < 2 || first.cols >= max_block || total > INT32_MAX - max_block)
    return;
  for (const Rows* r : all)
    if (r->stride != r->cols)
      return;
  for (Rows* r : all)
    *r = Rows{1, total, total};
}

// A float tensor of `ref`'s shape and device, seen as rows.
Rows rows_like(const OpSite& s, const char* arg, const TensorView& v, const char* ref_arg,
               const TensorView& ref) {
  detail::check_float(s, arg, v);
  detail::check_like(s, arg, v, ref_arg, ref);
  return detail::rows_of(s, arg, v);
}

// y = act(gate) (* up when `up` is given).
void forward(const OpSite& s, Activation act, const char* gate_arg, const TensorView& gate,
             const TensorView* up, const TensorView& y, Stream* stream) {
  detail::check_float(s, gate_arg, gate);
  Rows g = detail::rows_of(s, gate_arg, gate);
  Rows u = up ? rows_like(s, "up", *up, gate_arg, gate) : g;
  Rows yr = rows_like(s, "y", y, gate_arg, gate);
  flatten_short_rows(kMaxBlock, {&g, &u, &yr});
  int block = detail::block_for(s, g.cols, kMaxBlock, 0);
  if (g.empty())
    return;
  detail::activation_forward_kernel().launch(
      detail::grid_at(s, g.rows, (g.cols + block - 1) / block),
      detail::launch_options(block, stream), y, gate, up ? *up : gate, yr.stride, g.stride,
      u.stride, g.cols, int(act), int(up != nullptr), block);
}

// dgate = dy * act'(gate) (* up), dup = dy * act(gate) when `up` is given.
void backward(const OpSite& s, Activation act, const char* gate_arg, const TensorView& gate,
              const TensorView* up, const TensorView& dy, const char* dgate_arg,
              const TensorView& dgate, const TensorView* dup, Stream* stream) {
  detail::check_float(s, gate_arg, gate);
  Rows g = detail::rows_of(s, gate_arg, gate);
  Rows u = up ? rows_like(s, "up", *up, gate_arg, gate) : g;
  Rows d = rows_like(s, "dy", dy, gate_arg, gate);
  Rows dg = rows_like(s, dgate_arg, dgate, gate_arg, gate);
  Rows du = dup ? rows_like(s, "dup", *dup, gate_arg, gate) : dg;
  flatten_short_rows(kMaxBlock, {&g, &u, &d, &dg, &du});
  int block = detail::block_for(s, g.cols, kMaxBlock, 0);
  if (g.empty())
    return;
  detail::activation_backward_kernel().launch(
      detail::grid_at(s, g.rows, (g.cols + block - 1) / block),
      detail::launch_options(block, stream), dgate, dup ? *dup : dgate, gate, up ? *up : gate, dy,
      dg.stride, du.stride, g.stride, u.stride, d.stride, g.cols, int(act), int(up != nullptr),
      block);
}

} // namespace

void gelu(const TensorView& x, const TensorView& y, const GeluOptions& o, Stream* stream,
          std::source_location where) {
  forward({"gelu", where}, gelu_kind(o), "x", x, nullptr, y, stream);
}

void gelu_backward(const TensorView& x, const TensorView& dy, const TensorView& dx,
                   const GeluOptions& o, Stream* stream, std::source_location where) {
  backward({"gelu_backward", where}, gelu_kind(o), "x", x, nullptr, dy, "dx", dx, nullptr, stream);
}

void silu(const TensorView& x, const TensorView& y, const SiluOptions&, Stream* stream,
          std::source_location where) {
  forward({"silu", where}, Activation::silu, "x", x, nullptr, y, stream);
}

void silu_backward(const TensorView& x, const TensorView& dy, const TensorView& dx,
                   const SiluOptions&, Stream* stream, std::source_location where) {
  backward({"silu_backward", where}, Activation::silu, "x", x, nullptr, dy, "dx", dx, nullptr,
           stream);
}

void swiglu(const TensorView& gate, const TensorView& up, const TensorView& y, const SiluOptions&,
            Stream* stream, std::source_location where) {
  forward({"swiglu", where}, Activation::silu, "gate", gate, &up, y, stream);
}

void swiglu_backward(const TensorView& gate, const TensorView& up, const TensorView& dy,
                     const TensorView& dgate, const TensorView& dup, const SiluOptions&,
                     Stream* stream, std::source_location where) {
  backward({"swiglu_backward", where}, Activation::silu, "gate", gate, &up, dy, "dgate", dgate,
           &dup, stream);
}

void geglu(const TensorView& gate, const TensorView& up, const TensorView& y, const GeluOptions& o,
           Stream* stream, std::source_location where) {
  forward({"geglu", where}, gelu_kind(o), "gate", gate, &up, y, stream);
}

void geglu_backward(const TensorView& gate, const TensorView& up, const TensorView& dy,
                    const TensorView& dgate, const TensorView& dup, const GeluOptions& o,
                    Stream* stream, std::source_location where) {
  backward({"geglu_backward", where}, gelu_kind(o), "gate", gate, &up, dy, "dgate", dgate, &dup,
           stream);
}

} // namespace tessel::ops
