// add and mul with NumPy broadcasting: the DSL kernel, the broadcast of the shapes and the launch.
//
// Every shape is padded on the left to rank 4, [d0, d1, d2, n]. One program per output row (an
// index into d0 * d1 * d2, split into (i0, i1, i2) once per program) and block of n columns; each
// operand is read through its own four strides, 0 on a broadcast dimension, so nothing is
// expanded in memory. The last axis's mode is a compile-time constant so that a contiguous
// operand gets 16-byte accesses and a broadcast one (a per-row scale) one value per program.
#include "tessel/ops/elementwise.h"

#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "tessel/lang/ops.h"

#include <fmt/format.h>

#include <array>
#include <climits>

namespace tessel::ops {

namespace tl = tessel::lang;

namespace {

constexpr int kRank = 4;

tl::Tensor i64(const tl::Tensor& t) { return t.to(DType::i64); }

// The element offsets of a block of columns along an operand's last axis.
tl::Tensor column_offsets(const tl::Tensor& cols, const tl::Int& stride, int mode, int block) {
  switch (detail::LastAxis(mode)) {
  case detail::LastAxis::broadcast:
    return tl::zeros({block}, DType::i64);
  case detail::LastAxis::contiguous:
    return i64(cols);
  case detail::LastAxis::strided:
    return i64(cols) * i64(stride);
  }
  TESSEL_UNREACHABLE("unknown LastAxis");
}

} // namespace

namespace detail {

const Kernel& broadcast_binary_kernel() {
  static const Kernel k = tl::kernel(
      "broadcast_binary",
      "y, a, b, d1, d2, n, ys0, ys1, ys2, as0, as1, as2, as3, bs0, bs1, bs2, bs3, OP, A_LAST, "
      "B_LAST, BLOCK",
      [](tl::Ptr y, tl::Ptr a, tl::Ptr b, tl::Int d1, tl::Int d2, tl::Int n, tl::Int ys0,
         tl::Int ys1, tl::Int ys2, tl::Int as0, tl::Int as1, tl::Int as2, tl::Int as3, tl::Int bs0,
         tl::Int bs1, tl::Int bs2, tl::Int bs3, tl::Const<int> OP, tl::Const<int> A_LAST,
         tl::Const<int> B_LAST, tl::Const<int> BLOCK) {
        auto row = tl::program_id(0);
        auto i2 = i64(row % d2), i1 = i64((row / d2) % d1), i0 = i64(row / (d1 * d2));
        auto cols = tl::program_id(1) * BLOCK + tl::arange(0, BLOCK);
        auto in = cols < n;
        auto ar = a + i0 * i64(as0) + i1 * i64(as1) + i2 * i64(as2);
        auto br = b + i0 * i64(bs0) + i1 * i64(bs1) + i2 * i64(bs2);
        auto av = tl::load(ar + column_offsets(cols, as3, A_LAST, BLOCK), in, 0.0).to(DType::f32);
        auto bv = tl::load(br + column_offsets(cols, bs3, B_LAST, BLOCK), in, 0.0).to(DType::f32);
        auto v = BinaryArith(int(OP)) == BinaryArith::add ? av + bv : av * bv;
        tl::store(y + i0 * i64(ys0) + i1 * i64(ys1) + i2 * i64(ys2) + cols, v, in);
      });
  return k;
}

} // namespace detail

namespace {

using detail::OpSite;

// A view's shape and strides padded on the left to rank 4 (missing dimensions: size 1).
struct Rank4 {
  std::array<int64_t, kRank> shape{1, 1, 1, 1};
  std::array<int64_t, kRank> strides{0, 0, 0, 0};
};

Rank4 rank4(const OpSite& s, const char* arg, const TensorView& v) {
  detail::check_float(s, arg, v);
  if (v.rank < 1 || v.rank > kRank)
    s.fail(fmt::format("{} has shape {} (rank {}); expected rank 1 to 4", arg, detail::shape_str(v),
                       v.rank));
  Rank4 r;
  for (int i = 0; i < v.rank; ++i) {
    r.shape[kRank - v.rank + i] = v.shape[i];
    r.strides[kRank - v.rank + i] = v.strides[i];
  }
  return r;
}

std::array<int64_t, kRank> broadcast_shape(const OpSite& s, const TensorView& a, const Rank4& ra,
                                           const TensorView& b, const Rank4& rb) {
  std::array<int64_t, kRank> out{};
  for (int i = 0; i < kRank; ++i) {
    int64_t x = ra.shape[i], y = rb.shape[i];
    if (x != y && x != 1 && y != 1)
      s.fail(fmt::format("a has shape {} and b has shape {}: they do not broadcast ({} against {} "
                         "in the same position from the right); expected equal sizes or 1",
                         detail::shape_str(a), detail::shape_str(b), x, y));
    out[i] = x == 1 ? y : x;
  }
  return out;
}

// An operand's strides as read for the output shape: 0 where it broadcasts.
std::array<int64_t, kRank> read_strides(const Rank4& r, const std::array<int64_t, kRank>& out) {
  std::array<int64_t, kRank> st{};
  for (int i = 0; i < kRank; ++i)
    st[i] = r.shape[i] == 1 && out[i] != 1 ? 0 : r.strides[i];
  return st;
}

std::string shape_of(const std::array<int64_t, kRank>& shape, int rank) {
  std::string str = "[";
  for (int i = kRank - rank; i < kRank; ++i)
    str += fmt::format("{}{}", i > kRank - rank ? ", " : "", shape[i]);
  return str + "]";
}

void check_output(const OpSite& s, const TensorView& y, const Rank4& ry,
                  const std::array<int64_t, kRank>& out, int out_rank) {
  if (y.rank != out_rank || ry.shape != out)
    s.fail(fmt::format("y has shape {} but a and b broadcast to {}; expected shape {}",
                       detail::shape_str(y), shape_of(out, out_rank), shape_of(out, out_rank)));
  if (y.numel() == 0) // no element is written: its strides do not matter
    return;
  if (out[kRank - 1] > 1 && ry.strides[kRank - 1] != 1)
    s.fail(fmt::format("y's last dimension has stride {}; the last dimension must be contiguous "
                       "(stride 1): write to a contiguous tensor and copy",
                       ry.strides[kRank - 1]));
  for (int i = 0; i < kRank - 1; ++i)
    if (out[i] > 1 && ry.strides[i] == 0)
      s.fail("y has stride 0 in a dimension of size > 1; an output may not broadcast (its "
             "elements would be written more than once)");
}

int last_axis_mode(int64_t stride) {
  return int(stride == 0   ? detail::LastAxis::broadcast
             : stride == 1 ? detail::LastAxis::contiguous
                           : detail::LastAxis::strided);
}

// Sizes and strides go to the kernel as 32-bit integers.
void check_32bit(const OpSite& s, const std::array<int64_t, kRank>& out,
                 std::initializer_list<const std::array<int64_t, kRank>*> strides) {
  bool fits = out[0] * out[1] * out[2] <= INT32_MAX && out[3] <= INT32_MAX;
  for (const auto* st : strides)
    for (int64_t v : *st)
      fits = fits && v >= 0 && v <= INT32_MAX;
  if (!fits)
    s.fail("a, b or y has more than 2^31 - 1 rows, columns or elements between neighbours, or a "
           "negative stride; the kernel takes 32-bit non-negative sizes and strides");
}

// Rows shorter than a block where a, b and y are all contiguous: one row of every element
// instead, so that a program covers a whole block rather than one short row (at 32768 x 128 one
// program per row spent most of its time starting programs on the CPU).
void flatten_short_rows(std::array<int64_t, kRank>& out,
                        std::initializer_list<std::array<int64_t, kRank>*> strides) {
  const int64_t n = out[3], total = out[0] * out[1] * out[2] * n;
  const std::array<int64_t, kRank> dense{out[1] * out[2] * n, out[2] * n, n, 1};
  if (total == n || n >= detail::kBinaryBlock || total > INT32_MAX - detail::kBinaryBlock)
    return;
  for (const auto* st : strides)
    for (int i = 0; i < kRank; ++i)
      if (out[i] > 1 && (*st)[i] != dense[i])
        return;
  out = {1, 1, 1, total};
  for (auto* st : strides)
    *st = {0, 0, 0, 1};
}

void binary(const OpSite& s, detail::BinaryArith op, const TensorView& a, const TensorView& b,
            const TensorView& y, Stream* stream) {
  Rank4 ra = rank4(s, "a", a), rb = rank4(s, "b", b), ry = rank4(s, "y", y);
  auto out = broadcast_shape(s, a, ra, b, rb);
  check_output(s, y, ry, out, std::max(a.rank, b.rank));
  detail::check_device(s, "b", b, "a", a);
  detail::check_device(s, "y", y, "a", a);
  if (y.numel() == 0)
    return;
  for (auto [arg, v] : {std::pair{"a", &a}, std::pair{"b", &b}, std::pair{"y", &y}})
    if (v->data == nullptr)
      s.fail(fmt::format("{} has shape {} but a null data pointer", arg, detail::shape_str(*v)));
  auto as = read_strides(ra, out), bs = read_strides(rb, out);
  check_32bit(s, out, {&as, &bs, &ry.strides});
  flatten_short_rows(out, {&as, &bs, &ry.strides});
  const int64_t rows = out[0] * out[1] * out[2], n = out[3];
  int block = detail::block_for(s, n, detail::kBinaryBlock, 0);
  detail::broadcast_binary_kernel().launch(
      detail::grid_at(s, rows, (n + block - 1) / block), detail::launch_options(block, stream), y,
      a, b, out[1], out[2], n, ry.strides[0], ry.strides[1], ry.strides[2], as[0], as[1], as[2],
      as[3], bs[0], bs[1], bs[2], bs[3], int(op), last_axis_mode(as[3]), last_axis_mode(bs[3]),
      block);
}

} // namespace

void add(const TensorView& a, const TensorView& b, const TensorView& y, const BinaryOptions&,
         Stream* stream, std::source_location where) {
  binary(OpSite{"add", where}, detail::BinaryArith::add, a, b, y, stream);
}

void mul(const TensorView& a, const TensorView& b, const TensorView& y, const BinaryOptions&,
         Stream* stream, std::source_location where) {
  binary(OpSite{"mul", where}, detail::BinaryArith::mul, a, b, y, stream);
}

} // namespace tessel::ops
