// Varlen attention's host side (attention.h, cu_seqlens_q/k): the checks of the prefix-sum
// tensors and the batch and longest lengths they give. Private to stdlib/attention/.
#pragma once

#include "stdlib/common/args.h"
#include "tessel/ops/attention.h"

#include <cstdint>

namespace tessel::ops::detail {

struct Varlen {
  bool on = false;
  int64_t batch = 0;
  int64_t max_q = 0, max_k = 0; // the longest entry's lengths: what the grid covers
};

// Checks cu_seqlens_q and cu_seqlens_k (both or neither; i32 [batch + 1] on q's device; for
// host views: non-decreasing from a non-negative start, ending within the total_q / total_k
// packed tokens, no entry longer than max_seqlen_q/k) and max_seqlen_q/k (required for device
// views). Throws naming the argument, the entry and the fix.
Varlen varlen_of(const OpSite& s, const AttentionOptions& o, const TensorView& q, int64_t total_q,
                 int64_t total_k);

} // namespace tessel::ops::detail
