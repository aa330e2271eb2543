// The vocabulary of the atomic ops (ops.def's atomic_* rows): their memory-ordering and scope
// attributes, and which element types each accepts. One table, read by the DSL (which reports a
// wrong dtype at the user's line), by the verifier and by both backends.
//
// An atomic op's `sem` attribute is a MemSem and its `scope` a MemScope, stored as the enum's
// integer value (printed `{sem = 3, scope = 1}`: acq_rel at gpu scope, the defaults).
#pragma once

#include "tessel/ir/ir.h"
#include "tessel/ir/mem_order.h"

namespace tessel::ir {

const char* mem_sem_name(MemSem s);     // "relaxed", "acquire", "release", "acq_rel"
const char* mem_scope_name(MemScope s); // "cta", "gpu", "sys"

MemSem atomic_sem(const Op& op);
MemScope atomic_scope(const Op& op);

// True when the atomic op `op` (an opcode with the ATOMIC trait) applies to elements of kind `k`:
// add to i32, i64, u32, u64, f16, bf16, f32, f64; max and min to i32, i64, u32, u64 (compared as
// unsigned), f32, f64; and, or, xor to the four integer types; xchg and cas to those and f32, f64.
bool atomic_accepts(Opcode op, DType k);
// The element types `op` accepts, for messages: "i32, i64, f32 or f64".
const char* atomic_accepted_types(Opcode op);

} // namespace tessel::ir
