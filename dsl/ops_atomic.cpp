// The atomic operations: read-modify-write of pointer tiles (or scalar pointers) with an optional
// mask, returning the old values. The element-type rule is atomic.h's table, checked here first so
// that a wrong dtype is reported at the user's line with the types the op accepts.
#include "tessel/lang/ops.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"
#include "tessel/ir/atomic.h"
#include "tessel/lang/control.h"

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

// ---- atomic_load, atomic_store, atomic_poll -----------------------------------------------------
// One atomic access per element, with no modification: Triton's orderings are the ones a plain
// access can have (a load acquires, a store releases), so the others are refused here, at the
// user's line, before the verifier would.
namespace {

void require_sem(bool ok, const char* name, const char* allowed, MemSem sem, const SourceLoc& loc) {
  if (!ok)
    fail(loc, name,
         std::string("sem must be ") + allowed + ", got " + ir::mem_sem_name(sem) +
             " (only a read-modify-write atomic both acquires and releases)");
}

} // namespace

static Tensor atomic_load_impl(const Tensor& ptr, const Tensor* mask, MemSem sem, MemScope scope,
                               const SourceLoc& loc) {
  require_sem(sem == MemSem::relaxed || sem == MemSem::acquire, "atomic_load", "relaxed or acquire",
              sem, loc);
  ir::Value* p = atomic_pointer(ptr, Opcode::AtomicLoad, loc);
  return build_atomic(Opcode::AtomicLoad, p, {}, mask ? mask->value(loc) : nullptr, sem, scope,
                      loc);
}

Tensor atomic_load(const Tensor& ptr, MemSem sem, MemScope scope, Loc l) {
  return atomic_load_impl(ptr, nullptr, sem, scope, SourceLoc::from(l));
}
Tensor atomic_load(const Tensor& ptr, const Tensor& mask, MemSem sem, MemScope scope, Loc l) {
  return atomic_load_impl(ptr, &mask, sem, scope, SourceLoc::from(l));
}

static void atomic_store_impl(const Tensor& ptr, const AtomicValue& val, const Tensor* mask,
                              MemSem sem, MemScope scope, const SourceLoc& loc) {
  require_sem(sem == MemSem::relaxed || sem == MemSem::release, "atomic_store",
              "relaxed or release", sem, loc);
  ir::Value* p = atomic_pointer(ptr, Opcode::AtomicStore, loc);
  DType elem = p->type()->element()->pointee()->dtype();
  ir::Value* v = atomic_value(val, elem, Opcode::AtomicStore, loc);
  const char* name = "atomic_store";
  Shape shape(p->type()->dims().begin(), p->type()->dims().end());
  shape = broadcast_shapes(shape, v->type()->dims(), loc, name);
  ir::Value* m = mask ? mask->value(loc) : nullptr;
  if (m && !m->type()->is_bool())
    fail(loc, name,
         "the mask must be a boolean (i1) tile, got " + type_str(m->type()) +
             "; build it from a comparison such as offs < n");
  if (m)
    shape = broadcast_shapes(shape, m->type()->dims(), loc, name);
  std::vector<ir::Value*> operands{broadcast_to_shape(p, shape, loc, name),
                                   broadcast_to_shape(v, shape, loc, name)};
  if (m)
    operands.push_back(broadcast_to_shape(m, shape, loc, name));
  builder_at(loc).create(Opcode::AtomicStore, std::move(operands),
                         std::span<const ir::Type* const>{}, sem_scope(sem, scope));
}

void atomic_store(const Tensor& ptr, AtomicValue val, MemSem sem, MemScope scope, Loc l) {
  atomic_store_impl(ptr, val, nullptr, sem, scope, SourceLoc::from(l));
}
void atomic_store(const Tensor& ptr, AtomicValue val, const Tensor& mask, MemSem sem,
                  MemScope scope, Loc l) {
  atomic_store_impl(ptr, val, &mask, sem, scope, SourceLoc::from(l));
}

// A loop of atomic_loads until no element differs from `expected` (the loop condition is a
// scalar: the count of differing elements). Triton's timeout_ns needs the GPU's global timer,
// which the CPU backend and the simulator do not model, so there is none.
Tensor atomic_poll(const Tensor& ptr, AtomicValue expected, MemSem sem, MemScope scope, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  require_sem(sem == MemSem::relaxed || sem == MemSem::acquire, "atomic_poll", "relaxed or acquire",
              sem, loc);
  ir::Value* p = atomic_pointer(ptr, Opcode::AtomicLoad, loc);
  DType elem = p->type()->element()->pointee()->dtype();
  Tensor want(atomic_value(expected, elem, Opcode::AtomicLoad, loc));
  auto differing = [&] {
    Tensor ne = binary(BinaryOp::Ne, atomic_load_impl(ptr, nullptr, sem, scope, loc), want, loc);
    Tensor count = ne.to(DType::i32, l);
    if (count.rank(l) == 0)
      return count;
    return sum(ravel(count, l), 0, l);
  };
  Tensor pending = differing();
  while_([&] { return binary_scalar(BinaryOp::Ne, pending, 0, true, false, loc); },
         [&] { pending = differing(); }, l);
  Shape shape(p->type()->dims().begin(), p->type()->dims().end());
  return broadcast_to(binary_scalar(BinaryOp::Eq, pending, 0, true, false, loc), shape, l);
}

} // namespace tessel::lang
