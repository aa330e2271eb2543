// Scaled dot-product attention, FlashAttention-2 style (docs/stdlib.md, "Attention").
//
//   tessel::ops::attention(q, k, v, out);                  // out = softmax(q kᵀ · scale) v
//   tessel::ops::attention(q, k, v, out, {.causal = true, .lse = lse});
//   tessel::ops::attention_backward(q, k, v, out, dout, lse, dq, dk, dv, {.causal = true});
//
// Semantics, per batch b, query head h and query position i:
//   out[b, i, h, :] = sum_j p_ij v[b, j, h / group, :],   p_i = softmax_j(s_ij),
//   s_ij = scale · <q[b, i, h, :], k[b, j, h / group, :]>  where key j is visible to query i,
//   and -inf where it is not, with group = q heads / kv heads (GQA; 1 kv head is MQA).
// Key j is visible to query i when all of these hold:
//   - j < kv_len[b]                    (kv_lens given; else every key of seqlen_k),
//   - key_padding_mask[b, j] != 0      (mask given),
//   - i + d - window_left <= j <= i + d + window_right, with d = kv_len[b] - seqlen_q: the band
//     is aligned to the bottom-right corner as in FlashAttention, so with seqlen_q == seqlen_k
//     it is the ordinary diagonal and a query block at the end of a KV cache sees its past;
//     causal is window_right = 0. A negative window bound is unbounded.
// A query row that sees no key gets out = 0 and lse = -inf (never NaN).
//
// Tensors: q [batch, seqlen_q, heads, head_dim], k and v [batch, seqlen_k, kv_heads, head_dim],
// out like q — or [batch, heads, seqlen, head_dim] for all four with layout = bhsd. Any strides
// with a contiguous head_dim (so a transposed view or a packed qkv buffer needs no copy). q, k, v
// share one dtype (f32, f16 or bf16, or for the forward f8e4m3/f8e5m2 with descales, below); out is
// f32, f16 or bf16; the scores, the softmax and the accumulation are f32. head_dim is 32, 64, 96,
// 128 or 256.
//
// The kernel: one program per (block of query rows, batch · head) keeps its Q tile resident and
// streams K/V tiles through a for_range with an online softmax (running max and sum, exp2 with
// log2(e) folded into the scale). Only key blocks that the band and kv_len can reach are visited.
#pragma once

#include "tessel/ops/common.h"

#include <source_location>

