// Checks of a caller's MatmulConfig (config.cpp, beside choose_config). Private to stdlib/matmul/.
#pragma once

#include "stdlib/common/args.h"
#include "tessel/ops/matmul.h"

#include <vector>

namespace tessel::ops::detail {

// Block sizes powers of two within the target's limits, group_m, num_warps and num_stages sane;
// errors name the field.
void check_config(const OpSite& s, const MatmulConfig& c, DeviceKind device, DType dtype);

// The configs MatmulOptions::autotune chooses among on a GPU or the simulated device for `dtype`
// operands (docs/stdlib.md, "matmul autotuning"): every config choose_config gives for a GPU,
// then its neighbours (a deeper ring, the other warp count, the other tile shapes).
std::vector<MatmulConfig> tuning_candidates(DType dtype);

} // namespace tessel::ops::detail
