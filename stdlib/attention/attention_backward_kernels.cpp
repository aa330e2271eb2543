// The DSL kernels of attention_backward (attention.h): FlashAttention-2's backward (Dao, 2023),
// recomputing the probabilities from the forward's saved log-sum-exp instead of storing them.
//
// With s = scale · q kᵀ, p = exp(s - lse) (the forward's softmax, rebuilt per tile) and
// D_i = Σ_d dout_id · out_id (= Σ_j p_ij dp_ij), the gradients are
//   dv = pᵀ dout,   dp = dout vᵀ,   ds = p ∘ (dp - D),   dk = scale · dsᵀ q,   dq = scale · ds k.
// Two kernels, so that nothing is accumulated with atomics and every run gives the same bits
// (dq_mode = deterministic, the default):
//   - dk/dv: one program per (key block, batch, kv head) keeps its K and V tiles and walks the
//     query blocks of every q head of its group (GQA sums them here, in a fixed order);
//   - dq: one program per (query block, batch, head) keeps q and dout and walks the key blocks,
//     as the forward does.
// D is recomputed from dout and out where it is needed (no scratch tensor: ops do not allocate).
// A row whose lse is -inf saw no key; its p is 0 everywhere (lse is replaced by +inf).
// dq_mode = atomics (FlashAttention-2's own choice) skips the dq pass: the dk/dv kernel, which
// already has ds for each (query block, key block), adds scale · ds k into an f32 dq with atomics
// (zeroed first by a third kernel): one pass over the tiles instead of two, in no fixed order.
// kv_lens and the key padding mask hide keys as in the forward; the dk and dv of a hidden key are
// 0 (its p is). Softcap multiplies ds by the cap's derivative; alibi's bias has none.
// Varlen and dropout follow the forward (stdlib/attention/tiles.h: Seqs, keep_mask): the same
// rows, keys and keep bits, regenerated from (seed, offset) rather than stored.
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

using Chunks = std::vector<tl::Tensor>;

Chunks load_chunks(const Head& hd, const tl::Tensor& pos, const tl::Tensor& in, int head_dim,
                   int chunk) {
  Chunks c;
  for (int c0 = 0; c0 < head_dim; c0 += chunk)
    c.push_back(load_chunk(hd, pos, in, c0, chunk));
  return c;
}

Chunks zero_chunks(int rows, int head_dim, int chunk) {
  return Chunks(size_t(head_dim / chunk), tl::zeros({rows, chunk}, DType::f32));
}

// a bᵀ summed over head_dim chunks: [rows_a, rows_b] in f32.
tl::Tensor dot_t(const Chunks& a, const Chunks& b, int rows_a, int rows_b) {
  tl::Tensor s = tl::zeros({rows_a, rows_b}, DType::f32);
  for (size_t c = 0; c < a.size(); ++c)
    s = ::tessel::ops::detail::exact_dot(a[c], tl::trans(b[c]), s);
  return s;
}

// D = Σ_d dout ∘ out per row.
tl::Tensor row_dot(const Chunks& dout, const Chunks& out) {
  tl::Tensor d = tl::sum(dout[0].to(DType::f32) * out[0].to(DType::f32), 1);
  for (size_t c = 1; c < dout.size(); ++c)
    d = d + tl::sum(dout[c].to(DType::f32) * out[c].to(DType::f32), 1);
  return d;
}

// What both kernels rebuild for one (query block, key block) pair: p and ds, [BM, BN] in f32.
struct Tile {
  tl::Tensor p, ds;
};

struct Scores {
  tl::Tensor rows, q_in, cols, k_in, diag; // k_in: the keys that exist and are not padded
  const tl::Int *left, *right;
  bool band;
  const Dropout* drop;       // null without dropout
  tl::Tensor lse_rows, keys; // the dropout counters' row and key indices (with drop)
  const Logits* logits;      // softcap and alibi (tiles.h)
};

Tile dropped(const Dropout& drop, const Scores& sc, const tl::Tensor& p, const tl::Tensor& dp,
             const tl::Tensor& d) {
  auto keep = keep_mask(drop, sc.lse_rows, sc.keys);
  return {tl::where(keep, p * drop.scale, 0.0),
          p * (tl::where(keep, dp * drop.scale, 0.0) - col(d))};
}