namespace tessel::ops {

// How the four tensors' dimensions are ordered (strides are free either way).
enum class AttentionLayout {
  bshd, // [batch, seqlen, heads, head_dim] (FlashAttention, most inference engines)
  bhsd, // [batch, heads, seqlen, head_dim] (PyTorch's scaled_dot_product_attention)
};

// How attention_backward accumulates dq.
enum class AttentionDq {
  // A separate pass over the key blocks per query block: no atomics, the same bits every run.
  deterministic,
  // f32 atomic adds of each (query block, key block)'s dq tile from the dk/dv kernel, as
  // FlashAttention-2 does: one pass instead of two, the sum's order (and its last bits) varying
  // from run to run. dq must be f32.
  atomics,
};

struct AttentionOptions {
  bool causal = false;
  // Multiplies q kᵀ; 0 means 1 / sqrt(head_dim).
  float softmax_scale = 0;
  // Sliding window: query i sees keys i + d - window_left ..= i + d + window_right (see above);
  // -1 is unbounded on that side. causal = true is window_right = 0.
  int64_t window_left = -1;
  int64_t window_right = -1;
  AttentionLayout layout = AttentionLayout::bshd;
  // Optional (null data: absent). i32 [batch]: the number of valid keys of each batch entry
  // (clamped to [0, seqlen_k]); keys past it are never read.
  TensorView kv_lens = {};
  // Optional (null data: absent). [batch, seqlen_k] of any integer or float dtype but f64,
  // seqlen_k contiguous: 0 hides a key (padding), anything else keeps it.
  TensorView key_padding_mask = {};
  // Optional output (null data: not written). f32 [batch, heads, seqlen_q], contiguous:
  // the natural log-sum-exp of each query row's scores, as the backward pass needs it.
  // With varlen: f32 [heads, total_q] (FlashAttention's varlen lse).
  TensorView lse = {};
  // Variable-length batches (varlen; null data: absent, both or neither): i32 [batch + 1] prefix
  // sums, entry b's queries being tokens cu_seqlens_q[b] ..< cu_seqlens_q[b + 1] of q packed as
  // [total_q, heads, head_dim] (k and v: [total_k, kv_heads, head_dim], cut by cu_seqlens_k),
  // FlashAttention's varlen layout; out like q. Each entry is its own sequence: causal and the
  // window align to its own bottom-right corner. max_seqlen_q/k bound the lengths (the grid): 0
  // reads them from cu_seqlens, which host (CPU) views allow; device views must pass them.
  // Host views are checked (non-decreasing, within the tensors, within max_seqlen); device views
  // are not read on the host: there a wrong cu_seqlens is undefined (the simulator's memcheck
  // reports reads past the tensors). Tokens outside cu[0] ..< cu[batch] are not written.
  // kv_lens and key_padding_mask do not combine with varlen.
  TensorView cu_seqlens_q = {};
  TensorView cu_seqlens_k = {};
  int64_t max_seqlen_q = 0;
  int64_t max_seqlen_k = 0;
  // Dropout on the attention probabilities, FlashAttention-2's: key j of query row r is kept
  // with probability 1 - dropout_p and scaled by 1 / (1 - dropout_p), the keep bit being
  // u >= dropout_p for element g = dropout_offset + r · n_keys + j, u from word g % 4 of Philox
  // 4x32-10 counter g / 4 (the mapping of ops::dropout), r the row's index in lse (b · heads ·
  // seqlen_q + h · seqlen_q + i; varlen: h · total_q + token) and n_keys seqlen_k (varlen: total_k,
  // j the key's token index). The normaliser (lse) sums the undropped probabilities. The backward
  // regenerates the same bits: pass it the forward's options. dropout_p = 0 is the plain kernel, no
  // random numbers.
  float dropout_p = 0;
  uint64_t dropout_seed = 0;
  uint64_t dropout_offset = 0;
  // ALiBi (optional; null data: absent): f32 [heads], contiguous, on q's device. Adds
  // -alibi_slopes[h] · |i + d - j| to the score of query i and key j of head h, d the band's
  // offset above (kv_len - seqlen_q: bottom-right aligned), as FlashAttention's alibi_slopes.
  TensorView alibi_slopes = {};
  // Logit soft-capping (Gemma 2, FlashAttention's softcap): each score s = scale · <q, k> becomes
  // softcap · tanh(s / softcap), before alibi and the masks. 0 is off; otherwise finite and > 0.
  float softcap = 0;
  // fp8 inputs (forward only): with q, k and v all f8e4m3 or all f8e5m2 these three are required,
  // FlashAttention-3's descale_q/k/v: f32 factors that turn the stored values into the real ones
  // (q = descale_q · q8, likewise k and v), all three [1] (per tensor) or all three a contiguous
  // [batch, kv_heads] (per kv head), on q's device. The scores are f32 (scale · dq · dk · <q8, k8>)
  // and so is the softmax; P, in [0, 1], is rounded to v's fp8 type for the PV product, with no
  // scale of its own (FA3's choice); out is f32, f16 or bf16. On a GPU fp8 needs sm_89 or later.
  TensorView descale_q = {};
  TensorView descale_k = {};
  TensorView descale_v = {};
  // attention_backward only: how dq is accumulated (above).
  AttentionDq dq_mode = AttentionDq::deterministic;
  // Query rows and keys per tile; 0 picks them from the shape and the device. Powers of two,
  // 16 to 128. Tests set them small.
  int block_m = 0;
  int block_n = 0;
};

void attention(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& out,
               const AttentionOptions& options = {}, Stream* stream = nullptr,
               std::source_location where = std::source_location::current());

// The gradients of attention (FlashAttention-2's backward: the probabilities are rebuilt from
// lse; dq in a separate pass over the key blocks, so no atomics and the same bits every run, or by
// atomics with dq_mode = atomics). out and lse are the forward's (lse is required); dout like out,
// dq like q, dk like k, dv like v, each with the same strides as the tensor it is like, any float
// dtype (dq f32 with atomics). The options must be the forward's (masks, kv_lens, alibi, softcap,
// varlen and dropout included). Keys hidden by kv_lens or key_padding_mask get dk = dv = 0.
void attention_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                        const TensorView& out, const TensorView& dout, const TensorView& lse,
                        const TensorView& dq, const TensorView& dk, const TensorView& dv,
                        const AttentionOptions& options = {}, Stream* stream = nullptr,
                        std::source_location where = std::source_location::current());

