// self_attention (attention.h): Q K^T with the scale and the key mask fused into the matmul's
// epilogue, the row softmax of tessel::ops in place, then P V written straight into the heads'
// columns of ctx. Q, K and V are read in place from the fused projection.
#include "samples/minilm/attention.h"

#include "samples/minilm/matmul.h"
#include "tessel/ops/softmax.h"

#include <cmath>

namespace tessel::minilm {

void self_attention(const TensorView& qkv, const TensorView& mask, const TensorView& scores,
                    const TensorView& ctx, const AttentionShape& s) {
  const int64_t hidden = s.hidden(), width = 3 * hidden, seq = s.seq;
  const int64_t zs = seq * seq; // one (batch, head) block of scores
  Operand q{qkv, 0, seq * width, s.head_dim, width, 1};
  // K^T: element (d, j) of head h is K[j, h * head_dim + d].
  Operand kt{qkv, hidden, seq * width, s.head_dim, 1, width};
  Operand v{qkv, 2 * hidden, seq * width, s.head_dim, width, 1};
  Operand sc{scores, 0, s.heads * zs, zs, seq, 1};
  Operand out{ctx, 0, seq * hidden, s.head_dim, hidden, 1};
  batched_matmul(
      q, kt, sc, {s.batch, s.heads, seq, seq, s.head_dim},
      {.alpha = float(1.0 / std::sqrt(double(s.head_dim))), .key_mask = &mask, .mask_stride = seq});
  TensorView rows = scores;
  rows.rank = 2;
  rows.shape[0] = s.batch * s.heads * seq;
  rows.shape[1] = seq;
  rows.strides[0] = seq;
  rows.strides[1] = 1;
  ops::softmax(rows, rows);
  batched_matmul(sc, v, out, {s.batch, s.heads, seq, s.head_dim, seq});
}

} // namespace tessel::minilm