// With dropout (keep mask z, scale 1 / (1 - p_drop)): out = (p ∘ z) v, so dv takes p ∘ z, and
// ds = p ∘ (dp ∘ z - D) with D = Σ dout ∘ out as before; `p` returned is the dropped one. With
// softcap, ds is the gradient of the capped score and the chain rule multiplies 1 - tanh² in.
Tile rebuild(const Scores& sc, const Chunks& q, const Chunks& k, const Chunks& v,
             const Chunks& dout, const tl::Tensor& lse_log2, const tl::Tensor& d,
             const tl::Float& scale_log2, int bm, int bn) {
  Capped s = apply_logits(*sc.logits, dot_t(q, k, bm, bn) * scale_log2, col(sc.rows), row(sc.cols),
                          sc.diag);
  tl::Tensor visible = col(sc.q_in) & row(sc.k_in);
  if (sc.band)
    visible = visible & in_band(col(sc.rows), row(sc.cols), sc.diag, *sc.left, *sc.right);
  auto p = tl::where(visible, tl::exp2(s.s - col(lse_log2)), 0.0);
  auto dp = dot_t(dout, v, bm, bn);
  // (Built by copies, never default-constructed and assigned: rebuild runs inside loop bodies.)
  Tile t = sc.drop == nullptr ? Tile{p, p * (dp - col(d))} : dropped(*sc.drop, sc, p, dp, d);
  if (sc.logits->softcap)
    t.ds = t.ds * s.dcap;
  return t;
}

// The row's lse in log2 units, +inf for a row that saw no key (so that its p is 0).
tl::Tensor lse_log2_of(const tl::Ptr& lse, const tl::Tensor& row0, const tl::Tensor& rows,
                       const tl::Tensor& q_in) {
  auto v = tl::load(lse + row0 + rows, q_in, 0.0) * M_LOG2E;
  return tl::where(v == -kInf, kInf, v);
}

void store_chunks(const Head& hd, const tl::Tensor& pos, const tl::Tensor& in, const Chunks& c,
                  int chunk, const tl::Tensor& scale) {
  for (size_t i = 0; i < c.size(); ++i) {
    auto ptrs = (hd.base + col(i64(pos) * hd.seq)) + row(int(i) * chunk + tl::arange(0, chunk));
    tl::store(ptrs, c[i] * scale, col(in));
  }
}

// dq += scale · ds k for one tile, by f32 atomics (the dq_mode = atomics path: FlashAttention-2's
// dq accumulation from the dk/dv kernel). The order of the adds varies from run to run.
void add_dq(const Head& dq, const tl::Tensor& rows, const tl::Tensor& q_in, const tl::Tensor& ds,
            const Chunks& k, int bm, int chunk, const tl::Float& scale_log2) {
  for (size_t c = 0; c < k.size(); ++c) {
    auto part = exact_dot(ds, k[c], tl::zeros({bm, chunk}, DType::f32));
    auto ptrs = (dq.base + col(i64(rows) * dq.seq)) + row(int(c) * chunk + tl::arange(0, chunk));
    tl::atomic_add(ptrs, part * (scale_log2 * M_LN2), col(q_in), tl::MemSem::relaxed);
  }
}

// The number of valid keys of entry b: kv_lens[b] clamped to [0, seqlen_k], else all of them.
tl::Tensor kv_len_of(bool has_lens, const tl::Ptr& kv_lens, const tl::Tensor& b,
                     const tl::Tensor& len_k, const tl::Int& seqlen_k) {
  if (!has_lens)
    return len_k;
  return tl::minimum(tl::maximum(tl::load(kv_lens + b).to(DType::i32), 0.0), seqlen_k);
}

// Keys that exist (cols < kv_len) and that the padding mask keeps.
tl::Tensor keys_in(bool has_mask, const tl::Ptr& key_mask, const tl::Tensor& b,
                   const tl::Int& mask_sb, const tl::Tensor& cols, const tl::Tensor& kv_len) {
  auto in = cols < kv_len;
  if (!has_mask)
    return in;
  return in & (tl::load(key_mask + b * i64(mask_sb) + cols, in, 0.0) != 0);
}

} // namespace

