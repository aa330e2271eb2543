// MatmulOptions::persistent: whether a call runs the persistent tile kernel
// (matmul_kernels.h), and how many programs it launches. Private to stdlib/matmul/.
#pragma once

#include "stdlib/common/args.h"
#include "tessel/ops/matmul.h"

#include <cstdint>

namespace tessel::ops::detail {

// on: persistent (an error naming the option with split_k > 1); off and automatic: not (automatic
// waits for a GPU measurement that shows persistence helps: docs/stdlib.md, "matmul config").
bool use_persistent(const OpSite& site, const MatmulOptions& options);

// The programs that run at once on `device` (`device_index` for a GPU): the GPU's SM count,
// TESSEL_SIM_SM_COUNT on the simulated device (4 when unset; a value outside 1..1024 is an error
// naming it), the CPU backend's worker threads.
int64_t multiprocessor_count(DeviceKind device, int device_index);

// The persistent grid along tiles: one program per multiprocessor, never more than the tiles.
int64_t persistent_programs(DeviceKind device, int device_index, int64_t tiles);

} // namespace tessel::ops::detail
