// Act-order for W4A16 (act_order.cpp): the check of a permutation of K, shared by the packing
// (quantize_weights_int4_act_order) and matmul_w4a16 (W4A16Options::perm). Private to
// stdlib/quant/.
#pragma once

#include "stdlib/common/args.h"

namespace tessel::ops::detail {

// `v` is a contiguous i32 [k] on the device of `ref` (the op's x; any device when ref is
// null). On the host it must hold every index of 0..k-1 once: an entry out of range or
// repeated is an error naming it. A device perm is not read back.
void check_perm(const OpSite& s, const char* arg, const TensorView& v, const TensorView* ref,
                int64_t k);

} // namespace tessel::ops::detail
