// The DSL kernels of attention_decode (attention.h): flash-decoding over a paged KV cache.
//
// Decoding asks one query token per sequence (or a few: speculative decoding, chunked prefill,
// causal among themselves) to attend to its whole cache. One program per
// (sequence, kv head) would leave most of a GPU idle at small batch, so the sequence's pages are
// split across `splits` programs (Dao et al., "Flash-Decoding", 2023): program (s, b · kv_heads +
// kvh) runs FlashAttention's online softmax over pages [s · pages_per_split, (s + 1) ·
// pages_per_split) and writes its partial output, normalised by its own sum, with its
// log-sum-exp; the combine kernel then weighs the partials by exp(lse_s - max lse). With one
// split the decode kernel writes the final output itself and there is no second kernel.
//
// GQA: the program takes all `group` query heads of its kv head, for each of the tq new tokens,
// as the rows of one tile (group · tq rows, padded to BLOCK_H >= 16), so each K/V page is read
// once per kv head, not once per query head or token.
// A page is the tile: PAGE keys at k_cache[block_table[b, page]], PAGE being the cache's block
// size. Block ids are used as read (no clamping): a wrong id on a device view is a read the
// simulator's memcheck reports; host views are checked before launch (attention.cpp's decode).
#include "stdlib/attention/tiles.h"
#include "stdlib/common/kernels.h"

#include "stdlib/common/exact_dot.h"
#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"

#include <vector>

