// The axis-analysis hints (tessel/lang/hints.h): tl::multiple_of, max_contiguous, max_constancy
// record a `hint` op (ops.def) whose attributes the GPU's axis analysis reads; every backend
// lowers it as its operand, so a hint changes no result.
#include "tessel/lang/hints.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

namespace tessel::lang {

using detail::builder_at;
using detail::fail;
using detail::type_str;

namespace {

// x through a new hint op with `attr` = values. Chained hints are chained ops; the analysis keeps
// the strongest fact of each.
Tensor hint(const Tensor& x, const char* attr, const std::vector<int64_t>& values,
            const SourceLoc& loc) {
  ir::Value* v = x.value(loc);
  const ir::Type* t = v->type();
  const ir::Type* e = t->element();
  if (!e->is_pointer() && (!e->is_integer() || e->is_bool()))
    fail(loc, attr,
         "hints describe integer or pointer tiles (offsets, strides, pointers), got " +
             type_str(t));
  const size_t rank = std::max<size_t>(1, t->rank());
  if (values.size() != rank)
    fail(loc, attr,
         "needs one value per dimension of " + type_str(t) + " (" + std::to_string(rank) +
             "), got " + std::to_string(values.size()));
  for (int64_t value : values)
    if (value < 1)
      fail(loc, attr,
           "values must be positive (a multiple, or a run length in elements), got " +
               std::to_string(value));
  ir::Op* op = builder_at(loc).create(ir::Opcode::Hint, {v}, t);
  op->set_attr(attr, ir::Attr::of_ints(values));
  return Tensor(op->result());
}

} // namespace

Tensor multiple_of(const Tensor& x, int64_t value, Loc l) {
  return hint(x, "multiple_of", {value}, SourceLoc::from(l));
}
Tensor multiple_of(const Tensor& x, const std::vector<int64_t>& values, Loc l) {
  return hint(x, "multiple_of", values, SourceLoc::from(l));
}
Tensor max_contiguous(const Tensor& x, int64_t value, Loc l) {
  return hint(x, "max_contiguous", {value}, SourceLoc::from(l));
}
Tensor max_contiguous(const Tensor& x, const std::vector<int64_t>& values, Loc l) {
  return hint(x, "max_contiguous", values, SourceLoc::from(l));
}
Tensor max_constancy(const Tensor& x, int64_t value, Loc l) {
  return hint(x, "max_constancy", {value}, SourceLoc::from(l));
}
Tensor max_constancy(const Tensor& x, const std::vector<int64_t>& values, Loc l) {
  return hint(x, "max_constancy", values, SourceLoc::from(l));
}

// ---- assume -------------------------------------------------------------------------------------
void assume(const Tensor& cond, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* c = cond.value(loc);
  if (!c->type()->is_bool())
    fail(loc, "assume",
         "the condition must be a boolean (i1) tile or scalar, got " + type_str(c->type()) +
             "; write a comparison, e.g. tl::assume(n % 16 == 0)");
  builder_at(loc).create(ir::Opcode::Assume, {c}, std::span<const ir::Type* const>{});
}

} // namespace tessel::lang
