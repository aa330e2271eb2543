// Reductions along an axis (built-in and with a user combine), scans, and dot.
#include "tessel/lang/ops.h"

#include "dsl/compose.h"
#include "dsl/tracer.h"
#include "dsl/type_rules.h"

#include <optional>

namespace tessel::lang {

using detail::builder_at;
using detail::fail;
using detail::shape_str;
using detail::type_str;
using ir::Attr;
using ir::Opcode;

namespace {

int normalize_axis(const ir::Value* v, int axis, const SourceLoc& loc, const char* op) {
  int rank = int(v->type()->rank());
  if (rank == 0)
    fail(loc, op, "cannot reduce a scalar (" + type_str(v->type()) + ")");
  int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    fail(loc, op,
         "axis " + std::to_string(axis) + " does not exist in " + type_str(v->type()) + " (rank " +
             std::to_string(rank) + ", valid axes 0.." + std::to_string(rank - 1) + ")");
  return a;
}

const ir::Type* without_axis(ir::Context& ctx, const ir::Type* t, int axis, const ir::Type* elem) {
  Shape s(t->dims().begin(), t->dims().end());
  s.erase(s.begin() + axis);
  return ctx.tensor(s, elem);
}

ir::Value* reducible(const Tensor& x, const SourceLoc& loc, const char* op) {
  ir::Value* v = x.value(loc);
  if (v->type()->is_pointer_like())
    fail(loc, op, "cannot reduce pointers (" + type_str(v->type()) + ")");
  if (v->type()->is_bool())
    v = detail::convert(v, DType::i32, loc);
  // Not yet lowered (docs/semantics.md, "Unsigned integers" and "fp8"): say so at trace time.
  const DType t = v->type()->element()->dtype();
  if (dtype_is_fp8(t))
    fail(loc, op,
         std::string("cannot reduce ") + dtype_name(t) +
             " (fp8 is a storage format); convert first, e.g. x.to(tl::f32)");
  // sum, max, min, argmax, argmin order and add unsigned tiles as unsigned numbers (issue 14).
  const std::string_view name(op);
  const bool unsigned_ok =
      name == "sum" || name == "max" || name == "min" || name == "argmax" || name == "argmin";
  if (dtype_is_unsigned(t) && !unsigned_ok)
    fail(loc, op,
         std::string("is not implemented for unsigned ") + dtype_name(t) +
             " tiles; convert to a wider signed type first, e.g. x.to(tl::i64)");
  return v;
}

Tensor builtin_reduce(Opcode opcode, const char* op, const Tensor& x, int axis, Loc l,
                      bool index_result) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* v = reducible(x, loc, op);
  int a = normalize_axis(v, axis, loc, op);
  ir::Builder& b = builder_at(loc);
  const ir::Type* elem = index_result ? b.ctx().i32() : v->type()->element();
  return Tensor(b.value(opcode, {v}, without_axis(b.ctx(), v->type(), a, elem), {Attr::of_int(a)}));
}

} // namespace

// i1/i8/i16 sum in i32 unless a dtype is given (Triton's rule; docs/language.md).
Tensor sum(const Tensor& x, int axis, Loc l) {
  return detail::raw_sum(x.to(detail::default_sum_dtype(x.dtype(l)), l), axis, l);
}

Tensor detail::raw_sum(const Tensor& x, int axis, Loc l) {
  return builtin_reduce(Opcode::ReduceSum, "sum", x, axis, l, false);
}
Tensor max(const Tensor& x, int axis, Loc l) {
  return builtin_reduce(Opcode::ReduceMax, "max", x, axis, l, false);
}
Tensor min(const Tensor& x, int axis, Loc l) {
  return builtin_reduce(Opcode::ReduceMin, "min", x, axis, l, false);
}
Tensor argmax(const Tensor& x, int axis, Loc l) {
  return builtin_reduce(Opcode::ReduceArgmax, "argmax", x, axis, l, true);
}
Tensor argmin(const Tensor& x, int axis, Loc l) {
  return builtin_reduce(Opcode::ReduceArgmin, "argmin", x, axis, l, true);
}

Tensor reduce(const Tensor& x, int axis, const std::function<Tensor(Tensor, Tensor)>& combine,
              Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* v = reducible(x, loc, "reduce");
  int a = normalize_axis(v, axis, loc, "reduce");
  detail::Tracer& tracer = detail::Tracer::current(loc);
  ir::Builder& b = builder_at(loc);
  const ir::Type* elem = v->type()->element();
  ir::Op* op =
      b.create(Opcode::Reduce, {v}, without_axis(b.ctx(), v->type(), a, elem), {Attr::of_int(a)});
  ir::Block& region = op->region(0);
  ir::Value* lhs = region.add_arg(elem);
  ir::Value* rhs = region.add_arg(elem);

  ir::InsertionGuard guard(b);
  b.set_insertion_point_to_end(region);
  tracer.push_frame();
  std::optional<Tensor> r;
  try {
    r = combine(Tensor(lhs), Tensor(rhs));
  } catch (...) {
    tracer.pop_frame();
    throw;
  }
  auto assigned = tracer.pop_frame();
  if (!assigned.empty())
    fail(loc, "reduce", "the combine function must not reassign handles from outside it");
  for (const auto& inner : region.ops())
    if (!inner->has(ir::PURE))
      fail(loc, "reduce",
           std::string("the combine function may only compute (found '") + inner->name() +
               "'); loads, stores and control flow are not allowed");
  if (!r->is_scalar())
    fail(loc, "reduce",
         "the combine function must return a scalar, got " + type_str(r->value()->type()));
  ir::Value* result = detail::convert(r->value(), elem->dtype(), loc);
  b.set_location(loc);
  b.create(Opcode::Yield, {result}, std::span<const ir::Type* const>{});
  return Tensor(op->result());
}

