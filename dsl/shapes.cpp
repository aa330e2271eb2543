// join, split, interleave, cat, flip, ravel, gather and histogram, composed from where,
// broadcasts, reshape, permute and picks (dsl/compose.h), plus the helpers compose.h declares.
#include "dsl/compose.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

#include <numeric>

namespace tessel::lang {

using detail::fail;
using detail::shape_str;
using detail::type_str;

namespace detail {

int log2_of(int64_t n) {
  int m = 0;
  while ((int64_t(1) << m) < n)
    ++m;
  return m;
}

int normalize_dim(const Tensor& x, int dim, Loc l, const char* op) {
  SourceLoc loc = SourceLoc::from(l);
  int rank = x.rank(l);
  if (rank == 0)
    fail(loc, op, "needs a tile, got the scalar " + type_str(x.value(loc)->type()));
  int d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank)
    fail(loc, op,
         "dim " + std::to_string(dim) + " does not exist in " + type_str(x.value(loc)->type()) +
             " (valid: " + std::to_string(-rank) + ".." + std::to_string(rank - 1) + ")");
  return d;
}

void require_numbers(const Tensor& x, Loc l, const char* op) {
  SourceLoc loc = SourceLoc::from(l);
  if (x.is_pointer(l))
    fail(loc, op,
         "cannot move the elements of a pointer tile (" + type_str(x.value(loc)->type()) +
             "); apply it to the offsets and add them to the pointer afterwards");
}

Tensor iota_along(int rank, int axis, int64_t n, Loc l) {
  Shape s(size_t(rank), 1);
  s[size_t(axis)] = n;
  return reshape(arange(0, n, l), s, l);
}

Tensor pick(const Tensor& x, int axis, const Tensor& index, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  if (x.dtype(l) == DType::i1) // sums of i1 count; pick in i8 and compare back
    return binary(BinaryOp::Ne, pick(x.to(DType::i8, l), axis, index, l), scalar(0, DType::i8, l),
                  loc);
  Tensor iota = iota_along(x.rank(l), axis, x.shape(l)[size_t(axis)], l);
  Tensor chosen = where(binary(BinaryOp::Eq, iota, index, loc), x, -0.0, l);
  ir::Builder& b = detail::builder_at(loc);
  ir::Value* v = chosen.value(loc);
  Shape out = chosen.shape(l);
  out.erase(out.begin() + axis);
  return Tensor(b.value(ir::Opcode::ReduceSum, {v}, b.ctx().tensor(out, v->type()->element()),
                        {ir::Attr::of_int(axis)}));
}

Tensor pick(const Tensor& x, int axis, int64_t index, Loc l) {
  return pick(x, axis, scalar(double(index), DType::i32, l), l);
}

Tensor axis_to_last(const Tensor& x, int axis, Loc l) {
  int rank = x.rank(l);
  if (axis == rank - 1)
    return x;
  std::vector<int64_t> order;
  for (int d = 0; d < rank; ++d)
    if (d != axis)
      order.push_back(d);
  order.push_back(axis);
  return permute(x, order, l);
}

Tensor last_to_axis(const Tensor& x, int axis, Loc l) {
  int rank = x.rank(l);
  if (axis == rank - 1)
    return x;
  std::vector<int64_t> order;
  for (int d = 0; d < rank - 1; ++d) {
    if (d == axis)
      order.push_back(rank - 1);
    order.push_back(d);
  }
  return permute(x, order, l);
}

Tensor swap_last_two(const Tensor& x, Loc l) {
  std::vector<int64_t> order(size_t(x.rank(l)));
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[order.size() - 1], order[order.size() - 2]);
  return permute(x, order, l);
}

Shape with_tail(const Tensor& x, std::initializer_list<int64_t> tail, Loc l) {
  Shape s = x.shape(l);
  s.pop_back();
  s.insert(s.end(), tail.begin(), tail.end());
  return s;
}

DType default_sum_dtype(DType t) {
  bool narrow_integer = t == DType::i1 || t == DType::i8 || t == DType::i16;
  return narrow_integer ? DType::i32 : t;
}

} // namespace detail

Tensor join(const Tensor& a, const Tensor& b, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  Shape s = detail::broadcast_shapes(a.shape(l), b.shape(l), loc, "join");
  int rank = int(s.size());
  Tensor lo = expand_dims(broadcast_to(a, s, l), rank, l);
  Tensor hi = expand_dims(broadcast_to(b, s, l), rank, l);
  Tensor k = detail::iota_along(rank + 1, rank, 2, l);
  return where(binary(BinaryOp::Eq, k, scalar(0, DType::i32, l), loc), lo, hi, l);
}

