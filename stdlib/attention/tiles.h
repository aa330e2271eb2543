// Tile helpers shared by the attention kernels (attention_kernels.cpp, the backward's): where a
// head starts, how a chunk of head_dim columns is loaded, which keys a band lets a row see.
// Private to stdlib/attention/.
#pragma once

#include "tessel/lang/ops.h"
#include "tessel/ops/dropout.h"

#include <cmath>

namespace tessel::ops::detail::tiles {

namespace tl = tessel::lang;

inline constexpr double kInf = INFINITY;

inline tl::Tensor i64(const tl::Tensor& t) { return t.to(DType::i64); }
// [n] -> [n, 1]
inline tl::Tensor col(const tl::Tensor& t) { return tl::expand_dims(t, 1); }
// [n] -> [1, n]
inline tl::Tensor row(const tl::Tensor& t) { return tl::expand_dims(t, 0); }

// Where one (batch, head)'s rows start in a tensor of strides (batch, seq, head).
struct Head {
  tl::Tensor base; // pointer to element [b, 0, h, 0]
  tl::Tensor seq;  // i64 stride between positions
};

inline Head head_of(const tl::Ptr& p, const tl::Tensor& b, const tl::Tensor& h,
                    const tl::Int& s_batch, const tl::Int& s_seq, const tl::Int& s_head) {
  return {p + b * i64(s_batch) + h * i64(s_head), i64(s_seq)};
}

// A head's DCHUNK columns starting at `c0`, the unit every tile is loaded and multiplied in:
// head_dim is split so that a dot's operands stay small (head_dim 96 is three chunks of 32, so
// no column is ever masked), and the Q tile and the accumulator are vectors of chunks.
inline tl::Tensor load_chunk(const Head& hd, const tl::Tensor& pos, const tl::Tensor& in, int c0,
                             int chunk) {
  auto ptrs = (hd.base + col(i64(pos) * hd.seq)) + row(c0 + tl::arange(0, chunk));
  return tl::load(ptrs, col(in), 0.0);
}

// Stores `value` [rows, chunk] at base + offset[r] + c0 + column for the rows where `in` holds.
// The mask is built from the 2-D offsets (a hidden row's offset is far below 0) rather than
// broadcast from the [rows] `in`: broadcasting that i1 vector into the layout of a store of 16-bit
// elements (8 per thread) went through shared memory as packed bytes with two-way bank conflicts
// (the simulator's bank profile found them in decode).
inline void store_rows(const tl::Tensor& base, const tl::Tensor& offset, const tl::Tensor& in,
                       int c0, int chunk, const tl::Tensor& value) {
  auto off =
      col(tl::where(in, offset, -double(int64_t(1) << 40))) + row(i64(c0 + tl::arange(0, chunk)));
  tl::store(base + off, value, off >= 0);
}

// Which keys of the tile `cols` ([1, BLOCK_N]) the query rows `rows` ([BLOCK_M, 1]) may see, by
// the band i + diag - left <= j <= i + diag + right.
inline tl::Tensor in_band(const tl::Tensor& rows, const tl::Tensor& cols, const tl::Tensor& diag,
                          const tl::Int& left, const tl::Int& right) {
  auto i = rows + diag;
  return (cols >= i - left) & (cols <= i + right);
}

// Soft-capping and ALiBi (AttentionOptions::softcap, alibi_slopes), shared by the forward and both
// backward kernels. The scores are in log2 units (x = scale · log2(e) · <q, k>), so the cap and
// the slope come scaled by log2(e) as well: softcap · tanh(s / softcap) becomes C · tanh(x / C)
// with C = softcap · log2(e), and the bias -slope · |i + diag - j| becomes -slope · log2(e) · |…|.
// The cap comes first, then the bias, as in FlashAttention (the bias is not capped).
struct Logits {
  bool softcap = false, alibi = false;
  tl::Tensor cap;   // f32 C
  tl::Tensor slope; // f32 slope of this head · log2(e)
};

// The modified scores, and with softcap the derivative of the cap, 1 - tanh², that the backward
// multiplies into ds (the bias is constant in q and k: it has no factor).
struct Capped {
  tl::Tensor s, dcap;
};

inline tl::Tensor alibi_slope_of(const tl::Ptr& alibi, const tl::Tensor& h) {
  return tl::load(alibi + h).to(DType::f32) * M_LOG2E;
}

// The modifiers of head h that the FLAGS bits name (kAttentionSoftcap, kAttentionAlibi). Every
// field is copy-constructed here (never default-constructed and assigned), so that a Logits built
// inside a loop body is that body's own value, not a carried one.
inline Logits logits_of(bool softcap, bool alibi, const tl::Float& cap, const tl::Ptr& slopes,
                        const tl::Tensor& h) {
  // Without alibi the slope is never read; cap stands in for it.
  return {softcap, alibi, cap, alibi ? alibi_slope_of(slopes, h) : tl::Tensor(cap)};
}

inline tl::Tensor add_alibi(const Logits& lg, const tl::Tensor& s, const tl::Tensor& rows,
                            const tl::Tensor& cols, const tl::Tensor& diag) {
  if (!lg.alibi)
    return s;
  return s - lg.slope * tl::abs((rows + diag - cols).to(DType::f32));
}

// `rows` [M, 1] and `cols` [1, N] are the query and key positions of the score tile `s`.
inline Capped apply_logits(const Logits& lg, const tl::Tensor& s, const tl::Tensor& rows,
                           const tl::Tensor& cols, const tl::Tensor& diag) {
  if (!lg.softcap)
    return {add_alibi(lg, s, rows, cols, diag), s}; // dcap unused without softcap
  auto t = tl::tanh(s / lg.cap);
  return {add_alibi(lg, t * lg.cap, rows, cols, diag), 1.0 - t * t};
}

// Where one batch entry's queries and keys are, for the dense layout or for varlen (packed
// [total_tokens, heads, head_dim] tensors cut by cu_seqlens prefix sums). In varlen mode the host
// passes each tensor's seq stride as its batch stride, so that head_of(p, q_at, …) with q_at the
// entry's first token finds its rows, and the kernel's seqlen_q/seqlen_k parameters carry the
// packed totals (the lse rows are [heads, total_q], the dropout counters run over total_k keys).
struct Seqs {
  tl::Tensor q_at, k_at;   // i64 "batch index" for head_of: b, or the entry's first token
  tl::Tensor len_q, len_k; // i32 lengths of this entry
  tl::Tensor lse_row0;     // i64 index of this (entry, head)'s first query row in lse
  tl::Tensor key0;         // i64 index of the entry's first key among all keys (dropout)
};

// Where (entry b, head h)'s query rows start in lse: [batch, heads, seqlen_q], or [heads, total_q]
// for varlen (q_at: the entry's first token, seqlen_q: the total).
inline tl::Tensor lse_row0_of(bool varlen, const tl::Tensor& b, const tl::Tensor& h,
                              const tl::Int& heads, const tl::Tensor& q_at,
                              const tl::Int& seqlen_q) {
  return varlen ? h * i64(seqlen_q) + q_at : (b * i64(heads) + h) * i64(seqlen_q);
}

inline Seqs seqs_of(bool varlen, const tl::Tensor& b, const tl::Tensor& h, const tl::Int& heads,
                    const tl::Ptr& cu_q, const tl::Ptr& cu_k, const tl::Int& seqlen_q,
                    const tl::Int& seqlen_k) {
  if (!varlen)
    return {b,
            b,
            seqlen_q,
            seqlen_k,
            lse_row0_of(false, b, h, heads, b, seqlen_q),
            tl::scalar(0, DType::i64)};
  // i32 prefix sums (the host checks their dtype; converting keeps the kernel traceable with any
  // stand-in pointer, as when cu_seqlens are absent).
  auto q0 = tl::load(cu_q + b).to(DType::i32), q1 = tl::load(cu_q + b + 1).to(DType::i32);
  auto k0 = tl::load(cu_k + b).to(DType::i32), k1 = tl::load(cu_k + b + 1).to(DType::i32);
  return {i64(q0), i64(k0), q1 - q0, k1 - k0, lse_row0_of(true, b, h, heads, i64(q0), seqlen_q),
          i64(k0)};
}

// Dropout's keep mask for a (query rows, key columns) tile, the same bits in the forward and both
// backward kernels: key j of query row r (r the row's index in lse) is kept when
// rand(seed, offset + r · n_keys + j) >= p, j counted among all keys (ops::dsl::dropout_mask).
struct Dropout {
  tl::Tensor seed, offset, p, scale; // i64, i64, f32, f32 1 / (1 - p)
  tl::Tensor n_keys;                 // i64
};

inline Dropout dropout_of(const tl::Int& seed_lo, const tl::Int& seed_hi, const tl::Int& offset_lo,
                          const tl::Int& offset_hi, const tl::Float& p, const tl::Int& n_keys) {
  return {ops::dsl::join_words(seed_lo, seed_hi), ops::dsl::join_words(offset_lo, offset_hi), p,
          1.0 / (1.0 - p), i64(n_keys)};
}

inline tl::Tensor keep_mask(const Dropout& d, const tl::Tensor& lse_rows, const tl::Tensor& keys) {
  auto counter = d.offset + col(lse_rows) * d.n_keys + row(keys);
  return ops::dsl::dropout_mask(d.seed, counter, d.p);
}

} // namespace tessel::ops::detail::tiles
