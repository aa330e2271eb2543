// The memory orderings and scopes of the atomic ops (include/tessel/ir/atomic.h), on their own so
// that the language's public header (tessel/lang/ops.h) can name them without the IR.
#pragma once

#include <cstdint>

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

} // namespace tessel::ir
