// Checked memory access for one lane: resolves an address in a state space (or a generic
// address) to host memory, and on the way checks what compute-sanitizer's memcheck,
// racecheck and initcheck would: bounds of allocations and windows, alignment, reads of
// never-written shared/local bytes, shared and global hazards between threads not ordered by
// barriers (vector clocks, see sim/README.md), and reads of bytes a cp.async has not delivered yet.
#pragma once

#include "executor.h"

namespace tessel::sim {

enum class AccessKind : uint8_t { read, write, atomic };

struct Resolved {
  uint8_t* ptr = nullptr;      // null: the access failed and was reported
  Space space = Space::global; // the space the address fell in
  uint32_t offset = 0;         // shared/local offset
};

// `align` is the alignment the access needs (its total size for ld/st vectors). `value`, for
// a write, is the bytes it stores (racecheck lets a global rewrite of identical bytes pass).
Resolved access_memory(Exec& x, const Inst& in, Space space, uint64_t addr, uint32_t size,
                       uint32_t align, uint32_t lane, AccessKind kind,
                       const uint8_t* value = nullptr);

// Records a warp-wide shared access in the profile (bank conflicts, see bank_conflicts.h).
void account_shared(Exec& x, const uint32_t* offsets, uint32_t mask, uint32_t bytes);

// Marks shared bytes as written by `lane` (used when a cp.async lands).
void shared_written(Exec& x, const Inst& in, uint32_t offset, uint32_t size, uint32_t lane);

} // namespace tessel::sim
