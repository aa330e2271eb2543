// The device runtime's system calls the simulator provides: vprintf and __assertfail
// (exec_printf.cpp).
#pragma once

#include "executor.h"

namespace tessel::sim {

// Runs `call` of the undefined function `callee` for the lanes of `mask` when it is one of the
// system calls above; false (nothing done) otherwise.
bool call_builtin(Exec& x, const Inst& in, uint32_t mask, const Function& callee);

} // namespace tessel::sim
