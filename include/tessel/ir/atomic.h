// The vocabulary of the atomic ops (ops.def's atomic_* rows): their memory-ordering and scope
// attributes, and which element types each accepts. One table, read by the DSL (which reports a
// wrong dtype at the user's line), by the verifier and by both backends.
//
// An atomic op's `sem` attribute is a MemSem and its `scope` a MemScope, stored as the enum's
// integer value (printed `{sem = 3, scope = 1}`: acq_rel at gpu scope, the defaults).
#pragma once

#include "tessel/ir/ir.h"

namespace tessel::ir {

// The ordering an atomic gives, as in C++ and the PTX memory model: relaxed orders nothing but
// the atomic itself; acquire makes later accesses of the program wait for it; release makes it
// wait for earlier ones; acq_rel both. Order matters: the values are what the IR stores.
enum class MemSem : uint8_t { relaxed, acquire, release, acq_rel };
// Which threads the ordering is promised to: the program's own (cta: one thread block), every
// program of the launch (gpu), or the host and other devices as well (sys).
enum class MemScope : uint8_t { cta, gpu, sys };

inline constexpr int kNumMemSems = 4;
inline constexpr int kNumMemScopes = 3;

const char* mem_sem_name(MemSem s);     // "relaxed", "acquire", "release", "acq_rel"
const char* mem_scope_name(MemScope s); // "cta", "gpu", "sys"

MemSem atomic_sem(const Op& op);
MemScope atomic_scope(const Op& op);

// True when the atomic op `op` (an opcode with the ATOMIC trait) applies to elements of kind `k`:
// add to i32, i64, f16, bf16, f32, f64; max and min to i32, i64, f32, f64; and, or, xor to i32 and
// i64; xchg and cas to i32, i64, f32, f64.
bool atomic_accepts(Opcode op, ScalarKind k);
// The element types `op` accepts, for messages: "i32, i64, f32 or f64".
const char* atomic_accepted_types(Opcode op);

} // namespace tessel::ir
