// Tutorial: fused attention in the tile language (FlashAttention-2's forward, as Triton's
// fused-attention tutorial writes it). tessel::ops::attention is the full operator (GQA, windows,
// masks, both layouts, lse); this is its core, to read first.
//
// out = softmax(q kᵀ · scale) v for q, k, v, out of shape [batch, seqlen, heads, HEAD_DIM],
// contiguous. A naive kernel writes the seqlen x seqlen score matrix to memory; this one never
// does. Each program takes BLOCK_M query rows of one (batch, head), keeps them in registers, and
// walks the keys BLOCK_N at a time:
//   1. s = q kᵀ for this key block: a BLOCK_M x BLOCK_N tile of scores, in registers.
//   2. The online softmax: keep each row's running maximum m and running sum l of exp(s - m).
//      When a block raises m, everything summed so far was scaled by exp(-m_old) and must now be
//      scaled by exp(-m_new): multiply l and the output accumulator by alpha = exp(m_old - m_new).
//   3. acc += p v, with p = exp(s - m_new), also in registers.
// At the end out = acc / l. Scores are pre-multiplied by scale · log2(e) so that exp(x) becomes
// exp2, the GPU's native exponential.
//
// Decoding (one new query token per sequence against a KV cache) is the same loop with one query
// row, which leaves a GPU idle at small batch: tessel::ops::attention_decode runs it over a paged
// cache (vLLM's block tables), puts the query heads that share a kv head in one tile (GQA), and
// splits each sequence's pages across programs whose partial (acc / l, lse) a second kernel
// combines — flash-decoding (stdlib/attention/decode_kernels.cpp).
#include "tessel/samples/samples.h"

#include "tessel/tessel.h"

#include <cmath>

namespace tessel::samples {

namespace tl = tessel::lang;

const Kernel& attention() {
  static const Kernel k = tl::kernel(
      "attention",
      "out, q, k, v, seq_stride, heads, seqlen, scale_log2, CAUSAL, HEAD_DIM, BLOCK_M, BLOCK_N",
      [](tl::Ptr out, tl::Ptr q, tl::Ptr k, tl::Ptr v, tl::Int seq_stride, tl::Int heads,
         tl::Int seqlen, tl::Float scale_log2, tl::Const<int> CAUSAL, tl::Const<int> HEAD_DIM,
         tl::Const<int> BLOCK_M, tl::Const<int> BLOCK_N) {
        // This program's (batch, head) and its query rows. Position i of head h of batch b is at
        // (b * seqlen + i) * seq_stride + h * HEAD_DIM.
        auto bh = tl::program_id(1);
        auto batch = (bh / heads).to(tl::i64) * seqlen.to(tl::i64) * seq_stride.to(tl::i64);
        auto head = batch + ((bh % heads) * HEAD_DIM).to(tl::i64);
        auto rows = tl::program_id(0) * BLOCK_M + tl::arange(0, BLOCK_M);
        auto dims = tl::expand_dims(tl::arange(0, HEAD_DIM), 0);      // 1 x HEAD_DIM
        auto tile = [&](const tl::Ptr& base, const tl::Tensor& pos) { // pos: n positions
          auto at = tl::expand_dims(pos, 1);                          // n x 1
          return tl::load(base + head + at * seq_stride + dims, at < seqlen, 0.0);
        };

        auto q_tile = tile(q, rows); // stays in registers for the whole loop
        auto m = tl::full({BLOCK_M}, -INFINITY, tl::f32);
        auto l = tl::zeros({BLOCK_M}, tl::f32);
        auto acc = tl::zeros({BLOCK_M, HEAD_DIM}, tl::f32);
        // Causal: keys past the block's last row are never visible, so the loop stops there.
        tl::Tensor end = seqlen;
        if (CAUSAL)
          end = tl::minimum(seqlen, (tl::program_id(0) + 1) * BLOCK_M);
        tl::for_range(0, end, BLOCK_N, [&](tl::Int n0) {
          auto keys = n0 + tl::arange(0, BLOCK_N);
          auto s = tl::dot(q_tile, tl::trans(tile(k, keys))) * scale_log2; // 1.
          auto visible = tl::expand_dims(keys < seqlen, 0);
          if (CAUSAL)
            visible = visible & (tl::expand_dims(keys, 0) <= tl::expand_dims(rows, 1));
          s = tl::where(visible, s, -INFINITY);
          auto m_new = tl::maximum(m, tl::max(s, 1)); // 2.
          auto p = tl::exp2(s - tl::expand_dims(m_new, 1));
          auto alpha = tl::exp2(m - m_new);
          l = l * alpha + tl::sum(p, 1);
          auto v_tile = tile(v, keys); // 3.
          acc = tl::dot(p.to(v_tile.dtype()), v_tile, acc * tl::expand_dims(alpha, 1));
          m = m_new;
        });
        // Every row sees at least key 0, so l > 0 here.
        auto at = tl::expand_dims(rows, 1);
        tl::store(out + head + at * seq_stride + dims, acc / tl::expand_dims(l, 1), at < seqlen);
      });
  return k;
}

} // namespace tessel::samples
