// rotary_embedding, its backward and the positions form: the DSL kernel, the argument checks and
// the launch. One program per (batch, position, head) row rotates its rotary_dim/2 pairs at once
// (both halves are loaded before anything is stored, so y may be x) and copies the rest.
#include "tessel/ops/rotary.h"

#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"

#include <fmt/format.h>

#include <climits>
#include <cmath>

namespace tessel::ops {

namespace tl = tessel::lang;

namespace {

tl::Tensor i64(const tl::Tensor& t) { return t.to(DType::i64); }

} // namespace

namespace detail {

const Kernel& rotary_kernel() {
  static const Kernel k = tl::kernel(
      "rotary",
      "y, x, cos, sin, positions, heads, seq, xs0, xs1, xs2, ys0, ys1, ys2, cos_stride, "
      "sin_stride, pos_batch_stride, pos_stride, half, head_dim, freq_scale, INTERLEAVED, "
      "FROM_POSITIONS, INVERSE, BLOCK",
      [](tl::Ptr y, tl::Ptr x, tl::Ptr cos, tl::Ptr sin, tl::Ptr positions, tl::Int heads,
         tl::Int seq, tl::Int xs0, tl::Int xs1, tl::Int xs2, tl::Int ys0, tl::Int ys1, tl::Int ys2,
         tl::Int cos_stride, tl::Int sin_stride, tl::Int pos_batch_stride, tl::Int pos_stride,
         tl::Int half, tl::Int head_dim, tl::Float freq_scale, tl::Const<int> INTERLEAVED,
         tl::Const<int> FROM_POSITIONS, tl::Const<int> INVERSE, tl::Const<int> BLOCK) {
        auto row = tl::program_id(0);
        auto h = i64(row % heads), s = i64((row / heads) % seq), b = i64(row / (heads * seq));
        auto xr = x + b * i64(xs0) + s * i64(xs1) + h * i64(xs2);
        auto yr = y + b * i64(ys0) + s * i64(ys1) + h * i64(ys2);
        auto i = tl::arange(0, BLOCK);
        auto in = i < half;
        tl::Tensor c, sn;
        if (FROM_POSITIONS) {
          // positions [seq] (pos_batch_stride 0) or [batch, seq]: each sequence its own.
          auto pos =
              tl::load(positions + b * i64(pos_batch_stride) + s * i64(pos_stride)).to(DType::f32);
          auto angle = pos * tl::exp2(i.to(DType::f32) * -freq_scale);
          c = tl::cos(angle), sn = tl::sin(angle);
        } else {
          c = tl::load(cos + s * i64(cos_stride) + i, in, 0.0).to(DType::f32);
          sn = tl::load(sin + s * i64(sin_stride) + i, in, 0.0).to(DType::f32);
        }
        if (INVERSE)
          sn = -sn;
        auto first = INTERLEAVED ? 2 * i : i;
        auto second = INTERLEAVED ? 2 * i + 1 : i + half;
        auto x1 = tl::load(xr + first, in, 0.0).to(DType::f32);
        auto x2 = tl::load(xr + second, in, 0.0).to(DType::f32);
        tl::store(yr + first, x1 * c - x2 * sn, in);
        tl::store(yr + second, x2 * c + x1 * sn, in);
        // The dimensions past rotary_dim pass through (a copy onto itself when y is x).
        tl::for_range(2 * half, head_dim, BLOCK, [&](tl::Int k) {
          auto d = k + i;
          tl::store(yr + d, tl::load(xr + d, d < head_dim, 0.0), d < head_dim);
        });
      });
  return k;
}

} // namespace detail

namespace {

using detail::OpSite;

void check_qk(const OpSite& s, const char* arg, const TensorView& v) {
  detail::check_float(s, arg, v);
  if (v.rank != 4)
    s.fail(fmt::format("{} has shape {}; expected rank 4 (batch, seq, heads, head_dim)", arg,
                       detail::shape_str(v)));
  if (v.shape[3] > 1 && v.strides[3] != 1)
    s.fail(fmt::format("{}'s last dimension has stride {}; the last dimension must be contiguous "
                       "(stride 1): copy {} to a contiguous tensor first",
                       arg, v.strides[3], arg));
}

int64_t rotary_dim_of(const OpSite& s, const TensorView& x, const RotaryOptions& o) {
  int64_t head_dim = x.shape[3], rd = o.rotary_dim == 0 ? head_dim : o.rotary_dim;
  if (rd <= 0 || rd % 2 != 0 || rd > head_dim)
    s.fail(fmt::format("rotary_dim is {} but head_dim is {}; expected an even number from 2 to {} "
                       "(0: all of head_dim)",
                       o.rotary_dim, head_dim, head_dim));
  return rd;
}

void check_table(const OpSite& s, const char* arg, const TensorView& t, int64_t seq, int64_t half) {
  detail::check_float(s, arg, t);
  if (t.rank != 2 || t.shape[0] != seq || t.shape[1] != half)
    s.fail(fmt::format("{} has shape {}; expected [{}, {}] (seq, rotary_dim / 2)", arg,
                       detail::shape_str(t), seq, half));
  if (half > 1 && t.strides[1] != 1)
    s.fail(fmt::format("{}'s last dimension has stride {}; expected a contiguous last dimension",
                       arg, t.strides[1]));
}

struct Launch {
  const TensorView *x, *y, *cos, *sin, *positions;
  int64_t pos_batch_stride, pos_stride; // positions [seq] or [batch, seq]; 0 with tables
  int64_t half;
  bool from_positions, inverse;
  float freq_scale;
};

void launch(const OpSite& s, const Launch& l, const RotaryOptions& o, Stream* stream) {
  const TensorView &x = *l.x, &y = *l.y;
  const int64_t rows = x.shape[0] * x.shape[1] * x.shape[2];
  if (rows == 0)
    return;
  for (const TensorView* v : {l.x, l.y, l.cos, l.sin, l.positions})
    if (v->data == nullptr)
      s.fail("a tensor argument has a null data pointer");
  for (int i = 0; i < 4; ++i)
    if (x.strides[i] > INT32_MAX || y.strides[i] > INT32_MAX || x.strides[i] < 0 ||
        y.strides[i] < 0)
      s.fail("x or y has a stride outside [0, 2^31); the kernel takes 32-bit strides");
  if (rows > INT32_MAX)
    s.fail(fmt::format("x has {} rows (batch x seq x heads); the kernel takes 32-bit row counts",
                       rows));
  constexpr int kMaxPairs = 1 << 14; // one block holds every pair of a row
  if (l.half > kMaxPairs)
    s.fail(fmt::format("rotary_dim is {}; expected at most {} (one block of pairs per row)",
                       2 * l.half, 2 * kMaxPairs));
  int block = detail::block_for(s, l.half, kMaxPairs, 0);
  detail::rotary_kernel().launch(
      detail::grid_at(s, rows), detail::launch_options(block, stream), y, x, *l.cos, *l.sin,
      *l.positions, x.shape[2], x.shape[1], x.strides[0], x.strides[1], x.strides[2], y.strides[0],
      y.strides[1], y.strides[2], l.cos->rank == 2 ? l.cos->strides[0] : 0,
      l.sin->rank == 2 ? l.sin->strides[0] : 0, l.pos_batch_stride, l.pos_stride, l.half,
      x.shape[3], l.freq_scale, int(o.style == RotaryStyle::interleaved), int(l.from_positions),
      int(l.inverse), block);
}

void with_tables(const OpSite& s, const char* in_arg, const TensorView& x, const TensorView& cos,
                 const TensorView& sin, const char* out_arg, const TensorView& y,
                 const RotaryOptions& o, bool inverse, Stream* stream) {
  check_qk(s, in_arg, x);
  check_qk(s, out_arg, y);
  detail::check_like(s, out_arg, y, in_arg, x);
  int64_t half = rotary_dim_of(s, x, o) / 2;
  check_table(s, "cos", cos, x.shape[1], half);
  check_table(s, "sin", sin, x.shape[1], half);
  detail::check_device(s, "cos", cos, in_arg, x);
  detail::check_device(s, "sin", sin, in_arg, x);
  // The positions pointer is not read (FROM_POSITIONS = 0): cos stands in for it.
  launch(s, {&x, &y, &cos, &sin, &cos, 0, 0, half, false, inverse, 0.0f}, o, stream);
}

} // namespace

void rotary_embedding(const TensorView& x, const TensorView& cos, const TensorView& sin,
                      const TensorView& y, const RotaryOptions& o, Stream* stream,
                      std::source_location where) {
  with_tables(OpSite{"rotary_embedding", where}, "x", x, cos, sin, "y", y, o, false, stream);
}

void rotary_embedding_backward(const TensorView& dy, const TensorView& cos, const TensorView& sin,
                               const TensorView& dx, const RotaryOptions& o, Stream* stream,
                               std::source_location where) {
  with_tables(OpSite{"rotary_embedding_backward", where}, "dy", dy, cos, sin, "dx", dx, o, true,
              stream);
}

void rotary_embedding_from_positions(const TensorView& x, const TensorView& positions,
                                     const TensorView& y, const RotaryOptions& o, Stream* stream,
                                     std::source_location where) {
  OpSite s{"rotary_embedding_from_positions", where};
  check_qk(s, "x", x);
  check_qk(s, "y", y);
  detail::check_like(s, "y", y, "x", x);
  int64_t rd = rotary_dim_of(s, x, o);
  if (positions.dtype != DType::i32 && positions.dtype != DType::i64)
    s.fail(fmt::format("positions has dtype {}; expected i32 or i64", dtype_name(positions.dtype)));
  const bool per_batch = positions.rank == 2;
  if ((positions.rank != 1 && !per_batch) || positions.shape[positions.rank - 1] != x.shape[1] ||
      (per_batch && positions.shape[0] != x.shape[0]))
    s.fail(fmt::format("positions has shape {} but x has {} positions; expected shape [{}] (one "
                       "position per token, shared by the batch) or [{}, {}] (batch, seq)",
                       detail::shape_str(positions), x.shape[1], x.shape[1], x.shape[0],
                       x.shape[1]));
  if (!(o.base > 1.0f))
    s.fail(fmt::format("base is {}; expected a number above 1", o.base));
  detail::check_device(s, "positions", positions, "x", x);
  // base^(-2i / rd) = 2^(-i * freq_scale).
  float freq_scale = float(2.0 * std::log2(double(o.base)) / double(rd));
  const int64_t pos_stride = positions.strides[positions.rank - 1];
  launch(s,
         {&x, &y, &positions, &positions, &positions, per_batch ? positions.strides[0] : 0,
          pos_stride, rd / 2, true, false, freq_scale},
         o, stream);
}

} // namespace tessel::ops
