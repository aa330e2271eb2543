// Checks of a caller's MatmulConfig (config.cpp, beside choose_config). Private to stdlib/matmul/.
#pragma once

#include "stdlib/common/args.h"
#include "tessel/ops/matmul.h"

namespace tessel::ops::detail {

// Block sizes powers of two within the target's limits, group_m, num_warps and num_stages sane;
// errors name the field.
void check_config(const OpSite& s, const MatmulConfig& c, DeviceKind device, DType dtype);

} // namespace tessel::ops::detail