Tensor cumsum(const Tensor& x, int axis, Loc l) { return cumsum(x, axis, ScanOptions{}, l); }

Tensor detail::raw_cumsum(const Tensor& x, int axis, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* v = reducible(x, loc, "cumsum");
  int a = normalize_axis(v, axis, loc, "cumsum");
  return Tensor(builder_at(loc).value(Opcode::ScanSum, {v}, v->type(), {Attr::of_int(a)}));
}

static Tensor dot_impl(const Tensor& a, const Tensor& b, const Tensor* acc, const SourceLoc& loc,
                       std::optional<Precision> precision = std::nullopt) {
  ir::Value* x = a.value(loc);
  ir::Value* y = b.value(loc);
  if (x->type()->rank() != 2 || y->type()->rank() != 2)
    fail(loc, "dot",
         "operands must be 2-D tiles, got " + type_str(x->type()) + " and " + type_str(y->type()));
  if (x->type()->is_pointer_like() || y->type()->is_pointer_like())
    fail(loc, "dot", "operands must be numbers, not pointers");
  auto xs = x->type()->dims();
  auto ys = y->type()->dims();
  if (xs[1] != ys[0])
    fail(loc, "dot",
         "inner dimensions differ: " + type_str(x->type()) + " times " + type_str(y->type()) +
             " (" + std::to_string(xs[1]) + " vs " + std::to_string(ys[0]) + ")");
  // fp8 operands stay as they are, also as a mixed e4m3 x e5m2 pair (mma.sync's .e4m3.e5m2),
  // and always sum in f32; every other pair is promoted to one type.
  const bool fp8 = dtype_is_fp8(a.dtype()) && dtype_is_fp8(b.dtype());
  DType t = fp8 ? a.dtype() : detail::promote(a.dtype(), b.dtype());
  // u8 x u8 -> i32 is a tensor-core product (mma .u8); wider unsigned operands have none.
  if (dtype_is_unsigned(t) && t != DType::u8)
    fail(loc, "dot",
         std::string("operands of type ") + dtype_name(t) +
             " are not supported yet; convert them to u8, i8 or i32 first");
  if (!fp8) {
    x = detail::convert(x, t, loc);
    y = detail::convert(y, t, loc);
  }
  DType acc_type = dtype_is_float(t) ? (t == DType::f64 ? DType::f64 : DType::f32) : DType::i32;
  Shape out{xs[0], ys[1]};
  ir::Value* c;
  if (acc) {
    c = acc->value(loc);
    auto cs = c->type()->dims();
    if (Shape(cs.begin(), cs.end()) != out)
      fail(loc, "dot",
           "the accumulator is " + type_str(c->type()) + " but the product is " + shape_str(out));
    if (dtype_is_float(acc->dtype()) != dtype_is_float(t))
      fail(loc, "dot",
           "accumulator " + type_str(c->type()) + " does not match operand type " + dtype_name(t));
    if (fp8 && acc->dtype() != DType::f32)
      fail(loc, "dot",
           "fp8 operands accumulate in f32, the accumulator is " + type_str(c->type()) +
               "; pass an f32 accumulator and convert the result");
    acc_type = acc->dtype();
  } else {
    c = detail::constant_like(0, acc_type, out, loc);
  }
  std::vector<Attr> attrs;
  if (precision) {
    if (t != DType::f32)
      fail(loc, "dot",
           std::string("a precision applies to f32 operands only, the operands are ") +
               dtype_name(t) + "; drop the precision argument");
    attrs.push_back(Attr::of_int(static_cast<int64_t>(*precision)));
  }
  ir::Builder& bld = builder_at(loc);
  return Tensor(bld.value(Opcode::Dot, {x, y, c}, c->type(), std::move(attrs)));
}

Tensor dot(const Tensor& a, const Tensor& b, Loc l) {
  return dot_impl(a, b, nullptr, SourceLoc::from(l));
}
Tensor dot(const Tensor& a, const Tensor& b, const Tensor& acc, Loc l) {
  return dot_impl(a, b, &acc, SourceLoc::from(l));
}
Tensor dot(const Tensor& a, const Tensor& b, Precision precision, Loc l) {
  return dot_impl(a, b, nullptr, SourceLoc::from(l), precision);
}
Tensor dot(const Tensor& a, const Tensor& b, const Tensor& acc, Precision precision, Loc l) {
  return dot_impl(a, b, &acc, SourceLoc::from(l), precision);
}

} // namespace tessel::lang