const Kernel& attention_backward_dkdv_kernel() {
  static const Kernel k = tl::kernel(
      "attention_backward_dkdv",
      "dk, dv, dq, q, k, v, out, dout, lse, kv_lens, key_mask, alibi, cu_q, cu_k, q_sb, q_ss, "
      "q_sh, k_sb, k_ss, k_sh, v_sb, v_ss, v_sh, o_sb, o_ss, o_sh, mask_sb, heads, group, "
      "seqlen_q, seqlen_k, window_left, window_right, seed_lo, seed_hi, offset_lo, offset_hi, "
      "scale_log2, softcap_log2, dropout_p, FLAGS, HEAD_DIM, DCHUNK, BLOCK_M, BLOCK_N",
      [](tl::Ptr dk, tl::Ptr dv, tl::Ptr dq, tl::Ptr q, tl::Ptr k, tl::Ptr v, tl::Ptr out,
         tl::Ptr dout, tl::Ptr lse, tl::Ptr kv_lens, tl::Ptr key_mask, tl::Ptr alibi, tl::Ptr cu_q,
         tl::Ptr cu_k, tl::Int q_sb, tl::Int q_ss, tl::Int q_sh, tl::Int k_sb, tl::Int k_ss,
         tl::Int k_sh, tl::Int v_sb, tl::Int v_ss, tl::Int v_sh, tl::Int o_sb, tl::Int o_ss,
         tl::Int o_sh, tl::Int mask_sb, tl::Int heads, tl::Int group, tl::Int seqlen_q,
         tl::Int seqlen_k, tl::Int window_left, tl::Int window_right, tl::Int seed_lo,
         tl::Int seed_hi, tl::Int offset_lo, tl::Int offset_hi, tl::Float scale_log2,
         tl::Float softcap_log2, tl::Float dropout_p, tl::Const<int> FLAGS, tl::Const<int> HEAD_DIM,
         tl::Const<int> DCHUNK, tl::Const<int> BLOCK_M, tl::Const<int> BLOCK_N) {
        const bool band = FLAGS & kAttentionBand, varlen = FLAGS & kAttentionVarlen;
        const bool dropout = FLAGS & kAttentionDropout, atomic_dq = FLAGS & kAttentionAtomicDq;
        auto kv_heads = heads / group;
        auto b = i64(tl::program_id(1) / kv_heads), kvh = i64(tl::program_id(1) % kv_heads);
        // The entry's lengths (its lse rows are found per q head of the group below).
        Seqs sq = seqs_of(varlen, b, kvh, heads, cu_q, cu_k, seqlen_q, seqlen_k);
        Dropout drop;
        if (dropout)
          drop = dropout_of(seed_lo, seed_hi, offset_lo, offset_hi, dropout_p, seqlen_k);
        auto n0 = tl::program_id(0) * BLOCK_N;
        auto cols = n0 + tl::arange(0, BLOCK_N);
        auto kv_len = kv_len_of(FLAGS & kAttentionKvLens, kv_lens, b, sq.len_k, seqlen_k);
        auto diag = kv_len - sq.len_q;
        // Keys past kv_len or padded are neither read nor seen; their gradients are written as 0.
        auto k_in = keys_in(FLAGS & kAttentionKeyMask, key_mask, b, mask_sb, cols, kv_len);
        Head kh = head_of(k, sq.k_at, kvh, k_sb, k_ss, k_sh);
        Head vh = head_of(v, sq.k_at, kvh, v_sb, v_ss, v_sh);
        Chunks kc = load_chunks(kh, cols, k_in, HEAD_DIM, DCHUNK);
        Chunks vc = load_chunks(vh, cols, k_in, HEAD_DIM, DCHUNK);
        Chunks dkc = zero_chunks(BLOCK_N, HEAD_DIM, DCHUNK), dvc = dkc;
        // The query rows whose band reaches this key block (all of them without a band).
        tl::Tensor lo = tl::scalar(0, DType::i32), hi = sq.len_q;
        if (band) {
          lo = tl::maximum(n0 - diag - window_right, 0.0) / BLOCK_M * BLOCK_M;
          hi = tl::minimum(n0 + BLOCK_N - diag + window_left, sq.len_q);
        }
        // A block past the entry's valid keys (the grid covers seqlen_k, or the longest entry)
        // visits nothing.
        hi = tl::where(n0 < kv_len, hi, lo);
        tl::for_range(0, group, 1, [&](tl::Int g) {
          auto h = kvh * i64(group) + i64(g);
          Head qh = head_of(q, sq.q_at, h, q_sb, q_ss, q_sh);
          Head oh = head_of(out, sq.q_at, h, o_sb, o_ss, o_sh);
          Head doh = head_of(dout, sq.q_at, h, o_sb, o_ss, o_sh);
          auto row0 = lse_row0_of(varlen, b, h, heads, sq.q_at, seqlen_q);
          // Built in the loop body, per q head of the group.
          const Logits lgh =
              logits_of(FLAGS & kAttentionSoftcap, FLAGS & kAttentionAlibi, softcap_log2, alibi, h);
          tl::for_range(lo, hi, BLOCK_M, [&](tl::Int m0) {
            auto rows = m0 + tl::arange(0, BLOCK_M);
            Scores sc{rows,
                      rows < sq.len_q,
                      cols,
                      k_in,
                      diag,
                      &window_left,
                      &window_right,
                      band,
                      dropout ? &drop : nullptr,
                      row0 + i64(rows),
                      sq.key0 + i64(cols),
                      &lgh};
            Chunks qc = load_chunks(qh, sc.rows, sc.q_in, HEAD_DIM, DCHUNK);
            Chunks doc = load_chunks(doh, sc.rows, sc.q_in, HEAD_DIM, DCHUNK);
            auto d = row_dot(doc, load_chunks(oh, sc.rows, sc.q_in, HEAD_DIM, DCHUNK));
            auto lse2 = lse_log2_of(lse, row0, sc.rows, sc.q_in);
            Tile t = rebuild(sc, qc, kc, vc, doc, lse2, d, scale_log2, BLOCK_M, BLOCK_N);
            auto pt = tl::trans(t.p).to(qc[0].dtype()), dst = tl::trans(t.ds).to(qc[0].dtype());
            for (size_t c = 0; c < dkc.size(); ++c) {
              dvc[c] = exact_dot(pt, doc[c], dvc[c]);
              dkc[c] = exact_dot(dst, qc[c], dkc[c]);
            }
            if (atomic_dq)
              add_dq(head_of(dq, sq.q_at, h, q_sb, q_ss, q_sh), sc.rows, sc.q_in,
                     t.ds.to(qc[0].dtype()), kc, BLOCK_M, DCHUNK, scale_log2);
          });
        });
        auto k_out = cols < sq.len_k;
        store_chunks(head_of(dk, sq.k_at, kvh, k_sb, k_ss, k_sh), cols, k_out, dkc, DCHUNK,
                     scale_log2 * M_LN2);
        store_chunks(head_of(dv, sq.k_at, kvh, v_sb, v_ss, v_sh), cols, k_out, dvc, DCHUNK,
                     tl::scalar(1.0, DType::f32));
      });
  return k;
}

