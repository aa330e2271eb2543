// Values out of nothing (program ids, ranges, constants) and shape manipulation.
#include "tessel/lang/ops.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

#include <algorithm>
#include <numeric>

namespace tessel::lang {

using detail::builder_at;
using detail::check_shape;
using detail::fail;
using detail::shape_str;
using detail::type_str;
using ir::Attr;
using ir::Opcode;

static Tensor grid_query(Opcode opcode, const char* name, int axis, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  if (axis < 0 || axis > 2)
    fail(loc, name, "axis must be 0, 1 or 2, got " + std::to_string(axis));
  ir::Builder& b = builder_at(loc);
  return Tensor(b.value(opcode, {}, b.ctx().i32(), {Attr::of_int(axis)}));
}

Tensor program_id(int axis, Loc l) { return grid_query(Opcode::ProgramId, "program_id", axis, l); }
Tensor num_programs(int axis, Loc l) {
  return grid_query(Opcode::NumPrograms, "num_programs", axis, l);
}

Tensor arange(int64_t start, int64_t end, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  if (start < INT32_MIN || start > INT32_MAX || end < INT32_MIN || end > INT32_MAX)
    fail(loc, "arange",
         "bounds [" + std::to_string(start) + ", " + std::to_string(end) + ") must fit in i32");
  int64_t n = end - start;
  if (n <= 0 || !ir::is_power_of_two(n))
    fail(loc, "arange",
         "the range [" + std::to_string(start) + ", " + std::to_string(end) + ") has " +
             std::to_string(n) + " elements; it must be a positive power of two");
  check_shape(Shape{n}, loc, "arange");
  ir::Builder& b = builder_at(loc);
  return Tensor(b.value(Opcode::Arange, {}, b.ctx().tensor({n}, b.ctx().i32()),
                        {Attr::of_int(start), Attr::of_int(end)}));
}

Tensor arange(int64_t, const Tensor& end, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  fail(loc, "arange",
       "the bounds must be compile-time constants (C++ integers or Const<int> parameters), but "
       "`end` is a run-time value of type " +
           type_str(end.value(loc)->type()) + "; use a Const<int> block size and a mask instead");
}

Tensor full(const Shape& shape, double value, DType dtype, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  check_shape(shape, loc, "full");
  return Tensor(detail::constant_like(value, dtype, shape, loc));
}

Tensor zeros(const Shape& shape, DType dtype, Loc l) {
  check_shape(shape, SourceLoc::from(l), "zeros");
  return full(shape, 0, dtype, l);
}

Tensor scalar(double value, DType dtype, Loc l) {
  return Tensor(detail::constant_like(value, dtype, {}, SourceLoc::from(l)));
}

Tensor splat(const Tensor& s, const Shape& shape, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* v = s.value(loc);
  if (v->type()->rank() != 0)
    fail(loc, "splat",
         "needs a scalar, got " + type_str(v->type()) + "; use broadcast_to for tiles");
  check_shape(shape, loc, "splat");
  return Tensor(detail::broadcast_to_shape(v, shape, loc, "splat"));
}

Tensor broadcast_to(const Tensor& x, const Shape& shape, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  check_shape(shape, loc, "broadcast_to");
  return Tensor(detail::broadcast_to_shape(x.value(loc), shape, loc, "broadcast_to"));
}

Tensor reshape(const Tensor& x, const Shape& shape, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  check_shape(shape, loc, "reshape");
  ir::Value* v = x.value(loc);
  int64_t n = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
  if (n != v->type()->num_elements())
    fail(loc, "reshape",
         "cannot reshape " + type_str(v->type()) + " (" +
             std::to_string(v->type()->num_elements()) + " elements) to " + shape_str(shape) +
             " (" + std::to_string(n) + " elements)");
  ir::Builder& b = builder_at(loc);
  const ir::Type* t = b.ctx().tensor(shape, v->type()->element());
  if (t == v->type())
    return x;
  if (v->type()->rank() == 0)
    return Tensor(b.value(Opcode::Splat, {v}, t));
  return Tensor(b.value(Opcode::Reshape, {v}, t));
}

Tensor expand_dims(const Tensor& x, int axis, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* v = x.value(loc);
  int rank = int(v->type()->rank());
  if (axis < 0)
    axis += rank + 1;
  if (axis < 0 || axis > rank)
    fail(loc, "expand_dims",
         "axis " + std::to_string(axis) + " is out of range for " + type_str(v->type()) +
             " (valid: 0.." + std::to_string(rank) + ")");
  Shape s = x.shape();
  s.insert(s.begin() + axis, 1);
  ir::Builder& b = builder_at(loc);
  return Tensor(b.value(Opcode::ExpandDims, {v}, b.ctx().tensor(s, v->type()->element()),
                        {Attr::of_int(axis)}));
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& order, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* v = x.value(loc);
  Shape in = x.shape();
  std::vector<int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  bool is_perm = sorted.size() == in.size();
  for (size_t i = 0; is_perm && i < sorted.size(); ++i)
    is_perm = sorted[i] == int64_t(i);
  if (!is_perm)
    fail(loc, "permute",
         "order " + shape_str(order) + " is not a permutation of the " + std::to_string(in.size()) +
             " dims of " + type_str(v->type()));
  Shape out;
  for (int64_t d : order)
    out.push_back(in[size_t(d)]);
  ir::Builder& b = builder_at(loc);
  return Tensor(b.value(Opcode::Permute, {v}, b.ctx().tensor(out, v->type()->element()),
                        {Attr::of_ints(order)}));
}

Tensor trans(const Tensor& x, Loc l) {
  std::vector<int64_t> order(size_t(x.rank()));
  std::iota(order.rbegin(), order.rend(), 0);
  return permute(x, order, l);
}

} // namespace tessel::lang
