// The stdlib's DSL kernels, for tests and tools that compile them on their own (PTX for a GPU
// target, resource reports). Private to stdlib/ and tests/stdlib/.
#pragma once

#include "tessel/jit/kernel.h"

namespace tessel::ops::detail {

const Kernel& softmax_forward_kernel();
const Kernel& softmax_backward_kernel();

} // namespace tessel::ops::detail