const Kernel& attention_backward_dq_kernel() {
  static const Kernel k = tl::kernel(
      "attention_backward_dq",
      "dq, q, k, v, out, dout, lse, kv_lens, key_mask, alibi, cu_q, cu_k, q_sb, q_ss, q_sh, "
      "k_sb, k_ss, k_sh, v_sb, v_ss, v_sh, o_sb, o_ss, o_sh, mask_sb, heads, group, seqlen_q, "
      "seqlen_k, window_left, window_right, seed_lo, seed_hi, offset_lo, offset_hi, scale_log2, "
      "softcap_log2, dropout_p, FLAGS, HEAD_DIM, DCHUNK, BLOCK_M, BLOCK_N",
      [](tl::Ptr dq, tl::Ptr q, tl::Ptr k, tl::Ptr v, tl::Ptr out, tl::Ptr dout, tl::Ptr lse,
         tl::Ptr kv_lens, tl::Ptr key_mask, tl::Ptr alibi, tl::Ptr cu_q, tl::Ptr cu_k, tl::Int q_sb,
         tl::Int q_ss, tl::Int q_sh, tl::Int k_sb, tl::Int k_ss, tl::Int k_sh, tl::Int v_sb,
         tl::Int v_ss, tl::Int v_sh, tl::Int o_sb, tl::Int o_ss, tl::Int o_sh, tl::Int mask_sb,
         tl::Int heads, tl::Int group, tl::Int seqlen_q, tl::Int seqlen_k, tl::Int window_left,
         tl::Int window_right, tl::Int seed_lo, tl::Int seed_hi, tl::Int offset_lo,
         tl::Int offset_hi, tl::Float scale_log2, tl::Float softcap_log2, tl::Float dropout_p,
         tl::Const<int> FLAGS, tl::Const<int> HEAD_DIM, tl::Const<int> DCHUNK,
         tl::Const<int> BLOCK_M, tl::Const<int> BLOCK_N) {
        const bool band = FLAGS & kAttentionBand, varlen = FLAGS & kAttentionVarlen;
        const bool dropout = FLAGS & kAttentionDropout;
        const bool has_mask = FLAGS & kAttentionKeyMask;
        auto bh = tl::program_id(1);
        auto b = i64(bh / heads), h = i64(bh % heads), kvh = i64((bh % heads) / group);
        const Logits lg =
            logits_of(FLAGS & kAttentionSoftcap, FLAGS & kAttentionAlibi, softcap_log2, alibi, h);
        Seqs sq = seqs_of(varlen, b, h, heads, cu_q, cu_k, seqlen_q, seqlen_k);
        Dropout drop;
        if (dropout)
          drop = dropout_of(seed_lo, seed_hi, offset_lo, offset_hi, dropout_p, seqlen_k);
        auto m0 = tl::program_id(0) * BLOCK_M;
        auto kv_len = kv_len_of(FLAGS & kAttentionKvLens, kv_lens, b, sq.len_k, seqlen_k);
        auto rows = m0 + tl::arange(0, BLOCK_M), diag = kv_len - sq.len_q;
        auto q_in = rows < sq.len_q;
        Head qh = head_of(q, sq.q_at, h, q_sb, q_ss, q_sh);
        Head oh = head_of(out, sq.q_at, h, o_sb, o_ss, o_sh);
        Chunks qc = load_chunks(qh, rows, q_in, HEAD_DIM, DCHUNK);
        Chunks doc =
            load_chunks(head_of(dout, sq.q_at, h, o_sb, o_ss, o_sh), rows, q_in, HEAD_DIM, DCHUNK);
        auto d = row_dot(doc, load_chunks(oh, rows, q_in, HEAD_DIM, DCHUNK));
        auto lse2 = lse_log2_of(lse, sq.lse_row0, rows, q_in);
        Chunks dqc = zero_chunks(BLOCK_M, HEAD_DIM, DCHUNK);
        tl::Tensor lo = tl::scalar(0, DType::i32), hi = kv_len;
        if (band) {
          auto last = tl::minimum(m0 + BLOCK_M, sq.len_q) - 1;
          lo = tl::maximum(m0 + diag - window_left, 0.0) / BLOCK_N * BLOCK_N;
          hi = tl::minimum(last + diag + window_right + 1, kv_len);
        }
        if (varlen)
          hi = tl::where(m0 < sq.len_q, hi, lo);
        Head kh = head_of(k, sq.k_at, kvh, k_sb, k_ss, k_sh);
        Head vh = head_of(v, sq.k_at, kvh, v_sb, v_ss, v_sh);
        tl::for_range(lo, hi, BLOCK_N, [&](tl::Int n0) {
          auto cols = n0 + tl::arange(0, BLOCK_N);
          Scores sc{rows,
                    q_in,
                    cols,
                    keys_in(has_mask, key_mask, b, mask_sb, cols, kv_len),
                    diag,
                    &window_left,
                    &window_right,
                    band,
                    dropout ? &drop : nullptr,
                    sq.lse_row0 + i64(rows),
                    sq.key0 + i64(cols),
                    &lg};
          Chunks kc = load_chunks(kh, cols, sc.k_in, HEAD_DIM, DCHUNK);
          Chunks vc = load_chunks(vh, cols, sc.k_in, HEAD_DIM, DCHUNK);
          Tile t = rebuild(sc, qc, kc, vc, doc, lse2, d, scale_log2, BLOCK_M, BLOCK_N);
          auto ds = t.ds.to(qc[0].dtype());
          for (size_t c = 0; c < dqc.size(); ++c)
            dqc[c] = exact_dot(ds, kc[c], dqc[c]);
        });
        store_chunks(head_of(dq, sq.q_at, h, q_sb, q_ss, q_sh), rows, q_in, dqc, DCHUNK,
                     scale_log2 * M_LN2);
      });
  return k;
}