namespace tessel::ops::detail {

namespace tl = tessel::lang;
using namespace tiles;

namespace {

// A [BLOCK_H, DCHUNK] chunk of per-row vectors: row r at base + offset[r], columns c0 ..< c0 +
// chunk.
tl::Tensor row_ptrs(const tl::Tensor& base, const tl::Tensor& offset, int c0, int chunk) {
  return (base + col(offset)) + row(c0 + tl::arange(0, chunk));
}

} // namespace

const Kernel& attention_decode_kernel() {
  static const Kernel k = tl::kernel(
      "attention_decode",
      "out, lse, q, k_cache, v_cache, block_table, seq_lens, q_sb, q_st, q_sh, o_sb, o_st, o_sh, "
      "k_sblk, k_stok, k_sh, v_sblk, v_stok, v_sh, bt_sb, kv_heads, group, tq, max_blocks, "
      "pages_per_split, scale_log2, FLAGS, HEAD_DIM, DCHUNK, BLOCK_H, PAGE",
      [](tl::Ptr out, tl::Ptr lse, tl::Ptr q, tl::Ptr k_cache, tl::Ptr v_cache,
         tl::PtrOf<int32_t> block_table, tl::PtrOf<int32_t> seq_lens, tl::Int q_sb, tl::Int q_st,
         tl::Int q_sh, tl::Int o_sb, tl::Int o_st, tl::Int o_sh, tl::Int k_sblk, tl::Int k_stok,
         tl::Int k_sh, tl::Int v_sblk, tl::Int v_stok, tl::Int v_sh, tl::Int bt_sb,
         tl::Int kv_heads, tl::Int group, tl::Int tq, tl::Int max_blocks, tl::Int pages_per_split,
         tl::Float scale_log2, tl::Const<int> FLAGS, tl::Const<int> HEAD_DIM, tl::Const<int> DCHUNK,
         tl::Const<int> BLOCK_H, tl::Const<int> PAGE) {
        const bool PARTIAL = FLAGS & kDecodePartial, SAVE_LSE = FLAGS & kAttentionSaveLse;
        const int chunks = HEAD_DIM / DCHUNK, page_size = PAGE;
        auto split = tl::program_id(0), splits = tl::num_programs(0);
        auto b = i64(tl::program_id(1) / kv_heads), kvh = i64(tl::program_id(1) % kv_heads);
        // The tile's rows: the group's query heads for each of the tq new tokens, token-major.
        auto rows = tl::arange(0, BLOCK_H);
        auto r_in = rows < group * tq;
        auto tok_of = rows / group, head_of_row = kvh * i64(group) + i64(rows % group);
        // Keys past the table are never read (the host checks seq_lens against it).
        auto seq_len = tl::minimum(tl::maximum(tl::load(seq_lens + b).to(DType::i32), 0.0),
                                   max_blocks * page_size);
        // Causal among the new tokens: token t is position seq_len - tq + t and sees the keys up to
        // it (with tq = 1, every key).
        auto row_keys = seq_len - tq + tok_of + 1; // [BLOCK_H] the keys each row sees
        auto pages = (seq_len + (page_size - 1)) / page_size;
        auto lo = split * pages_per_split;
        auto hi = tl::minimum(lo + pages_per_split, pages);

        auto q_rows = i64(tok_of) * i64(q_st) + head_of_row * i64(q_sh);
        auto q_base = q + b * i64(q_sb);
        std::vector<tl::Tensor> qt, acc;
        for (int c = 0; c < chunks; ++c) {
          qt.push_back(tl::load(row_ptrs(q_base, q_rows, c * DCHUNK, DCHUNK), col(r_in), 0.0));
          acc.push_back(tl::zeros({BLOCK_H, DCHUNK}, DType::f32));
        }
        tl::Tensor m = tl::full({BLOCK_H}, -kInf, DType::f32);
        tl::Tensor l = tl::zeros({BLOCK_H}, DType::f32);
        auto tok = tl::arange(0, PAGE);
        tl::for_range(lo, hi, 1, [&](tl::Int page) {
          auto blk = i64(tl::load(block_table + b * i64(bt_sb) + page));
          auto pos = page * page_size + tok;
          auto k_in = pos < seq_len;
          Head kh{k_cache + blk * i64(k_sblk) + kvh * i64(k_sh), i64(k_stok)};
          Head vh{v_cache + blk * i64(v_sblk) + kvh * i64(v_sh), i64(v_stok)};
          tl::Tensor s = tl::zeros({BLOCK_H, PAGE}, DType::f32);
          for (int c = 0; c < chunks; ++c)
            s = exact_dot(qt[c], tl::trans(load_chunk(kh, tok, k_in, c * DCHUNK, DCHUNK)), s);
          s = tl::where(row(pos) < col(row_keys), s * scale_log2, -kInf);
          auto m_new = tl::maximum(m, tl::max(s, 1));
          auto m_use = tl::where(m_new == -kInf, 0.0, m_new);
          auto p = tl::exp2(s - col(m_use));
          auto alpha = tl::exp2(m - m_use);
          l = l * alpha + tl::sum(p, 1);
          for (int c = 0; c < chunks; ++c) {
            auto vt = load_chunk(vh, tok, k_in, c * DCHUNK, DCHUNK);
            acc[c] = exact_dot(p.to(vt.dtype()), vt, acc[c] * col(alpha));
          }
          m = m_new;
        });

        // Partials go to the workspace as [batch, tq, heads, splits, HEAD_DIM] (out) and
        // [batch, tq, heads, splits] (lse), in f32; the final output to out's strides.
        auto l_div = tl::where(l == 0.0, 1.0, l);
        auto heads = kv_heads * group;
        // The (sequence, token, head) row of lse and of the partials, [BLOCK_H].
        auto qrow = (b * i64(tq) + i64(tok_of)) * i64(heads) + head_of_row;
        auto o_rows = i64(tok_of) * i64(o_st) + head_of_row * i64(o_sh);
        for (int c = 0; c < chunks; ++c) {
          auto o = acc[c] / col(l_div);
          if (PARTIAL)
            store_rows(out, (qrow * i64(splits) + i64(split)) * HEAD_DIM, r_in, c * DCHUNK, DCHUNK,
                       o);
          else
            store_rows(out + b * i64(o_sb), o_rows, r_in, c * DCHUNK, DCHUNK, o);
        }
        if (SAVE_LSE || PARTIAL) {
          auto m_use = tl::where(m == -kInf, 0.0, m);
          auto row_lse = (m_use + tl::log2(l)) * M_LN2; // -inf where no key was seen
          tl::store(lse + (PARTIAL ? qrow * i64(splits) + i64(split) : qrow), row_lse, r_in);
        }
      });
  return k;
}

// One program per (sequence, token, head): out = Σ_s w_s o_s / Σ_s w_s with w_s = exp(lse_s - max
// lse), over the BLOCK_S >= splits partials (a split that saw no key has lse -inf and weight 0; a
// row that saw none at all gets 0 and lse -inf, as attention's).
const Kernel& attention_decode_combine_kernel() {
  static const Kernel k = tl::kernel(
      "attention_decode_combine",
      "out, lse, part_out, part_lse, o_sb, o_st, o_sh, heads, tq, splits, FLAGS, HEAD_DIM, "
      "BLOCK_D, BLOCK_S",
      [](tl::Ptr out, tl::Ptr lse, tl::Ptr part_out, tl::Ptr part_lse, tl::Int o_sb, tl::Int o_st,
         tl::Int o_sh, tl::Int heads, tl::Int tq, tl::Int splits, tl::Const<int> FLAGS,
         tl::Const<int> HEAD_DIM, tl::Const<int> BLOCK_D, tl::Const<int> BLOCK_S) {
        const bool SAVE_LSE = FLAGS & kAttentionSaveLse;
        auto qrow = i64(tl::program_id(0)); // (sequence, token, head)
        auto b = qrow / (i64(tq) * i64(heads)), t = (qrow / i64(heads)) % i64(tq);
        auto h = qrow % i64(heads);
        auto s = tl::arange(0, BLOCK_S);
        auto s_in = s < splits;
        auto part = qrow * i64(splits) + i64(s);
        auto ls = tl::load(part_lse + part, s_in, -kInf);
        auto mx = tl::max(ls, 0);
        auto m_use = tl::where(mx == -kInf, 0.0, mx);
        auto w = tl::exp(ls - m_use); // 0 for -inf partials
        auto total = tl::sum(w, 0);
        auto d = tl::arange(0, BLOCK_D); // BLOCK_D: head_dim rounded up to a power of two
        auto d_in = d < HEAD_DIM;
        auto o = tl::load(part_out + col(part * HEAD_DIM) + row(d), col(s_in) & row(d_in), 0.0);
        auto res = tl::sum(o * col(w), 0) / tl::where(total == 0.0, 1.0, total);
        tl::store(out + b * i64(o_sb) + t * i64(o_st) + h * i64(o_sh) + d, res, d_in);
        if (SAVE_LSE)
          tl::store(lse + qrow, m_use + tl::log(total));
      });
  return k;
}

} // namespace tessel::ops::detail
