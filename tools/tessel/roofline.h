// The static roofline of `tessel compile --emit stats`: a kernel's per-program work from its tile
// IR (codegen/analysis/program_cost.h) against the published peaks of H100 and H200.
#pragma once

#include "tessel/jit/compile.h"

#include <optional>
#include <string>

namespace tessel::tools {

// The "roofline" section for `r` (its optimized tile IR). `trips`: the trip count to assume for
// loops whose trip count is a run-time value; unset: those loops are shown per iteration and the
// intensity is one iteration's (the steady state as the trip count grows).
std::string roofline_text(const CompileResult& r, std::optional<double> trips);

} // namespace tessel::tools
