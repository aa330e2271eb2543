// The stdlib's entries in the kernel registry (tessel/ops/registry.h). Each op kernel is
// registered with the specialization its op launches for rows of 1024 f32 columns, 16-byte
// aligned pointers and strides divisible by 16: one block per row, BLOCK = 1024, which the ops
// launch with 4 warps, the `tessel compile` default, so that what the tool prints is what the op
// runs. mean_pool is the exception: its 8 x 256 tile runs at 8 warps (--num-warps 8). A longer
// row is `-D BLOCK=4096 --num-warps 16` (norms, softmax, l2_normalize: BLOCK / 256 warps).
#include "tessel/ops/registry.h"

#include "stdlib/common/kernels.h"
#include "stdlib/loss/cross_entropy_rows.h"
#include "stdlib/matmul/matmul_kernels.h"
#include "stdlib/norms/weight_grad.h"
#include "stdlib/quant/fp8_blockwise_kernels.h"
#include "stdlib/quant/quant_kernels.h"
#include "stdlib/quantize/quantize_kernels.h"
#include "tessel/jit/registry.h"
#include "tessel/ops/loss.h"
#include "tessel/ops/matmul.h"

#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <tuple>
#include <utility>

namespace tessel::ops {
namespace {

using P = SignatureParam;
using detail::Activation;

constexpr int64_t kBlock = 1024; // columns per program for a 1024-column row
// The short-row kernels' specialization: 128-column rows, 4 per program (row_tiles.h).
constexpr int64_t kShortBlock = 128;
constexpr int64_t kShortRows = 4;
using detail::kGradBlock; // the tiles the ops launch (stdlib/common/kernels.h)
using detail::kGradRows;
using detail::kPoolBlock;
using detail::kPoolSeq;

// A kernel's parameters in the order every stdlib kernel declares them: pointers (f32, 16-byte
// aligned), integers (strides and sizes, divisible by 16), floats (eps), then constants. The
// names come from the kernels' own parameter lists.
Signature signature(int pointers, int integers, int floats, std::initializer_list<int64_t> consts) {
  Signature s;
  s.params.insert(s.params.end(), pointers, P::pointer(DType::f32, /*alignment=*/16));
  s.params.insert(s.params.end(), integers, P::integer(/*divisibility=*/16));
  s.params.insert(s.params.end(), floats, P::floating());
  for (int64_t c : consts)
    s.params.push_back(P::constant(c));
  return s;
}

void add(const char* name, const char* summary, const Kernel& (*kernel)(), Signature defaults) {
  register_kernel({name, summary, kernel, std::move(defaults), ""});
}

// y, residual_out, mean, rstd, x, residual, weight, bias; 4 strides, n; eps; LAYER, RESIDUAL,
// LOOPED, BLOCK.
Signature norm_forward(int64_t layer, int64_t residual) {
  return signature(8, 5, 1, {layer, residual, /*LOOPED=*/0, kBlock});
}

void register_norms() {
  add("rms_norm", "op rms_norm: y = x * rstd(x) * weight, one program per row",
      &detail::norm_forward_kernel, norm_forward(0, 0));
  add("add_rms_norm", "op add_rms_norm: h = x + residual, rms_norm(h)",
      &detail::norm_forward_kernel, norm_forward(0, 1));
  add("ops.layer_norm", "op layer_norm: (x - mean) * rstd * weight + bias, one program per row",
      &detail::norm_forward_kernel, norm_forward(1, 0));
  add("add_layer_norm", "op add_layer_norm: h = x + residual, layer_norm(h)",
      &detail::norm_forward_kernel, norm_forward(1, 1));
  add("rms_norm_backward", "op rms_norm_backward, first kernel: dx, one program per row",
      &detail::norm_backward_kernel, signature(6, 4, 0, {/*LAYER=*/0, /*LOOPED=*/0, kBlock}));
  add("layer_norm_backward", "op layer_norm_backward, first kernel: dx, one program per row",
      &detail::norm_backward_kernel, signature(6, 4, 0, {/*LAYER=*/1, /*LOOPED=*/0, kBlock}));
  add("rms_norm_weight_grad", "op rms_norm_backward, second kernel: dweight, 16 x 256 tiles",
      &detail::norm_weight_grad_kernel, signature(6, 6, 0, {/*LAYER=*/0, kGradRows, kGradBlock}));
  add("layer_norm_weight_grad", "op layer_norm_backward, second kernel: dweight, dbias",
      &detail::norm_weight_grad_kernel, signature(6, 6, 0, {/*LAYER=*/1, kGradRows, kGradBlock}));
  add("norm_weight_grad_parts",
      "op rms_norm_backward / layer_norm_backward over >= 1024 rows, third kernel: adds the parts "
      "(op: --num-warps 1)",
      &detail::norm_weight_grad_parts_kernel, signature(3, 2, 0, {/*LAYER=*/1, kGradBlock}));
}

void register_softmax() {
  // y, x; y_stride, x_stride, n; LOG, LOOPED, BLOCK. Backward: dx, y, dy; 3 strides, n.
  add("ops.softmax", "op softmax: row-wise, one program per row", &detail::softmax_forward_kernel,
      signature(2, 3, 0, {/*LOG=*/0, /*LOOPED=*/0, kBlock}));
  add("log_softmax", "op log_softmax: row-wise, one program per row",
      &detail::softmax_forward_kernel, signature(2, 3, 0, {/*LOG=*/1, /*LOOPED=*/0, kBlock}));
  add("softmax_backward", "op softmax_backward: dx = y * (dy - sum(y * dy))",
      &detail::softmax_backward_kernel, signature(3, 4, 0, {/*LOG=*/0, /*LOOPED=*/0, kBlock}));
  add("log_softmax_backward", "op log_softmax_backward: dx = dy - exp(y) * sum(dy)",
      &detail::softmax_backward_kernel, signature(3, 4, 0, {/*LOG=*/1, /*LOOPED=*/0, kBlock}));
  // The CPU's short-row form, as softmax launches it for 128-column rows: 4 rows per program.
  // y, x; y_stride, x_stride, n, rows; LOG, ROWS, BLOCK.
  add("softmax_rows", "op softmax / log_softmax on the CPU, short rows: ROWS rows per program",
      &detail::softmax_rows_forward_kernel,
      signature(2, 4, 0, {/*LOG=*/0, kShortRows, kShortBlock}));
}

// y, gate, up; 3 strides, n; ACT, GATED, BLOCK. Backward: dgate, dup, gate, up, dy; 5 strides, n.
void add_activation(const char* name, const char* backward_name, const char* summary,
                    const char* backward_summary, Activation act, int64_t gated) {
  add(name, summary, &detail::activation_forward_kernel,
      signature(3, 4, 0, {int64_t(act), gated, kBlock}));
  add(backward_name, backward_summary, &detail::activation_backward_kernel,
      signature(5, 6, 0, {int64_t(act), gated, kBlock}));
}

void register_activations() {
  add_activation("silu", "silu_backward", "op silu: x * sigmoid(x), elementwise",
                 "op silu_backward", Activation::silu, 0);
  add_activation("gelu", "gelu_backward", "op gelu (erf; -D ACT=2 for tanh), elementwise",
                 "op gelu_backward (erf; -D ACT=2 for tanh)", Activation::gelu_erf, 0);
  add_activation("swiglu", "swiglu_backward", "op swiglu: silu(gate) * up", "op swiglu_backward",
                 Activation::silu, 1);
  add_activation("geglu", "geglu_backward", "op geglu: gelu(gate) * up (erf)",
                 "op geglu_backward (erf)", Activation::gelu_erf, 1);
}

void register_pooling() {
  // y, x, mask; y_stride, 2 x strides, mask_stride, seq, hidden; SEQ, BLOCK.
  add("mean_pool", "op mean_pool: masked mean over seq, 8 x 256 tiles (op: --num-warps 8)",
      &detail::mean_pool_kernel, signature(3, 6, 0, {kPoolSeq, kPoolBlock}));
  // y, x; y_stride, x_stride, n; eps; LOOPED, BLOCK.
  add("l2_normalize", "op l2_normalize: x / max(|x|, eps), one program per row",
      &detail::l2_normalize_kernel, signature(2, 3, 1, {/*LOOPED=*/0, kBlock}));
}

// y, a, b; d1, d2, n, 3 y strides, 4 a strides, 4 b strides; OP, A_LAST, B_LAST, BLOCK. The
// default is two contiguous operands of the output's shape; -D B_LAST=0 is a per-row operand.
void register_elementwise() {
  using detail::BinaryArith;
  using detail::LastAxis;
  for (auto [name, summary, op] :
       {std::tuple{"add", "op add: a + b with broadcasting (strides, 0 where broadcast)",
                   BinaryArith::add},
        std::tuple{"mul", "op mul: a * b with broadcasting (strides, 0 where broadcast)",
                   BinaryArith::mul}})
    add(name, summary, &detail::broadcast_binary_kernel,
        signature(3, 14, 0,
                  {int64_t(op), int64_t(LastAxis::contiguous), int64_t(LastAxis::contiguous),
                   detail::kBinaryBlock}));
}

// The label pointer (parameter `index`) of a cross-entropy kernel: i64, as PyTorch's labels.
Signature with_i64_labels(Signature s, size_t index) {
  s.params[index] = P::pointer(DType::i64, /*alignment=*/16);
  return s;
}

// quantize: q (i8), x, scales; cols, 2 strides; GRAN (per_token), QDTYPE (int8), SATURATE, BLOCK.
// -D QDTYPE=1 with an f8e4m3 q (or 2, f8e5m2) is the fp8 variant.
void register_quantize() {
  using detail::kQuantBlock;
  Signature scales = signature(2, 3, 0, {/*GRAN=*/2, /*QDTYPE=*/0, kQuantBlock});
  add("quant_scales", "op quantize, first kernel: scales = amax / qmax per row (per_token)",
      &detail::quant_scales_kernel, scales);
  Signature quant = signature(3, 3, 0, {/*GRAN=*/2, /*QDTYPE=*/0, /*SATURATE=*/1, kQuantBlock});
  quant.params[0] = P::pointer(DType::i8, /*alignment=*/16);
  add("ops.quantize", "op quantize: q = int8/fp8(x / scale), one program per row block",
      &detail::quantize_kernel, quant);
  Signature dequant = signature(3, 3, 0, {/*GRAN=*/2, detail::kDequantBlock}); // at 4 warps
  dequant.params[1] = P::pointer(DType::i8, /*alignment=*/16);
  add("ops.dequantize", "op dequantize: y = q * scale, one program per row block",
      &detail::dequantize_kernel, dequant);
}

void register_loss() {
  const auto mean = int64_t(Reduction::mean);
  // losses, logits, labels; logit_stride, label_stride, n, ignore_index; smoothing; BLOCK.
  add("cross_entropy", "op cross_entropy: per-row loss, online log-sum-exp over column blocks",
      &detail::cross_entropy_kernel, with_i64_labels(signature(3, 4, 1, {kBlock}), 2));
  // loss, losses, labels; label_stride, rows, ignore_index; MEAN, BLOCK.
  add("cross_entropy_reduce", "op cross_entropy, second kernel: mean (-D MEAN=0: sum), one program",
      &detail::cross_entropy_reduce_kernel,
      with_i64_labels(signature(3, 3, 0, {/*MEAN=*/1, detail::kCrossEntropyReduceBlock}), 2));
  // dlogits, logits, labels, dloss; 4 strides, rows, n, ignore_index, counted; smoothing;
  // REDUCTION, BLOCK.
  add("cross_entropy_backward", "op cross_entropy_backward: dlogits (may be logits), mean",
      &detail::cross_entropy_backward_kernel,
      with_i64_labels(signature(4, 8, 1, {mean, kBlock}), 2));
  // The CPU's short-row forms (as for softmax_rows). losses, logits, labels; logit_stride,
  // label_stride, n, rows, ignore_index; smoothing; SMOOTH, ROWS, BLOCK. Backward: dlogits,
  // logits, labels, dloss; 4 strides, rows, n, ignore_index, counted; smoothing; REDUCTION, ROWS,
  // BLOCK.
  add("cross_entropy_rows", "op cross_entropy on the CPU, short rows: ROWS rows per program",
      &detail::cross_entropy_rows_kernel,
      with_i64_labels(signature(3, 5, 1, {/*SMOOTH=*/0, kShortRows, kShortBlock}), 2));
  add("cross_entropy_rows_backward",
      "op cross_entropy_backward on the CPU, short rows: ROWS rows per program",
      &detail::cross_entropy_rows_backward_kernel,
      with_i64_labels(signature(4, 8, 1, {mean, kShortRows, kShortBlock}), 2));
}

// y, x, cos, sin, positions; heads, seq, 6 strides, 4 table strides, half, head_dim; freq_scale;
// INTERLEAVED, FROM_POSITIONS, INVERSE, BLOCK: half-split tables for head_dim 128 (64 pairs, the
// op's block, which it launches at 1 warp: --num-warps 1).
void register_rotary() {
  add("rotary_embedding", "op rotary_embedding: half-split, tables, 64 pairs (op: --num-warps 1)",
      &detail::rotary_kernel, signature(5, 14, 1, {0, 0, 0, 64}));
}

// y, x; y_stride, x_stride, n, seed_lo, seed_hi, offset_lo, offset_hi; p; ALIGNED, BLOCK.
void register_dropout() {
  add("dropout", "op dropout (and dropout_backward): Philox mask, x / (1 - p) where kept",
      &detail::dropout_kernel, signature(2, 7, 1, {/*ALIGNED=*/1, kBlock}));
}

void register_reduce() {
  // indices (i64), x; x_stride, n; BLOCK.
  Signature s = signature(2, 2, 0, {kBlock});
  s.params[0] = P::pointer(DType::i64, /*alignment=*/16);
  add("argmax", "op argmax: first index of the row maximum (first NaN), one program per row",
      &detail::argmax_kernel, std::move(s));
  // values, indices (i64), x; x_stride, v_stride, i_stride, n, k; LARGEST, KB, BLOCK: k = 16.
  Signature t = signature(3, 5, 0, {/*LARGEST=*/1, /*KB=*/16, kBlock});
  t.params[1] = P::pointer(DType::i64, /*alignment=*/16);
  add("topk", "op topk: k rounds of selection per column block, one program per row",
      &detail::topk_kernel, std::move(t));
}

// The matmul tile kernel without an epilogue (epilogues trace their own kernels) for contiguous
// row-major f32 operands (unit column strides compiled in as 1) and its default GPU config for a
// large f32 output, 64 x 64 x 16 at 4 warps; the split-K reduction over the same tiles.
const Kernel& matmul_tile_kernel() { return detail::matmul_kernels("", {}).tile; }
const Kernel& matmul_reduce_kernel() { return detail::matmul_kernels("", {}).reduce; }

Signature with_unit_strides(Signature s, const Kernel& k,
                            std::initializer_list<const char*> names) {
  const std::vector<std::string>& params = k.def().param_names;
  for (const char* name : names)
    for (size_t i = 0; i < params.size(); ++i)
      if (params[i] == name)
        s.params[i] = P::integer_one();
  return s;
}

void register_matmul() {
  MatmulConfig cfg = choose_config(DeviceKind::sim, 4096, 4096, 4096, DType::f32);
  // c, a, b, e0, e1; M, N, K, k_split, 9 strides, 6 operand strides; s0..s3; BM, BN, BK, GROUP_M.
  add("ops.matmul", "op matmul: one tile per program, grouped order (epilogues: own kernels)",
      &matmul_tile_kernel,
      with_unit_strides(signature(5, 19, 4, {cfg.block_m, cfg.block_n, cfg.block_k, cfg.group_m}),
                        matmul_tile_kernel(), {"a_k", "b_n", "c_n", "e0_n", "e1_n"}));
  // The tensor-core tile f16 and bf16 operands get for large outputs (f32 c): the op launches it
  // at 8 warps and 3 stages (--num-warps 8 --num-stages 3).
  for (auto [name, dtype] :
       {std::pair{"ops.matmul_f16", DType::f16}, {"ops.matmul_bf16", DType::bf16}}) {
    MatmulConfig tc = choose_config(DeviceKind::sim, 4096, 4096, 4096, dtype);
    Signature s =
        with_unit_strides(signature(5, 19, 4, {tc.block_m, tc.block_n, tc.block_k, tc.group_m}),
                          matmul_tile_kernel(), {"a_k", "b_n", "c_n", "e0_n", "e1_n"});
    s.params[1] = s.params[2] = P::pointer(dtype, /*alignment=*/16);
    add(name, "op matmul on tensor cores: 128 x 128 x 32 (op: --num-warps 8 --num-stages 3)",
        &matmul_tile_kernel, std::move(s));
  }
  // c, w, e0, e1; M, N, splits, 3 c strides, 6 operand strides; s0..s3; BM, BN.
  add("matmul_split_k_reduce", "op matmul, split-K: sums the partial tiles in order",
      &matmul_reduce_kernel,
      with_unit_strides(signature(4, 12, 4, {cfg.block_m, cfg.block_n}), matmul_reduce_kernel(),
                        {"c_n", "e0_n", "e1_n"}));
}

// out, lse, q, k, v, kv_lens, key_mask, cu_q, cu_k, alibi, descale_q/k/v; 12 strides, mask_sb,
// ds_sb, ds_sh, heads, group, seqlen_q, seqlen_k, window_left, window_right, 4 dropout seed/offset
// words; scale_log2, softcap_log2, dropout_p; FLAGS, HEAD_DIM, DCHUNK, BLOCK_M, BLOCK_N: f16 q, k,
// v and out at head_dim 64, not causal, the lse saved, the GPU tile the op launches (32 x 16, 4
// warps); the descales (f32) are read only with fp8 q.
void register_attention() {
  Signature s = signature(13, 25, 3, {detail::kAttentionSaveLse, 64, 32, 32, 16});
  for (size_t i : {0, 2, 3, 4})
    s.params[i] = P::pointer(DType::f16, /*alignment=*/16);
  for (size_t i : {5, 6, 7, 8})
    s.params[i] = P::pointer(DType::i32, /*alignment=*/16);
  add("ops.attention", "op attention: FlashAttention-2 forward, f16, head_dim 64, 32 x 16 tiles",
      &detail::attention_forward_kernel, std::move(s));
  // out, lse, q, k_cache, v_cache, block_table, seq_lens; 13 strides, kv_heads, group, tq,
  // max_blocks, pages_per_split; scale_log2; FLAGS, HEAD_DIM, DCHUNK, BLOCK_H, PAGE: f16 at
  // head_dim 128, 32-token pages (which the op launches at 4 warps; 16-token pages at 2), one
  // split (the final output written directly), up to 16 q heads per kv head.
  Signature d = signature(7, 18, 1, {0, 128, 32, 16, 32});
  for (size_t i : {0, 2, 3, 4})
    d.params[i] = P::pointer(DType::f16, /*alignment=*/16);
  for (size_t i : {5, 6})
    d.params[i] = P::pointer(DType::i32, /*alignment=*/16);
  add("ops.attention_decode",
      "op attention_decode: flash-decoding over a paged KV cache, f16, head_dim 128, 32-token "
      "pages",
      &detail::attention_decode_kernel, std::move(d));
  // out, lse, part_out, part_lse; o_sb, o_st, o_sh, heads, tq, splits; FLAGS, HEAD_DIM, BLOCK_D,
  // BLOCK_S.
  Signature c = signature(4, 6, 0, {0, 128, 128, 8});
  c.params[0] = P::pointer(DType::f16, /*alignment=*/16);
  add("attention_decode_combine",
      "op attention_decode, split KV: weighs the splits' partials by their lse",
      &detail::attention_decode_combine_kernel, std::move(c));
}

// ---- quantized and low-rank matmul (issue 17: stdlib/quant/) ----
// The f16 specializations docs/stdlib.md sections 9a and 9b describe, at 4 warps (what the ops
// launch for these shapes). W8A8 is ops.matmul's i8 tile plus an epilogue step: no kernel of its
// own.
void register_quant() {
  // q (i8), scales, x, weight; q_stride, x_stride, n; eps; NORM, BLOCK: f16 rows of 1024.
  for (auto [name, norm] :
       {std::pair{"quantize_per_token_int8", 0}, {"rms_norm_quantize_int8", 1}}) {
    Signature q = signature(4, 3, 1, {norm, kBlock});
    q.params[0] = P::pointer(DType::i8, /*alignment=*/16);
    q.params[2] = q.params[3] = P::pointer(DType::f16, /*alignment=*/16);
    add(name,
        norm ? "op rms_norm_quantize_int8: RMS norm then per-row int8 + scale, one kernel"
             : "op quantize_per_token_int8: per-row int8 + scale (amax / 127), one program per row",
        &detail::quantize_int8_kernel, std::move(q));
  }
  // out, x (f16), packed (i8), scales, zeros, perm (i32), e0, e1; M, N, K, group, 2 strides, 4
  // epilogue strides; s0..s3; ZEROS, PERM, BM, BN, BK: the decode tile (M <= 16), asymmetric,
  // no act-order, no epilogue.
  Signature w4 = signature(8, 10, 4, {/*ZEROS=*/1, /*PERM=*/0, 16, 64, 32});
  w4.params[0] = w4.params[1] = P::pointer(DType::f16, /*alignment=*/16);
  w4.params[2] = P::pointer(DType::i8, /*alignment=*/16);
  w4.params[5] = P::pointer(DType::i32, /*alignment=*/16);
  Signature w4_marlin = w4;
  add("matmul_w4a16", "op matmul_w4a16: int4 weights dequantised in registers, decode tile 16 x 64",
      &detail::w4a16_kernel, std::move(w4));
  // The same on weights packed in Int4Layout::marlin (each nibble gathered from its fragment-order
  // byte; docs/stdlib.md, "W4A16 layout: Marlin").
  add("matmul_w4a16_marlin",
      "op matmul_w4a16 (layout marlin): int4 weights in mma B-fragment order, decode tile 16 x 64",
      &detail::w4a16_marlin_kernel, std::move(w4_marlin));
  // out, x, w, a, b (f16), idx (i32), e0, e1; M, N, K, rank, adapters, 7 strides, 4 epilogue
  // strides; scale, s0..s3; BM, BN, BK, R, L, INDEXED: one adapter of rank 16, 64 x 64 tiles.
  auto lora = [](int64_t adapters, bool indexed) {
    Signature l = signature(8, 16, 5, {64, 64, 32, /*R=*/16, adapters, indexed ? 1 : 0});
    for (size_t i : {0, 1, 2, 3, 4})
      l.params[i] = P::pointer(DType::f16, /*alignment=*/16);
    l.params[5] = P::pointer(DType::i32, /*alignment=*/16);
    if (!indexed)
      l.params[8 + 4] = P::integer_one(); // adapters
    return l;
  };
  add("matmul_lora", "op matmul_lora: x @ W + scale * (x @ A) @ B, x @ A in the main loop, rank 16",
      &detail::lora_kernel, lora(1, false));
  add("matmul_multi_lora",
      "op matmul_multi_lora: per-row adapters (indices), 4 adapters of rank 16 stacked in one dot",
      &detail::lora_kernel, lora(4, true));
  // q (f8e4m3), scales, x (f16); rows, cols, 3 strides; WEIGHT, QDTYPE, RB: 1 x 128 activation
  // blocks, 16 rows per program (8 warps).
  Signature q8 = signature(3, 5, 0, {/*WEIGHT=*/0, /*QDTYPE=*/1, /*RB=*/16});
  q8.params[0] = P::pointer(DType::f8e4m3, /*alignment=*/16);
  q8.params[2] = P::pointer(DType::f16, /*alignment=*/16);
  add("quantize_fp8_blockwise",
      "op quantize_fp8_blockwise: e4m3 with a scale per row and 128 columns (1 x 128)",
      &detail::quantize_fp8_blockwise_kernel, std::move(q8));
  // out (bf16), a, b (f8e4m3), a_scales, b_scales, e0, e1; M, N, K, 5 strides, 4 scale strides,
  // 4 epilogue strides; s0..s3; BM, BN, BK: 64 x 64 tiles, BK 64 (two steps per 128-wide scale
  // block) at 8 warps, the GPU tile for M > 32.
  // Row-major a and b, contiguous scales (unit column strides, as ops.matmul's entry).
  Signature f8 = signature(7, 16, 4, {64, 64, 64});
  f8.params[0] = P::pointer(DType::bf16, /*alignment=*/16);
  f8.params[1] = f8.params[2] = P::pointer(DType::f8e4m3, /*alignment=*/16);
  add("matmul_fp8_blockwise",
      "op matmul_fp8_blockwise: e4m3 x e4m3 with 1 x 128 and 128 x 128 scales applied per K block",
      &detail::fp8_blockwise_kernel,
      with_unit_strides(std::move(f8), detail::fp8_blockwise_kernel(),
                        {"a_k", "b_n", "as_k", "bs_n", "e0_n", "e1_n"}));
  // out, x, values (f16), metadata (i16), e0, e1; M, N, K, 2 strides, 4 epilogue strides; s0..s3;
  // BM, BN, BK: the decode tile (M <= 16) the op launches on a GPU (docs/stdlib.md section 9b),
  // no epilogue. XA = 8: x_stride a multiple of 8 (16-byte rows of x).
  Signature sp = signature(6, 9, 4, {16, 64, 64, 8});
  for (size_t i : {0, 1, 2})
    sp.params[i] = P::pointer(DType::f16, /*alignment=*/16);
  sp.params[3] = P::pointer(DType::i16, /*alignment=*/16);
  add("matmul_sparse_2_4",
      "op matmul_sparse_2_4: 2:4-sparse weights on mma.sp (out^T = W x^T), decode tile 16 x 64",
      &detail::sparse_2_4_kernel, std::move(sp));
}

} // namespace

int min_sm(std::string_view name) {
  // Their defaults take e4m3 operands into a dot: mma.sync on e4m3 exists from sm_89.
  return name == "matmul_fp8_blockwise" ? 89 : 0;
}

void register_kernels() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_norms();
    register_softmax();
    register_activations();
    register_pooling();
    register_elementwise();
    register_loss();
    register_rotary();
    register_dropout(); // before argmax: the tools' tests list argmax last
    register_reduce();
    register_matmul();
    register_attention();
    register_quantize();
    register_quant();
  });
}

} // namespace tessel::ops
