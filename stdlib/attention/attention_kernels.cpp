// The DSL kernel of attention (attention.h): FlashAttention-2's forward (Dao, 2023).
//
// One program owns BLOCK_M query rows of one (batch, head). Its Q tile stays in registers; K and V
// tiles of BLOCK_N keys stream through a for_range. For each key tile the scores s = q kᵀ are
// scaled by scale · log2(e), so that exp(x) = exp2(x · log2(e)) costs one multiply per score and
// the softmax runs on exp2; a running row maximum m and a running row sum l of exp2(s - m) are
// kept, and when m grows the sum and the output accumulator are rescaled by exp2(m_old - m_new)
// (the online softmax of Milakov and Gimelshein). The division by l happens once, at the end.
//
// Soft-capping and ALiBi change the scores before the masks (tiles.h, apply_logits).
// Invisible keys (past kv_len, outside the band, padded) are -inf scores. A row that has seen only
// -inf keeps m = -inf; the exponent then uses 0 in its place, so that exp2(-inf - -inf) never
// makes a NaN, and its l stays 0: the epilogue writes 0 and lse = -inf for it.
//
// The loop visits only key tiles the band can reach: [lo, hi) from the first row's left edge
// (rounded down to a tile) to the last row's right edge, clamped to kv_len. Tiles are split along
// head_dim into DCHUNK-wide column chunks (stdlib/attention/tiles.h, load_chunk): the Q tile and
// the accumulator are vectors of chunks, and each score tile is a sum of one dot per chunk.
//
// fp8 q, k, v (FlashAttention-3's descale_q/k/v, read whenever q is fp8): the dots take the fp8
// tiles as they are (mma.sync m16n8k32 on sm_89+, its K the 32 keys of a tile for PV) and the
// scales come out of the sums: s = scale · dq · dk · <q8, k8> folds dq · dk into the exp2 scale,
// and out = dv · Σ p v8 / l folds dv into the final division. P = exp2(s - m) lies in [0, 1] and is
// rounded to v's fp8 type for the PV dot with no scale of its own, as FA3 does (e4m3 keeps 3
// mantissa bits: a relative error of at most 2^-4, or 2^-10 absolute below 2^-6; docs/stdlib.md).
#include "stdlib/attention/tiles.h"
#include "stdlib/common/kernels.h"

#include "stdlib/common/exact_dot.h"
#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"

#include <cmath>
#include <vector>