// ---- decode over a paged KV cache ---------------------------------------------------------------
//
//   tessel::ops::decode_attention(q, k_cache, v_cache, block_table, seq_lens, out);
//
// (attention_decode, AttentionDecodeOptions and attention_decode_workspace are the same op under
// its first name, kept; an error names the op by the name it was called by.)
//
// One query token per sequence against its cached keys, as an inference engine's decode step:
//   out[b, h, :] = Σ_j p_j v_j,  p = softmax_j(scale · <q[b, h, :], k_j>),  j < seq_lens[b],
// key j of sequence b being k_cache[block_table[b, j / block_size], j % block_size, h / group, :]
// (vLLM's paged layout; v likewise). Tensors: q and out [batch, heads, head_dim]; k_cache and
// v_cache [num_blocks, block_size, kv_heads, head_dim] (any strides, head_dim contiguous), kv
// heads dividing heads (GQA; the heads of a group share one program and each page is read once
// per kv head); block_table i32 [batch, max_blocks] (blocks contiguous); seq_lens i32 [batch].
// block_size is 16, 32, 64 or 128; head_dim as attention's; dtypes as attention's. A sequence
// of length 0 gets out = 0 and lse = -inf.
//
// Several query tokens per sequence (speculative decoding, chunked prefill): q and out
// [batch, tq, heads, head_dim], the tq new tokens' keys already in the cache and counted by
// seq_lens, causal among them: token t is position seq_lens[b] - tq + t and sees keys j <= it.
// group · tq <= 128 (one tile holds them); lse is then [batch, tq, heads].
//
// Flash-decoding: the pages of each sequence are split across num_splits programs that each write
// a partial output and log-sum-exp to `workspace`, and a second kernel combines them. Host views
// are checked before launch: every block id a sequence reaches must be a block of the cache,
// seq_lens[b] <= max_blocks · block_size, and seq_lens[b] is 0 or >= tq. Device views are not read
// on the host; there a bad id is undefined (the simulator's memcheck reports the read) and a longer
// seq_lens is cut at the table's end.
//
// A contiguous (non-paged) KV cache [batch, seqlen_k, kv_heads, head_dim] needs no other op: this
// op on the cache viewed as blocks — k_cache [batch · seqlen_k / bs, bs, kv_heads, head_dim] with
// block_table[b, i] = b · seqlen_k / bs + i — which splits long contexts and shares each page
// among a GQA group; or ops::attention with seqlen_q = 1 and kv_lens, correct but several times
// slower (one program per q head, no split; docs/stdlib.md §8.2).
struct AttentionDecodeOptions {
  float softmax_scale = 0; // 0: 1 / sqrt(head_dim)
  // Optional output (null data: not written): f32 [batch, heads] ([batch, tq, heads] with a
  // rank-4 q), contiguous.
  TensorView lse = {};
  // KV splits per sequence; 0 picks from the shape (batch · kv heads against the table's length),
  // bounded by the workspace; 1 is one kernel and no workspace.
  int num_splits = 0;
  // f32, contiguous, at least decode_attention_workspace(...) elements: the partials of
  // num_splits > 1. Absent (null data): num_splits 0 means 1; num_splits > 1 is an error.
  TensorView workspace = {};
};
using DecodeAttentionOptions = AttentionDecodeOptions;

// The f32 elements of workspace that decode_attention needs for `num_splits` splits and
// `query_tokens` (tq) tokens per sequence.
int64_t decode_attention_workspace(int64_t batch, int64_t heads, int64_t head_dim, int num_splits,
                                   int64_t query_tokens = 1);
int64_t attention_decode_workspace(int64_t batch, int64_t heads, int64_t head_dim, int num_splits,
                                   int64_t query_tokens = 1);

void decode_attention(const TensorView& q, const TensorView& k_cache, const TensorView& v_cache,
                      const TensorView& block_table, const TensorView& seq_lens,
                      const TensorView& out, const DecodeAttentionOptions& options = {},
                      Stream* stream = nullptr,
                      std::source_location where = std::source_location::current());
void attention_decode(const TensorView& q, const TensorView& k_cache, const TensorView& v_cache,
                      const TensorView& block_table, const TensorView& seq_lens,
                      const TensorView& out, const AttentionDecodeOptions& options = {},
                      Stream* stream = nullptr,
                      std::source_location where = std::source_location::current());

} // namespace tessel::ops
