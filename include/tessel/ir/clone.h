// A deep copy of a kernel: the GPU backend plans (assign-layouts, ..., allocate-shared) on a copy
// so that the traced kernel, which the CPU backend and later specializations still read, keeps no
// layouts.
#pragma once

#include "tessel/ir/ir.h"

#include <memory>

namespace tessel::ir {

// A new module holding a copy of `function`: its types, layouts and interned source locations
// re-made in the new module's context, every op, attribute, region and block argument copied.
// print(*clone->functions.front()) == print(function).
std::unique_ptr<Module> clone_function(const Function& function);

} // namespace tessel::ir