std::pair<Tensor, Tensor> split(const Tensor& x, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  int last = detail::normalize_dim(x, -1, l, "split");
  if (x.shape(l).back() != 2)
    fail(loc, "split",
         "the last dim of " + type_str(x.value(loc)->type()) +
             " must be 2 (split undoes join); reshape it to [..., n/2, 2] first");
  detail::require_numbers(x, l, "split");
  return {detail::pick(x, last, 0, l), detail::pick(x, last, 1, l)};
}

Tensor interleave(const Tensor& a, const Tensor& b, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  Tensor j = join(a, b, l);
  if (j.rank(l) < 2)
    fail(loc, "interleave", "needs tiles, got two scalars; use join for a pair");
  Shape s = j.shape(l);
  s.pop_back();
  s.back() *= 2;
  return reshape(j, s, l);
}

Tensor cat(const Tensor& a, const Tensor& b, bool /*can_reorder*/, int dim, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  if (a.shape(l) != b.shape(l))
    fail(loc, "cat",
         "needs two tiles of one shape, got " + type_str(a.value(loc)->type()) + " and " +
             type_str(b.value(loc)->type()) + " (shapes are powers of two: pad the smaller one)");
  int d = detail::normalize_dim(a, dim, l, "cat");
  Tensor j = join(a, b, l);
  int rank = a.rank(l);
  std::vector<int64_t> order;
  for (int i = 0; i < rank; ++i) {
    if (i == d)
      order.push_back(rank); // the new dim of 2 goes in front of the dim it doubles
    order.push_back(i);
  }
  Shape s = a.shape(l);
  s[size_t(d)] *= 2;
  return reshape(permute(j, order, l), s, l);
}

Tensor ravel(const Tensor& x, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  return reshape(x, {x.value(loc)->type()->num_elements()}, l);
}

namespace {

// src[.., index[.., j, ..], ..] along axis for an index that broadcasts against src except there.
Tensor take(const Tensor& src, const Tensor& index, int axis, Loc l) {
  Tensor s = expand_dims(src, axis, l);       // [.., 1, M, ..]
  Tensor i = expand_dims(index, axis + 1, l); // [.., J, 1, ..]
  return detail::pick(s, axis + 1, i, l);
}

} // namespace

Tensor gather(const Tensor& src, const Tensor& index, int axis, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  int a = detail::normalize_dim(src, axis, l, "gather");
  detail::require_numbers(src, l, "gather");
  if (index.is_pointer(l) || dtype_is_float(index.dtype(l)) || index.dtype(l) == DType::i1)
    fail(loc, "gather", "the index must be integers, got " + type_str(index.value(loc)->type()));
  Shape ss = src.shape(l), is = index.shape(l);
  bool fits = ss.size() == is.size();
  for (size_t d = 0; fits && d < ss.size(); ++d)
    fits = int(d) == a || ss[d] == is[d];
  if (!fits)
    fail(loc, "gather",
         "the index " + shape_str(is) + " must have the shape of the source " + shape_str(ss) +
             " except along axis " + std::to_string(a));
  int64_t work = index.value(loc)->type()->num_elements() * ss[size_t(a)];
  if (work > detail::kMaxTileElements)
    fail(loc, "gather",
         "gathering " + shape_str(is) + " from " + std::to_string(ss[size_t(a)]) +
             " positions compares " + std::to_string(work) +
             " pairs, more than a tile holds (2^24); gather from global memory with load instead");
  return take(src, index, a, l);
}

Tensor flip(const Tensor& x, int dim, Loc l) {
  int d = detail::normalize_dim(x, dim, l, "flip");
  detail::require_numbers(x, l, "flip");
  Shape s = x.shape(l);
  int bits = detail::log2_of(s[size_t(d)]);
  if (bits == 0)
    return x;
  // Reversing i in [0, 2^bits) flips every bit of i: split the dim into one dim of 2 per bit and
  // exchange the two positions of each.
  Shape bitwise(s.begin(), s.begin() + d);
  bitwise.insert(bitwise.end(), size_t(bits), 2);
  bitwise.insert(bitwise.end(), s.begin() + d + 1, s.end());
  Tensor y = reshape(x, bitwise, l);
  int rank = int(bitwise.size());
  for (int b = d; b < d + bits; ++b) {
    Tensor other = binary_scalar(BinaryOp::Sub, detail::iota_along(rank, b, 2, l), 1,
                                 /*integral=*/true, /*scalar_on_left=*/true, SourceLoc::from(l));
    y = take(y, other, b, l);
  }
  return reshape(y, s, l);
}