namespace tessel::ops::detail {

namespace tl = tessel::lang;

using namespace tiles;

const Kernel& attention_forward_kernel() {
  static const Kernel k = tl::kernel(
      "attention_forward",
      "out, lse, q, k, v, kv_lens, key_mask, cu_q, cu_k, alibi, descale_q, descale_k, descale_v, "
      "q_sb, q_ss, q_sh, k_sb, k_ss, k_sh, v_sb, v_ss, v_sh, o_sb, o_ss, o_sh, mask_sb, ds_sb, "
      "ds_sh, heads, "
      "group, seqlen_q, seqlen_k, window_left, window_right, seed_lo, seed_hi, offset_lo, "
      "offset_hi, scale_log2, softcap_log2, dropout_p, FLAGS, HEAD_DIM, DCHUNK, BLOCK_M, BLOCK_N",
      [](tl::Ptr out, tl::Ptr lse, tl::Ptr q, tl::Ptr k, tl::Ptr v, tl::Ptr kv_lens,
         tl::Ptr key_mask, tl::Ptr cu_q, tl::Ptr cu_k, tl::Ptr alibi, tl::Ptr descale_q,
         tl::Ptr descale_k, tl::Ptr descale_v, tl::Int q_sb, tl::Int q_ss, tl::Int q_sh,
         tl::Int k_sb, tl::Int k_ss, tl::Int k_sh, tl::Int v_sb, tl::Int v_ss, tl::Int v_sh,
         tl::Int o_sb, tl::Int o_ss, tl::Int o_sh, tl::Int mask_sb, tl::Int ds_sb, tl::Int ds_sh,
         tl::Int heads, tl::Int group, tl::Int seqlen_q, tl::Int seqlen_k, tl::Int window_left,
         tl::Int window_right, tl::Int seed_lo, tl::Int seed_hi, tl::Int offset_lo,
         tl::Int offset_hi, tl::Float scale_log2, tl::Float softcap_log2, tl::Float dropout_p,
         tl::Const<int> FLAGS, tl::Const<int> HEAD_DIM, tl::Const<int> DCHUNK,
         tl::Const<int> BLOCK_M, tl::Const<int> BLOCK_N) {
        const bool BAND = FLAGS & kAttentionBand, KV_LENS = FLAGS & kAttentionKvLens;
        const bool KEY_MASK = FLAGS & kAttentionKeyMask, SAVE_LSE = FLAGS & kAttentionSaveLse;
        const bool VARLEN = FLAGS & kAttentionVarlen, DROPOUT = FLAGS & kAttentionDropout;
        const bool DESCALE = dtype_is_fp8(q.dtype()); // fp8 inputs always come with descales
        const int chunks = HEAD_DIM / DCHUNK;
        auto bh = tl::program_id(1);
        auto b = i64(bh / heads), h = i64(bh % heads), kvh = i64((bh % heads) / group);
        Seqs sq = seqs_of(VARLEN, b, h, heads, cu_q, cu_k, seqlen_q, seqlen_k);
        auto m0 = tl::program_id(0) * BLOCK_M;
        auto rows = m0 + tl::arange(0, BLOCK_M);
        auto q_in = rows < sq.len_q;

        tl::Tensor kv_len = sq.len_k;
        if (KV_LENS)
          kv_len = tl::minimum(tl::maximum(tl::load(kv_lens + b).to(DType::i32), 0.0), seqlen_k);
        // The band's diagonal: the last query row meets the last valid key.
        auto diag = kv_len - sq.len_q;
        tl::Tensor lo = tl::scalar(0, DType::i32), hi = kv_len;
        if (BAND) {
          auto last = tl::minimum(m0 + BLOCK_M, sq.len_q) - 1;
          lo = tl::maximum(m0 + diag - window_left, 0.0) / BLOCK_N * BLOCK_N;
          hi = tl::minimum(last + diag + window_right + 1, kv_len);
        }
        if (VARLEN) // a block past this entry's queries (the grid covers the longest) visits
                    // nothing
          hi = tl::where(m0 < sq.len_q, hi, lo);
        Dropout drop;
        if (DROPOUT)
          drop = dropout_of(seed_lo, seed_hi, offset_lo, offset_hi, dropout_p, seqlen_k);
        Logits lg =
            logits_of(FLAGS & kAttentionSoftcap, FLAGS & kAttentionAlibi, softcap_log2, alibi, h);

        tl::Tensor qk_scale = scale_log2, v_scale = tl::scalar(1.0, DType::f32);
        if (DESCALE) { // per tensor (strides 0) or per (batch, kv head)
          auto at = b * i64(ds_sb) + kvh * i64(ds_sh);
          qk_scale = qk_scale * tl::load(descale_q + at) * tl::load(descale_k + at);
          v_scale = tl::load(descale_v + at);
        }

        Head qh = head_of(q, sq.q_at, h, q_sb, q_ss, q_sh);
        Head kh = head_of(k, sq.k_at, kvh, k_sb, k_ss, k_sh);
        Head vh = head_of(v, sq.k_at, kvh, v_sb, v_ss, v_sh);
        // f32 Q is multiplied by the exp2 scale once, before the key loop, instead of every score
        // tile after q kᵀ (BLOCK_M x HEAD_DIM multiplies instead of BLOCK_M x BLOCK_N per key
        // tile; on the CPU the scaled Q is also stored once, where the loaded one was copied into
        // the dot's operand array at every key tile). Narrower types keep their own rounding: the
        // scale goes on the f32 scores.
        const bool SCALED_Q = q.dtype() == DType::f32;
        std::vector<tl::Tensor> qt, acc;
        for (int c = 0; c < chunks; ++c) {
          auto chunk = load_chunk(qh, rows, q_in, c * DCHUNK, DCHUNK);
          qt.push_back(SCALED_Q ? chunk * qk_scale : chunk);
          acc.push_back(tl::zeros({BLOCK_M, DCHUNK}, DType::f32));
        }

        tl::Tensor m = tl::full({BLOCK_M}, -kInf, DType::f32);
        tl::Tensor l = tl::zeros({BLOCK_M}, DType::f32);
        auto key = tl::arange(0, BLOCK_N);
        tl::for_range(lo, hi, BLOCK_N, [&](tl::Int n0) {
          auto cols = n0 + key;
          auto k_in = cols < hi;
          tl::Tensor s = tl::zeros({BLOCK_M, BLOCK_N}, DType::f32);
          for (int c = 0; c < chunks; ++c)
            s = exact_dot(qt[c], tl::trans(load_chunk(kh, cols, k_in, c * DCHUNK, DCHUNK)), s);
          s = apply_logits(lg, SCALED_Q ? s : s * qk_scale, col(rows), row(cols), diag).s;
          tl::Tensor visible = row(k_in);
          if (BAND)
            visible = visible & in_band(col(rows), row(cols), diag, window_left, window_right);
          if (KEY_MASK)
            visible = visible & row(tl::load(key_mask + b * i64(mask_sb) + cols, k_in, 0.0) != 0);
          s = tl::where(visible, s, -kInf);
          auto m_new = tl::maximum(m, tl::max(s, 1));
          auto m_use = tl::where(m_new == -kInf, 0.0, m_new);
          auto p = tl::exp2(s - col(m_use));
          auto alpha = tl::exp2(m - m_use);
          // The normaliser sums every probability; dropout zeroes (and rescales) only what
          // reaches the output, as in FlashAttention.
          l = l * alpha + tl::sum(p, 1);
          if (DROPOUT)
            p = tl::where(keep_mask(drop, sq.lse_row0 + i64(rows), sq.key0 + i64(cols)),
                          p * drop.scale, 0.0);
          for (int c = 0; c < chunks; ++c) {
            auto vt = load_chunk(vh, cols, k_in, c * DCHUNK, DCHUNK);
            acc[c] = exact_dot(p.to(vt.dtype()), vt, acc[c] * col(alpha));
          }
          m = m_new;
        });

        // One division per row, then a multiply per element: BLOCK_M x HEAD_DIM divisions were
        // 4% of the CPU forward at seqlen 512 (scalar divss), and the product is within an ulp.
        auto inv_l = v_scale / tl::where(l == 0.0, 1.0, l);
        Head oh = head_of(out, sq.q_at, h, o_sb, o_ss, o_sh);
        for (int c = 0; c < chunks; ++c) {
          auto o_ptrs =
              (oh.base + col(i64(rows) * oh.seq)) + row(c * DCHUNK + tl::arange(0, DCHUNK));
          tl::store(o_ptrs, acc[c] * col(inv_l), col(q_in));
        }
        if (SAVE_LSE) {
          // Back from log2 units: lse = (m + log2 l) · ln 2; -inf where l = 0.
          auto m_use = tl::where(m == -kInf, 0.0, m);
          auto row_lse = (m_use + tl::log2(l)) * M_LN2;
          tl::store(lse + sq.lse_row0 + rows, row_lse, q_in);
        }
      });
  return k;
}

} // namespace tessel::ops::detail