// The zeros that dq_mode = atomics adds to: every query row of every entry, as the dq kernel would
// write them.
const Kernel& attention_backward_zero_dq_kernel() {
  static const Kernel k = tl::kernel(
      "attention_backward_zero_dq",
      "dq, cu_q, q_sb, q_ss, q_sh, heads, seqlen_q, FLAGS, HEAD_DIM, DCHUNK, BLOCK_M",
      [](tl::Ptr dq, tl::Ptr cu_q, tl::Int q_sb, tl::Int q_ss, tl::Int q_sh, tl::Int heads,
         tl::Int seqlen_q, tl::Const<int> FLAGS, tl::Const<int> HEAD_DIM, tl::Const<int> DCHUNK,
         tl::Const<int> BLOCK_M) {
        auto bh = tl::program_id(1);
        auto b = i64(bh / heads), h = i64(bh % heads);
        // seqs_of's key side is unused here: cu_q and seqlen_q stand in for it.
        Seqs sq = seqs_of(FLAGS & kAttentionVarlen, b, h, heads, cu_q, cu_q, seqlen_q, seqlen_q);
        auto rows = tl::program_id(0) * BLOCK_M + tl::arange(0, BLOCK_M);
        store_chunks(head_of(dq, sq.q_at, h, q_sb, q_ss, q_sh), rows, rows < sq.len_q,
                     zero_chunks(BLOCK_M, HEAD_DIM, DCHUNK), DCHUNK, tl::scalar(1.0, DType::f32));
      });
  return k;
}

} // namespace tessel::ops::detail