Tensor histogram(const Tensor& x, int num_bins, Loc l) {
  return histogram(x, num_bins, full(x.shape(l), 1, DType::i1, l), l);
}

Tensor histogram(const Tensor& x, int num_bins, const Tensor& mask, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  if (x.rank(l) != 1 || x.is_pointer(l) || dtype_is_float(x.dtype(l)))
    fail(loc, "histogram", "needs a 1-D tile of integers, got " + type_str(x.value(loc)->type()));
  if (num_bins <= 0 || !ir::is_power_of_two(num_bins))
    fail(loc, "histogram",
         "num_bins must be a positive power of two, got " + std::to_string(num_bins));
  if (mask.dtype(l) != DType::i1)
    fail(loc, "histogram", "the mask must be i1, got " + type_str(mask.value(loc)->type()));
  Tensor bins = detail::iota_along(2, 1, num_bins, l); // [1, B]
  Tensor values = expand_dims(x, 1, l);                // [N, 1]
  Tensor hit = binary(BinaryOp::And, binary(BinaryOp::Eq, values, bins, loc),
                      expand_dims(broadcast_to(mask, x.shape(l), l), 1, l), loc);
  return sum(hit.to(DType::i32, l), 0, l);
}

// ---- slice and swizzle2d ------------------------------------------------------------------------
// A slice at a multiple of its length is a reshape of the dim into [n / length, length] and a pick
// of one block; elsewhere a gather of start + arange(0, length). Both copy the elements exactly.
Tensor slice(const Tensor& x, int dim, int64_t start, int64_t length, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  int d = detail::normalize_dim(x, dim, l, "slice");
  detail::require_numbers(x, l, "slice");
  Shape s = x.shape(l);
  const int64_t n = s[size_t(d)];
  if (length < 1 || !ir::is_power_of_two(length) || start < 0 || start + length > n)
    fail(loc, "slice",
         "[" + std::to_string(start) + ", " + std::to_string(start + length) +
             ") must lie in the dim of " + std::to_string(n) + " of " +
             type_str(x.value(loc)->type()) + ", with a power-of-two length (tile shapes are)");
  if (start % length == 0) {
    Shape blocks = s;
    blocks[size_t(d)] = length;
    blocks.insert(blocks.begin() + d, n / length);
    return detail::pick(reshape(x, blocks, l), d, start / length, l);
  }
  Tensor index = detail::iota_along(x.rank(l), d, length, l) + start;
  Shape is = s;
  is[size_t(d)] = length;
  return take(x, broadcast_to(index, is, l), d, l);
}

// Triton's definition, line for line (integer division truncates; the operands are >= 0).
std::pair<Tensor, Tensor> swizzle2d(const Tensor& i, const Tensor& j, const Tensor& size_i,
                                    const Tensor& size_j, const Tensor& size_g, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  for (const Tensor* t : {&i, &j, &size_i, &size_j, &size_g}) {
    const ir::Type* ty = t->value(loc)->type();
    if (ty->is_pointer_like() || !ty->is_integer() || ty->is_bool())
      fail(loc, "swizzle2d",
           "takes integer tiles or scalars (program ids and grid sizes), got " + type_str(ty));
  }
  auto op = [&](BinaryOp o, const Tensor& a, const Tensor& b) { return binary(o, a, b, loc); };
  Tensor ij = op(BinaryOp::Add, op(BinaryOp::Mul, i, size_j), j);
  Tensor size_gj = op(BinaryOp::Mul, size_g, size_j);
  Tensor group_id = op(BinaryOp::Div, ij, size_gj);
  Tensor off_i = op(BinaryOp::Mul, group_id, size_g);
  Tensor rows = minimum(op(BinaryOp::Sub, size_i, off_i), size_g, l);
  Tensor in_group = op(BinaryOp::Rem, ij, size_gj);
  return {op(BinaryOp::Add, off_i, op(BinaryOp::Rem, in_group, rows)),
          op(BinaryOp::Div, in_group, rows)};
}

} // namespace tessel::lang
