// Multi-head self-attention of the encoder with the padding mask, on tessel::ops::attention
// (FlashAttention-2: the scores are never materialised):
//
//   ctx[b, :, h] = softmax(Q[b, :, h] K[b, :, h]^T / sqrt(head_dim), keys where mask[b, j] == 0
//                  excluded) V[b, :, h]
//
// qkv is the fused projection, [batch * seq, 3 * hidden] f32 (Q, then K, then V; head h in
// columns h * head_dim ..), read in place through strided views; mask [batch, seq] i32; ctx
// [batch * seq, hidden] f32. All on one device.
#pragma once

#include "tessel/runtime/tensor_view.h"

#include <cstdint>

namespace tessel::minilm {

struct AttentionShape {
  int64_t batch = 0, seq = 0, heads = 12, head_dim = 32;
  int64_t hidden() const { return heads * head_dim; }
};

void self_attention(const TensorView& qkv, const TensorView& mask, const TensorView& ctx,
                    const AttentionShape& shape);

} // namespace tessel::minilm
