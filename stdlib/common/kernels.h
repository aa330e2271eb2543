// The stdlib's DSL kernels, for tests and tools that compile them on their own (PTX for a GPU
// target, resource reports). Private to stdlib/ and tests/stdlib/. The parameter lists below are
// for orientation; each kernel's definition names its parameters (`kernel.def().param_names`).
#pragma once

#include "tessel/jit/kernel.h"

namespace tessel::ops::detail {

const Kernel& softmax_forward_kernel();
const Kernel& softmax_backward_kernel();
// Short rows on the CPU, ROWS rows per program (stdlib/common/row_tiles.h). Params: y, x,
// y_stride, x_stride, n, rows, LOG, ROWS, BLOCK.
const Kernel& softmax_rows_forward_kernel();

// Params: y, residual_out, mean, rstd, x, residual, weight, bias, strides..., n, eps,
// LAYER, RESIDUAL, BLOCK.
const Kernel& norm_forward_kernel();
// Params: dx, dy, x, weight, mean, rstd, strides..., n, LAYER, BLOCK.
const Kernel& norm_backward_kernel();
// Params: dweight, dbias, dy, x, mean, rstd, strides..., rows, n, LAYER, ROWS, BLOCK.
const Kernel& norm_weight_grad_kernel();
// The weight-gradient kernel's tile as the backward ops launch it: ROWS x BLOCK at 4 warps.
inline constexpr int kGradRows = 16;
inline constexpr int kGradBlock = 256;

// The activation of activation_forward_kernel / activation_backward_kernel (their ACT parameter).
enum class Activation : int { silu = 0, gelu_erf = 1, gelu_tanh = 2 };

// Params: y, gate, up, strides..., n, ACT, GATED, BLOCK. Grid: (rows, column blocks).
const Kernel& activation_forward_kernel();
// Params: dgate, dup, gate, up, dy, strides..., n, ACT, GATED, BLOCK.
const Kernel& activation_backward_kernel();

// Params: y, x, mask, strides..., seq, hidden, SEQ, BLOCK. Grid: (batch, hidden blocks).
const Kernel& mean_pool_kernel();
// mean_pool's tile: SEQ positions x BLOCK hidden columns (at 8 warps: 8 values per thread).
inline constexpr int kPoolSeq = 8;
inline constexpr int kPoolBlock = 256;
// Params: y, x, y_stride, x_stride, n, eps, LOOPED, BLOCK.
const Kernel& l2_normalize_kernel();

// The arithmetic of broadcast_binary_kernel (its OP parameter).
enum class BinaryArith : int { add = 0, mul = 1 };
// How an operand's last dimension is read (the A_LAST / B_LAST parameters): broadcast (stride 0,
// one value per row), contiguous (16-byte accesses where aligned) or with a run-time stride.
enum class LastAxis : int { broadcast = 0, contiguous = 1, strided = 2 };
// Params: y, a, b, d1, d2, n, 3 y strides, 4 a strides, 4 b strides, OP, A_LAST, B_LAST, BLOCK.
// Grid: (d0 * d1 * d2 rows of the rank-4 output, blocks of its n columns).
const Kernel& broadcast_binary_kernel();
inline constexpr int kBinaryBlock = 1024;

// Params: losses, logits, labels, logit_stride, label_stride, n, ignore_index, smoothing, BLOCK.
// One program per row, looping over column blocks.
const Kernel& cross_entropy_kernel();
// Params: loss, losses, labels, label_stride, rows, ignore_index, MEAN, BLOCK. One program.
const Kernel& cross_entropy_reduce_kernel();
// Params: dlogits, logits, labels, dloss, dlogits_stride, logit_stride, label_stride,
// dloss_stride, rows, n, ignore_index, counted (rows not ignored; -1: counted in the kernel),
// smoothing, REDUCTION, BLOCK. One program per row.
const Kernel& cross_entropy_backward_kernel();
inline constexpr int kCrossEntropyMaxBlock = 4096;
inline constexpr int kCrossEntropyReduceBlock = 1024;

// Params: y, x, cos, sin, positions, heads, seq, 3 x strides, 3 y strides, cos_stride,
// sin_stride, pos_stride, half, head_dim, freq_scale, INTERLEAVED, FROM_POSITIONS, INVERSE, BLOCK.
// One program per (batch, position, head) row; BLOCK >= half pairs.
const Kernel& rotary_kernel();

// Params: y, x, y_stride, x_stride, n, seed_lo, seed_hi, offset_lo, offset_hi, p, BLOCK. Grid:
// (rows, column blocks).
const Kernel& dropout_kernel();

// Params: indices, x, x_stride, n, BLOCK. One program per row, looping over column blocks.
const Kernel& argmax_kernel();
inline constexpr int kArgmaxMaxBlock = 4096;
// Params: values, indices, x, x_stride, v_stride, i_stride, n, k, LARGEST, KB (candidate slots, a
// power of two >= k), BLOCK. One program per row, looping over column blocks.
const Kernel& topk_kernel();
inline constexpr int kTopkMaxBlock = 4096;

// Params: out, lse, q, k, v, kv_lens, key_mask, cu_q, cu_k, alibi, descale_q/k/v (f32, read with
// fp8 q), 3 strides (batch, seq, head) each of q, k, v, out, mask_sb, ds_sb, ds_sh, heads, group,
// seqlen_q, seqlen_k, window_left/right, seed_lo/hi, offset_lo/hi, scale_log2, softcap_log2,
// dropout_p, FLAGS, HEAD_DIM, DCHUNK (head_dim columns per dot, a power of two dividing it),
// BLOCK_M, BLOCK_N. Grid: (query blocks, batch * heads). lse is contiguous. Varlen (tiles.h, Seqs):
// batch strides are the seq strides and seqlen_q/seqlen_k the packed totals.
const Kernel& attention_forward_kernel();
// attention_backward's kernels, FlashAttention-2's two passes. dk/dv: dk, dv, dq, q, k, v, out,
// dout, lse, kv_lens, key_mask, alibi, cu_q, cu_k, 3 strides each of q, k, v, out (dk, dv, dout,
// dq take those of k, v, out, q), mask_sb, heads, group, seqlen_q, seqlen_k, window_left,
// window_right, seed_lo, seed_hi, offset_lo, offset_hi, scale_log2, softcap_log2, dropout_p,
// FLAGS, HEAD_DIM, DCHUNK, BLOCK_M, BLOCK_N; grid (key blocks, batch * kv heads); dq (f32) is
// only written with kAttentionAtomicDq. dq: as dk/dv without dk, dv; grid (query blocks,
// batch * heads). Zero dq: dq, cu_q, q's 3 strides, heads, seqlen_q, FLAGS (varlen), HEAD_DIM,
// DCHUNK, BLOCK_M; grid (query blocks, batch * heads): the f32 zeros the atomics add to.
const Kernel& attention_backward_dkdv_kernel();
const Kernel& attention_backward_dq_kernel();
const Kernel& attention_backward_zero_dq_kernel();
// The bits of their FLAGS parameter (one constant keeps the parameter lists short).
inline constexpr int kAttentionBand = 1;     // a sliding window or causal band
inline constexpr int kAttentionKvLens = 2;   // kv_lens is read
inline constexpr int kAttentionKeyMask = 4;  // key_mask is read
inline constexpr int kAttentionSaveLse = 8;  // lse is written
inline constexpr int kAttentionVarlen = 16;  // cu_q and cu_k cut packed tensors (varlen)
inline constexpr int kAttentionDropout = 32; // dropout on the probabilities (Philox)
// (64 is kDecodePartial, below.)
inline constexpr int kAttentionAlibi = 128;    // alibi slopes are read
inline constexpr int kAttentionSoftcap = 256;  // scores soft-capped by softcap_log2
inline constexpr int kAttentionAtomicDq = 512; // the dk/dv kernel adds dq tiles by f32 atomics

// decode_attention's kernels (stdlib/attention/decode_kernels.cpp). Decode: out, lse, q, k_cache,
// v_cache, block_table, seq_lens, q_sb, q_st, q_sh, o_sb, o_st, o_sh (batch, token, head strides),
// k_sblk, k_stok, k_sh, v_sblk, v_stok, v_sh, bt_sb, kv_heads, group, tq (query tokens per
// sequence), max_blocks, pages_per_split, scale_log2, FLAGS, HEAD_DIM, DCHUNK, BLOCK_H (rows per
// program, >= group · tq), PAGE (the cache's block size); grid (splits, batch * kv heads). With
// kDecodePartial, out and lse are the f32 workspace's partials. Combine: out, lse, part_out,
// part_lse, o_sb, o_st, o_sh, heads, tq, splits, FLAGS, HEAD_DIM, BLOCK_D, BLOCK_S; grid
// (batch * tq * heads). FLAGS: kAttentionSaveLse, kDecodePartial.
const Kernel& attention_decode_kernel();
const Kernel& attention_decode_combine_kernel();
inline constexpr int kDecodePartial = 64; // one split of several: partials to the workspace

} // namespace tessel::ops::detail
