// What makes a TensorView malformed, whatever it is passed to: its fields are public, so a view
// built by hand (or by a binding) may hold a rank, an extent, a dtype or a device that no
// constructor would have made. Launches (jit/signature.cpp) and the stdlib's argument checks
// (stdlib/common/args.cpp) ask here before they read the shape, so such a view is an error that
// names the argument, never an out-of-bounds read or an unreachable switch case.
#pragma once

#include "tessel/runtime/tensor_view.h"

#include <string>

namespace tessel::runtime {

// "" for a well-formed view; else what is wrong, to follow the argument's name: "has rank 9; a
// TensorView has rank 0 to 8", "has extent -4 in dimension 1; extents must be >= 0", ...
std::string view_problem(const TensorView& view);

} // namespace tessel::runtime
