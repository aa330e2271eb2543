// The atomic ops' vocabulary (include/tessel/ir/atomic.h): names of the orderings and scopes, and
// the element types each atomic op accepts.
#include "tessel/ir/atomic.h"

namespace tessel::ir {

const char* mem_sem_name(MemSem s) {
  switch (s) {
  case MemSem::relaxed:
    return "relaxed";
  case MemSem::acquire:
    return "acquire";
  case MemSem::release:
    return "release";
  case MemSem::acq_rel:
    return "acq_rel";
  }
  TESSEL_UNREACHABLE("bad MemSem");
}

const char* mem_scope_name(MemScope s) {
  switch (s) {
  case MemScope::cta:
    return "cta";
  case MemScope::gpu:
    return "gpu";
  case MemScope::sys:
    return "sys";
  }
  TESSEL_UNREACHABLE("bad MemScope");
}

MemSem atomic_sem(const Op& op) { return static_cast<MemSem>(op.int_attr("sem")); }
MemScope atomic_scope(const Op& op) { return static_cast<MemScope>(op.int_attr("scope")); }

namespace {

enum class Accepts : uint8_t { Integers, IntegersAndFloats, AllFloats };

// What each atomic op applies to. Only add has 16-bit float forms (the GPU's packed red/atom
// .f16x2 and .bf16x2); bitwise ops have no float meaning.
Accepts accepts(Opcode op) {
  switch (op) {
  case Opcode::AtomicAdd:
    return Accepts::AllFloats;
  case Opcode::AtomicAnd:
  case Opcode::AtomicOr:
  case Opcode::AtomicXor:
    return Accepts::Integers;
  case Opcode::AtomicMax:
  case Opcode::AtomicMin:
  case Opcode::AtomicXchg:
  case Opcode::AtomicCas:
  case Opcode::AtomicLoad:
  case Opcode::AtomicStore:
    return Accepts::IntegersAndFloats;
  default:
    TESSEL_UNREACHABLE("not an atomic op"); // callers pass only ATOMIC ops
  }
}

} // namespace

bool atomic_accepts(Opcode op, DType k) {
  const bool wide_int = k == DType::i32 || k == DType::i64 || k == DType::u32 || k == DType::u64;
  const bool wide_float = k == DType::f32 || k == DType::f64;
  switch (accepts(op)) {
  case Accepts::Integers:
    return wide_int;
  case Accepts::IntegersAndFloats:
    return wide_int || wide_float;
  case Accepts::AllFloats:
    return wide_int || wide_float || k == DType::f16 || k == DType::bf16;
  }
  TESSEL_UNREACHABLE("bad Accepts");
}

const char* atomic_accepted_types(Opcode op) {
  switch (accepts(op)) {
  case Accepts::Integers:
    return "i32, i64, u32 or u64";
  case Accepts::IntegersAndFloats:
    return "i32, i64, u32, u64, f32 or f64";
  case Accepts::AllFloats:
    return "i32, i64, u32, u64, f16, bf16, f32 or f64";
  }
  TESSEL_UNREACHABLE("bad Accepts");
}

} // namespace tessel::ir
