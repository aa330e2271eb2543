// Multi-head self-attention of the encoder with the padding mask, as two batched matmuls and a
// softmax (until tessel::ops::attention lands; encoder.cpp calls this one function):
//
//   S[b, h] = Q[b, :, h] K[b, :, h]^T / sqrt(head_dim), keys where mask[b, j] == 0 excluded
//   P[b, h] = softmax(S[b, h]) per row (tessel::ops::softmax)
//   ctx[b, :, h] = P[b, h] V[b, :, h]
//
// qkv is the fused projection, [batch * seq, 3 * hidden] f32 (Q, then K, then V; head h in
// columns h * head_dim ..); mask [batch, seq] i32; scores is scratch of batch * heads * seq * seq
// f32; ctx [batch * seq, hidden] f32. All on one device.
#pragma once

#include "tessel/runtime/tensor_view.h"

#include <cstdint>

namespace tessel::minilm {

struct AttentionShape {
  int64_t batch = 0, seq = 0, heads = 12, head_dim = 32;
  int64_t hidden() const { return heads * head_dim; }
};

void self_attention(const TensorView& qkv, const TensorView& mask, const TensorView& scores,
                    const TensorView& ctx, const AttentionShape& shape);

} // namespace tessel::minilm
