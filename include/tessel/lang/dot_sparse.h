// tl::dot_sparse: the 2:4 structured-sparse dot (issue 17), A given compressed, as mma.sp takes it.
// Its own header (not in tessel/lang/ops.h yet) so that adding it rebuilt only its users; include
// it next to <tessel/lang/ops.h>.
#pragma once

#include "tessel/lang/tensor.h"

#include <source_location>

namespace tessel::lang {

// dot(A, b) + acc where A (M x K) keeps two weights in every aligned group of 4 along K:
//   a_values  M x K/2, f16 or bf16: each group's two kept values, in k order;
//   b         K x N, a_values' dtype;
//   meta      M x K/16, i16 (or a wider integer tile, narrowed): per group of 4 a nibble (group i
//             of word j at bits 4i..4i+3, k = 16j + 4i ..), the low two bits the position 0..3 of
//             the first kept value, the high two the second's, first < second (ops::prune_2_4's
//             layout, the one mma.sp reads);
//   acc       M x N, f32 (or f16 for f16 operands).
// K must be a multiple of 16 (one metadata word per 16 k). A group whose nibble names one position
// twice or out of order is undefined on a GPU (mma.sp) and NaN on the CPU backend.
// Runs on mma.sp.sync (sm_80+, tiles of at least 16 x 8 x 32) and on the CPU.
Tensor dot_sparse(const Tensor& a_values, const Tensor& b, const Tensor& meta, const Tensor& acc,
                  std::source_location loc = std::source_location::current());

} // namespace tessel::lang
