// The atomic operations: read-modify-write of pointer tiles (or scalar pointers) with an optional
// mask, returning the old values. The element-type rule is atomic.h's table, checked here first so
// that a wrong dtype is reported at the user's line with the types the op accepts.
#include "tessel/lang/ops.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"
#include "tessel/ir/atomic.h"

namespace tessel::lang {

using detail::broadcast_shapes;
using detail::broadcast_to_shape;
using detail::builder_at;
using detail::fail;
using detail::type_str;
using ir::Opcode;

namespace {

// The pointer operand, checked: a pointer whose pointee the op applies to.
ir::Value* atomic_pointer(const Tensor& ptr, Opcode op, const SourceLoc& loc) {
  const char* name = ir::op_info(op).name;
  ir::Value* p = ptr.value(loc);
  if (!p->type()->is_pointer_like())
    fail(loc, name,
         "the first operand must be a pointer or a tile of pointers, got " + type_str(p->type()) +
             " (did you forget to add offsets to a Ptr?)");
  const ir::Type* pointee = p->type()->element()->pointee();
  if (pointee->is_pointer() || !ir::atomic_accepts(op, pointee->dtype()))
    fail(loc, name,
         std::string("applies to ") + ir::atomic_accepted_types(op) +
             " elements, but the pointer's elements are " + dtype_name(pointee->dtype()) +
             "; pass a pointer to one of those types");
  return p;
}

// A value operand in the pointee type: a tile converted, or a number that type can hold.
ir::Value* atomic_value(const AtomicValue& v, DType elem, Opcode op, const SourceLoc& loc) {
  const char* name = ir::op_info(op).name;
  if (v.tensor) {
    ir::Value* t = v.tensor->value(loc);
    if (t->type()->is_pointer_like())
      fail(loc, name,
           "the value must be a number or a tile of numbers, got " + type_str(t->type()));
    return detail::convert(t, elem, loc);
  }
  if (!dtype_is_float(elem) && !integer_fits(v.number, elem))
    fail(loc, name,
         "the value " + detail::format_value(v.number) + " is not a " + dtype_name(elem) +
             " (the pointer's element type); pass a value of " + dtype_name(elem));
  return detail::constant_like(v.number, elem, {}, loc);
}

std::vector<ir::Attr> sem_scope(MemSem sem, MemScope scope) {
  return {ir::Attr::of_int(static_cast<int64_t>(sem)),
          ir::Attr::of_int(static_cast<int64_t>(scope))};
}

Tensor build_atomic(Opcode op, ir::Value* ptr, std::vector<ir::Value*> values, ir::Value* mask,
                    MemSem sem, MemScope scope, const SourceLoc& loc) {
  const char* name = ir::op_info(op).name;
  Shape shape(ptr->type()->dims().begin(), ptr->type()->dims().end());
  for (ir::Value* v : values)
    shape = broadcast_shapes(shape, v->type()->dims(), loc, name);
  if (mask) {
    if (!mask->type()->is_bool())
      fail(loc, name,
           "the mask must be a boolean (i1) tile, got " + type_str(mask->type()) +
               "; build it from a comparison such as offs < n");
    shape = broadcast_shapes(shape, mask->type()->dims(), loc, name);
  }
  std::vector<ir::Value*> operands{broadcast_to_shape(ptr, shape, loc, name)};
  for (ir::Value* v : values)
    operands.push_back(broadcast_to_shape(v, shape, loc, name));
  if (mask)
    operands.push_back(broadcast_to_shape(mask, shape, loc, name));
  ir::Builder& b = builder_at(loc);
  const ir::Type* result = b.ctx().tensor(shape, ptr->type()->element()->pointee());
  return Tensor(b.value(op, operands, result, sem_scope(sem, scope)));
}

Tensor rmw(Opcode op, const Tensor& ptr, const AtomicValue& val, const Tensor* mask, MemSem sem,
           MemScope scope, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* p = atomic_pointer(ptr, op, loc);
  DType elem = p->type()->element()->pointee()->dtype();
  return build_atomic(op, p, {atomic_value(val, elem, op, loc)}, mask ? mask->value(loc) : nullptr,
                      sem, scope, loc);
}

} // namespace

#define TESSEL_ATOMIC_RMW(NAME, OPCODE)                                                            \
  Tensor NAME(const Tensor& ptr, AtomicValue val, MemSem sem, MemScope scope, Loc l) {             \
    return rmw(Opcode::OPCODE, ptr, val, nullptr, sem, scope, l);                                  \
  }                                                                                                \
  Tensor NAME(const Tensor& ptr, AtomicValue val, const Tensor& mask, MemSem sem, MemScope scope,  \
              Loc l) {                                                                             \
    return rmw(Opcode::OPCODE, ptr, val, &mask, sem, scope, l);                                    \
  }
TESSEL_ATOMIC_RMW(atomic_add, AtomicAdd)
TESSEL_ATOMIC_RMW(atomic_max, AtomicMax)
TESSEL_ATOMIC_RMW(atomic_min, AtomicMin)
TESSEL_ATOMIC_RMW(atomic_and, AtomicAnd)
TESSEL_ATOMIC_RMW(atomic_or, AtomicOr)
TESSEL_ATOMIC_RMW(atomic_xor, AtomicXor)
TESSEL_ATOMIC_RMW(atomic_xchg, AtomicXchg)
#undef TESSEL_ATOMIC_RMW

Tensor atomic_cas(const Tensor& ptr, AtomicValue cmp, AtomicValue val, MemSem sem, MemScope scope,
                  Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* p = atomic_pointer(ptr, Opcode::AtomicCas, loc);
  DType elem = p->type()->element()->pointee()->dtype();
  return build_atomic(Opcode::AtomicCas, p,
                      {atomic_value(cmp, elem, Opcode::AtomicCas, loc),
                       atomic_value(val, elem, Opcode::AtomicCas, loc)},
                      nullptr, sem, scope, loc);
}

} // namespace tessel::lang
