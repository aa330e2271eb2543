#include "samples/minilm/attention.h"

#include "tessel/ops/attention.h"

namespace tessel::minilm {

namespace {

// Columns [first, first + hidden) of the [batch * seq, 3 * hidden] projection as a
// [batch, seq, heads, head_dim] view (bshd), without a copy.
TensorView heads_of(const TensorView& qkv, int64_t first, const AttentionShape& s) {
  TensorView v = qkv;
  v.data = static_cast<float*>(qkv.data) + first;
  v.rank = 4;
  v.shape = {s.batch, s.seq, s.heads, s.head_dim};
  const int64_t width = 3 * s.hidden();
  v.strides = {s.seq * width, width, s.head_dim, 1};
  return v;
}

} // namespace

void self_attention(const TensorView& qkv, const TensorView& mask, const TensorView& ctx,
                    const AttentionShape& s) {
  const int64_t hidden = s.hidden();
  TensorView out = ctx;
  out.rank = 4;
  out.shape = {s.batch, s.seq, s.heads, s.head_dim};
  out.strides = {s.seq * hidden, hidden, s.head_dim, 1};
  ops::attention(heads_of(qkv, 0, s), heads_of(qkv, hidden, s), heads_of(qkv, 2 * hidden, s), out,
                 {.key_padding_mask = mask});
}

} // namespace tessel::minilm
