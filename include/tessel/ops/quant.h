// Quantized and low-rank matmul, first slice on sm_80 (docs/stdlib.md, "Quantized and low-rank
// matmul"). Every op runs on the CPU backend and on a GPU (the simulator included); the int4
// packing is an offline step on host tensors.
//
//   W8A8:  q, s = quantize_per_token_int8(x)       s[r] = amax(|x[r, :]|) / 127, q = rne(x / s)
//          out  = epilogues(s_x[row] * s_w[col] * (q_x @ q_w))      (s8 x s8 -> s32 on mma)
//   W4A16: packed, scales, zeros = quantize_weights_int4(w, group_size, mode)
//          out  = epilogues(x @ ((q - zero) * scale))  (dequantised in registers in the k-loop)
//   LoRA:  out  = epilogues(x @ W + scale * (x @ A) @ B)                      (one kernel)
#pragma once

#include "tessel/ops/matmul.h"

#include <optional>

namespace tessel::ops {

// ---- W8A8
// ----------------------------------------------------------------------------------------

// x: [rows, n] f32/f16/bf16 (contiguous rows, any row stride); q: i8 of x's shape; scales: f32
// [rows], contiguous. Each row gets scale amax / 127 (0 for an all-zero row, whose q is 0) and
// q = clamp(rne(x / scale), -127, 127), in f32 math. Rows of up to 16384 elements.
void quantize_per_token_int8(const TensorView& x, const TensorView& q, const TensorView& scales,
                             Stream* stream = nullptr,
                             std::source_location where = std::source_location::current());

// One kernel: h = rms_norm(x) * weight (as ops::rms_norm, f32 math), then h quantized as
// quantize_per_token_int8 does. weight: contiguous float vector of x's row length.
void rms_norm_quantize_int8(const TensorView& x, const TensorView& weight, const TensorView& q,
                            const TensorView& scales, float eps = 1e-6f, Stream* stream = nullptr,
                            std::source_location where = std::source_location::current());

// out [M, N] (f32, f16 or bf16) = epilogue(x_scales[m] * w_scales[n] * (xq @ wq)): xq [M, K] i8,
// wq [K, N] i8 (any strides: a column-major wq is an [N, K] row-major weight), x_scales f32 [M],
// w_scales f32 [N]. A composition: ops::matmul on the int8 operands (the s8 mma path) with the
// dequantisation as the first epilogue step, then `epilogue`. The dequantisation takes both of
// matmul's epilogue operand slots, so the steps after it may use scalars but not tensors (bias
// and residual are refused with matmul's message).
void matmul_w8a8(const TensorView& xq, const TensorView& x_scales, const TensorView& wq,
                 const TensorView& w_scales, const TensorView& out,
                 const std::vector<Epilogue>& epilogue = {}, Stream* stream = nullptr,
                 std::source_location where = std::source_location::current());

// ---- W4A16
// ---------------------------------------------------------------------------------------

enum class Int4Mode {
  symmetric,  // w ~ (q - 8) * scale, scale = amax / 7, q in [0, 15]; no zeros tensor
  asymmetric, // w ~ (q - zero) * scale, scale = (max - min) / 15, zero = rne(-min / scale)
};

// group_size for one group per output channel (the whole K).
inline constexpr int kPerChannel = 0;

// The packed layout ("half-split"): packed is i8 [K / 2, N]; the low nibble of packed[r, n] is
// q[r, n] and the high nibble is q[r + K / 2, n]. A k-loop step then reads one packed tile and
// gets two weight tiles from it with a mask and a shift, with no interleaving of rows.
//
// Host tensors only (an offline step). w: [K, N] f32/f16/bf16, K even; group_size 32, 64, 128
// or kPerChannel, dividing K; packed: i8 [K / 2, N]; scales: f32 [K / group, N]; zeros: f32
// [K / group, N] for asymmetric (integers 0..15 stored as f32), empty for symmetric. All
// contiguous.
void quantize_weights_int4(const TensorView& w, int group_size, Int4Mode mode,
                           const TensorView& packed, const TensorView& scales,
                           const TensorView& zeros = {},
                           std::source_location where = std::source_location::current());

// The byte order of the packed weights (same shape, i8 [K / 2, N], and the same nibbles).
enum class Int4Layout {
  half_split, // above: packed[r, n] = q[r, n] | q[r + K / 2, n] << 4
  // Marlin-style, pre-shuffled into the B-fragment order of mma.sync.m16n8k16: K a multiple of
  // 16 and N of 64. The weights are cut into [16, 64] tiles (k-tile major, then n-tile), each 512
  // contiguous bytes: lane t's 16 bytes hold its B fragments of the tile's eight n8 blocks
  // (n = 8j + t / 4, k = 2 (t % 4) + {0, 1, 8, 9}), two blocks per 32-bit word with the nibbles
  // interleaved so that (word & 0x000f000f) | 0x64006400 is one f16x2 fragment register
  // (docs/stdlib.md, "W4A16 layout: Marlin").
  marlin,
};

// The same with the layout chosen: quantize_weights_int4(..) is layout half_split.
void quantize_weights_int4(const TensorView& w, int group_size, Int4Mode mode, Int4Layout layout,
                           const TensorView& packed, const TensorView& scales,
                           const TensorView& zeros = {},
                           std::source_location where = std::source_location::current());

// The packing alone, for round trips: q i8 [K, N] with values 0..15 <-> packed i8 [K / 2, N].
void pack_int4(const TensorView& q, const TensorView& packed,
               std::source_location where = std::source_location::current());
void unpack_int4(const TensorView& packed, const TensorView& q,
                 std::source_location where = std::source_location::current());
void pack_int4(const TensorView& q, const TensorView& packed, Int4Layout layout,
               std::source_location where = std::source_location::current());
void unpack_int4(const TensorView& packed, const TensorView& q, Int4Layout layout,
                 std::source_location where = std::source_location::current());

// Act-order (GPTQ's desc_act): the weight rows quantized in the order `perm` gives (i32 [K], a
// permutation of 0..K-1 on the host; usually rows by decreasing importance), so that each group
// holds rows that are consecutive in that order. Stored row i is w[perm[i]]: packed, scales and
// zeros are those of quantize_weights_int4 on the permuted w, and matmul_w4a16 with
// W4A16Options::perm = perm reads x's columns in the same order, undoing it. Errors: perm of the
// wrong shape or dtype, or not a permutation (an entry out of range or repeated).
void quantize_weights_int4_act_order(const TensorView& w, int group_size, Int4Mode mode,
                                     const TensorView& perm, const TensorView& packed,
                                     const TensorView& scales, const TensorView& zeros = {},
                                     std::source_location where = std::source_location::current());

struct W4A16Options {
  // Unset, on a GPU: block_m 16 for M <= 16 (decode: one row of programs, each streaming a strip
  // of the weights) else 64; block_n 64; on the CPU: block_m M's power of two up to 64, block_n
  // 128. block_k 32 packed rows per step (64 weight rows); 4 warps (8 for block_m 64 with an
  // epilogue or act-order, which spill the tile at 4). Block sizes are powers of two (at least 16
  // on a GPU).
  std::optional<MatmulConfig> config = std::nullopt;
  // Applied to the f32 accumulator before the store, as ops::matmul's (bias, activations,
  // residual, scale, user steps; at most 2 tensors and 4 scalars in all). out's dtype is the
  // output cast.
  std::vector<Epilogue> epilogue = {};
  // Act-order: the perm quantize_weights_int4_act_order packed with (i32 [K], contiguous, on x's
  // device). A host perm is checked to be a permutation; a device perm is not read back: an entry
  // out of range makes the output NaN (never an out-of-bounds read), a repeated one is not
  // detected.
  TensorView perm = {};
  // The byte order `packed` was made in (quantize_weights_int4 / pack_int4 with this layout).
  Int4Layout layout = Int4Layout::half_split;
};

// out [M, N] (f32, f16 or bf16) = epilogue(x @ dequant(packed)): x [M, K] f16 or bf16; packed,
// scales and zeros as quantize_weights_int4 makes them (zeros empty: symmetric). The weight tile
// is dequantised in registers to x's dtype and multiplied on tensor cores (f32 accumulator).
void matmul_w4a16(const TensorView& x, const TensorView& packed, const TensorView& scales,
                  const TensorView& zeros, const TensorView& out, const W4A16Options& options = {},
                  Stream* stream = nullptr,
                  std::source_location where = std::source_location::current());

// ---- LoRA
// ----------------------------------------------------------------------------------------

inline constexpr int kMaxLoraRank = 128;

// out [M, N] (f32, f16 or bf16) = x @ W + scale * (x @ A) @ B in one kernel: x [M, K], W [K, N],
// A [K, r], B [r, N], one dtype, f16 or bf16; rank r from 1 to kMaxLoraRank. Each program
// accumulates x @ A for its rows beside x @ W in the k-loop (the x tile is loaded once for both),
// rounds it to x's dtype (as an unfused x @ A would store it) and adds its product with B's
// [r, BN] strip before the store.
// `epilogue` (as ops::matmul's) runs on the sum x @ W + scale * (x @ A) @ B before the store.
void matmul_lora(const TensorView& x, const TensorView& w, const TensorView& a, const TensorView& b,
                 float scale, const TensorView& out, const std::vector<Epilogue>& epilogue = {},
                 Stream* stream = nullptr,
                 std::source_location where = std::source_location::current());

// Batched multi-LoRA (as Punica and S-LoRA serve many adapters at once): row m of x takes adapter
// indices[m] (i32 [M]; -1 for none): out[m] = x[m] @ W + scale * (x[m] @ A[i]) @ B[i], with
// A [adapters, K, r] and B [adapters, r, N]. One kernel: every adapter's A columns are stacked
// into one [K, adapters * r] operand of the k-loop's second dot and each row keeps its own
// adapter's columns, so adapters x rank (each padded to a power of two) is at most kMaxLoraRank
// (e.g. 8 adapters of rank 16). Host indices are checked; device indices out of range give NaN
// rows (they are not read back).
void matmul_multi_lora(const TensorView& x, const TensorView& w, const TensorView& a,
                       const TensorView& b, const TensorView& indices, float scale,
                       const TensorView& out, const std::vector<Epilogue>& epilogue = {},
                       Stream* stream = nullptr,
                       std::source_location where = std::source_location::current());

} // namespace tessel::ops
