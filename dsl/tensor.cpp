// Tensor handles: copy/assignment semantics (reassignment inside a control-flow body is recorded
// so the body's carried values can be found) and element/shape queries.
#include "tessel/lang/tensor.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

namespace tessel::lang {

using detail::Tracer;

static int current_depth() {
  Tracer* t = Tracer::current_or_null();
  return t ? t->depth() : 0;
}

static uint64_t current_trace() {
  Tracer* t = Tracer::current_or_null();
  return t ? t->id() : 0;
}

Tensor::Tensor(ir::Value* v) : value_(v), trace_(current_trace()), depth_(current_depth()) {}
Tensor::Tensor(const Tensor& other)
    : value_(other.value_), trace_(other.trace_), depth_(current_depth()) {}
Tensor::Tensor(Tensor&& other) noexcept
    : value_(other.value_), trace_(other.trace_), depth_(current_depth()) {}

void Tensor::assign(ir::Value* v) {
  // A value from another trace is no value here (and must not be looked at: its IR is freed).
  if (Tracer* t = Tracer::current_or_null())
    t->note_assignment(this, depth_, trace_ == t->id() ? value_ : nullptr);
  value_ = v;
  trace_ = current_trace();
}

Tensor& Tensor::operator=(const Tensor& other) {
  if (this != &other) {
    assign(other.value_);
    trace_ = other.trace_; // a handle from another trace stays one
  }
  return *this;
}

Tensor& Tensor::operator=(Tensor&& other) { return *this = static_cast<const Tensor&>(other); }

ir::Value* Tensor::value(const SourceLoc& use) const {
  if (!value_)
    throw Error(use, "use of an empty tile handle (a default-constructed Tensor that was never "
                     "assigned)");
  Tracer* t = Tracer::current_or_null();
  if (!t || t->id() != trace_)
    detail::fail_foreign_handle(use, trace_, t);
  return value_;
}

DType Tensor::dtype(std::source_location loc) const {
  const ir::Type* e = value(SourceLoc::from(loc))->type()->element();
  if (e->is_pointer())
    e = e->pointee();
  return e->dtype();
}

bool Tensor::is_pointer(std::source_location loc) const {
  return value(SourceLoc::from(loc))->type()->is_pointer_like();
}

Shape Tensor::shape(std::source_location loc) const {
  auto d = value(SourceLoc::from(loc))->type()->dims();
  return Shape(d.begin(), d.end());
}

int Tensor::rank(std::source_location loc) const {
  return int(value(SourceLoc::from(loc))->type()->rank());
}

} // namespace tessel::lang
