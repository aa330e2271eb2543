// Whether fp8 operands can multiply where they are (fp8_target.cpp): shared by ops::matmul and
// ops::matmul_fp8_blockwise. Private to stdlib/.
#pragma once

#include "stdlib/common/args.h"

namespace tessel::ops::detail {

// fp8 operands on a GPU or the simulated device need the fp8 tensor cores of sm_89 or later
// (mma.sync .e4m3/.e5m2); the CPU always takes them. Otherwise throws from `s`, naming the target,
// the pairs it has and the fix. `a_name` and `b_name` are the operands' names in the op.
void check_fp8_target(const OpSite& s, const TensorView& a, const TensorView& b,
                      const char* a_name = "a", const char* b_name = "b");

} // namespace tessel::ops::detail
