// fp8 with block scales (fp8_blockwise_kernels.h): the blockwise quantizer and the matmul that
// applies the scales per K block inside its k-loop. In-matrix offsets are i32 (the ops check that
// every operand's largest offset fits).
#include "stdlib/quant/fp8_blockwise_kernels.h"

#include "stdlib/quant/fused_epilogue.h"
#include "stdlib/quant/output_tile.h"
#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"
#include "tessel/ops/fp8_blockwise.h"

#include <fmt/format.h>

namespace tessel::ops::detail {
namespace {

namespace tl = tessel::lang;

constexpr int kBlock = kFp8ScaleBlock;

// amax / qmax, or 1 for an all-zero block (which then quantizes to zeros), as ops::quantize.
tl::Tensor scale_of(const tl::Tensor& amax, double qmax) {
  return tl::where(amax > 0.0, amax / qmax, 1.0);
}

// x / scale rounded once to the fp8 type, saturated to its largest finite value.
tl::Tensor to_fp8(const tl::Tensor& v, const tl::Tensor& scale, DType fp8) {
  return tl::cast(v / scale, fp8, {.saturate = true});
}

struct QuantArgs {
  tl::Ptr q, scales, x;
  tl::Int rows, cols, x_stride, q_stride, s_stride;
  DType fp8;
  double qmax;
};

// Rows `r` ([RB, 1]) of column block `cb`: the values in f32 (0 outside x) and the mask.
std::pair<tl::Tensor, tl::Tensor> block_rows(const QuantArgs& p, const tl::Tensor& r,
                                             const tl::Tensor& c) {
  auto in = (r < p.rows) & (c < p.cols);
  auto v = tl::load(p.x + (r * p.x_stride + c), in, 0.0).to(DType::f32);
  return {v, in};
}

// 1 x 128: RB rows of one column block, a scale per row.
void quantize_token_blocks(const QuantArgs& p, int RB) {
  auto r = tl::expand_dims(tl::program_id(0) * RB + tl::arange(0, RB), 1);
  auto cb = tl::program_id(1);
  auto c = tl::expand_dims(cb * kBlock + tl::arange(0, kBlock), 0);
  auto [v, in] = block_rows(p, r, c);
  auto scale = tl::expand_dims(scale_of(tl::max(tl::abs(v), 1), p.qmax), 1); // [RB, 1]
  tl::store(p.scales + (r * p.s_stride + cb), scale, r < p.rows);
  tl::store(p.q + (r * p.q_stride + c), to_fp8(v, scale, p.fp8), in);
}

// 128 x 128: one block, RB rows at a time: its amax first, then its quantization (x read twice,
// from cache: a block is 64 KiB of f32 at most).
void quantize_weight_block(const QuantArgs& p, int RB) {
  auto rb = tl::program_id(0), cb = tl::program_id(1);
  auto c = tl::expand_dims(cb * kBlock + tl::arange(0, kBlock), 0);
  auto ar = tl::expand_dims(tl::arange(0, RB), 1);
  auto amax = tl::scalar(0.0, DType::f32);
  tl::for_range(0, kBlock, RB, [&](tl::Int r0) {
    auto [v, in] = block_rows(p, rb * kBlock + r0 + ar, c);
    amax = tl::maximum(amax, tl::max(tl::max(tl::abs(v), 1), 0));
  });
  auto scale = scale_of(amax, p.qmax);
  tl::store(p.scales + (rb * p.s_stride + cb), scale);
  tl::for_range(0, kBlock, RB, [&](tl::Int r0) {
    auto r = rb * kBlock + r0 + ar;
    auto [v, in] = block_rows(p, r, c);
    tl::store(p.q + (r * p.q_stride + c), to_fp8(v, scale, p.fp8), in);
  });
}

Kernel make_matmul_kernel(const std::string& name, Chain chain) {
  const std::string params = fmt::format(
      "out, a, b, a_scales, b_scales, {}, M, N, K, a_m, a_k, b_k, b_n, out_stride, as_m, as_k, "
      "bs_k, bs_n, {}, {}, BM, BN, BK",
      kSlotPointers, kSlotStrides, kSlotScalars);
  return tl::kernel(
      name, params,
      [chain = std::move(chain)](
          tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Ptr a_scales, tl::Ptr b_scales, tl::Ptr e0,
          tl::Ptr e1, tl::Int M, tl::Int N, tl::Int K, tl::Int a_m, tl::Int a_k, tl::Int b_k,
          tl::Int b_n, tl::Int out_stride, tl::Int as_m, tl::Int as_k, tl::Int bs_k, tl::Int bs_n,
          tl::Int e0_m, tl::Int e0_n, tl::Int e1_m, tl::Int e1_n, tl::Float s0, tl::Float s1,
          tl::Float s2, tl::Float s3, tl::Const<int> BM, tl::Const<int> BN, tl::Const<int> BK) {
        Tile t = tile_of(M, N, BM, BN);
        auto rk = tl::arange(0, BK);
        auto a_rows = t.rows * a_m, b_cols = t.cols * b_n;
        // The weight scales' column block of each output column, and the activation scales'
        // rows: loaded once per step (one scale block of K per step).
        auto bs_cols = (t.cols / kBlock) * bs_n;
        auto as_rows = t.rows * as_m;
        tl::Tensor acc = tl::zeros({BM, BN}, DType::f32);
        tl::for_range(0, K, BK, [&](tl::Int k) {
          auto ka = tl::expand_dims(k + rk, 0), kb = tl::expand_dims(k + rk, 1);
          auto a_tile = tl::load(a + (a_rows + ka * a_k), t.row_in & (ka < K), 0.0);
          auto b_tile = tl::load(b + (kb * b_k + b_cols), (kb < K) & t.col_in, 0.0);
          auto block = k / kBlock;
          auto sa = tl::load(a_scales + (as_rows + block * as_k), t.row_in, 0.0); // [BM, 1]
          auto sb = tl::load(b_scales + (block * bs_k + bs_cols), t.col_in, 0.0); // [1, BN]
          // The block's partial product, exact fp8 products summed in f32, then scaled into acc.
          acc = acc + tl::dot(a_tile, b_tile) * (sa * sb);
        });
        store_with_chain(chain, acc, t.rows, t.cols, t.row_in & t.col_in, out, out_stride,
                         {e0, e1, e0_m, e0_n, e1_m, e1_n, s0, s1, s2, s3});
      });
}

} // namespace

const Kernel& quantize_fp8_blockwise_kernel() {
  static const Kernel k =
      tl::kernel("ops_quantize_fp8_blockwise",
                 "q, scales, x, rows, cols, x_stride, q_stride, s_stride, WEIGHT, QDTYPE, RB",
                 [](tl::Ptr q, tl::Ptr scales, tl::Ptr x, tl::Int rows, tl::Int cols,
                    tl::Int x_stride, tl::Int q_stride, tl::Int s_stride, tl::Const<int> WEIGHT,
                    tl::Const<int> QDTYPE, tl::Const<int> RB) {
                   const bool e4m3 = QDTYPE == 1;
                   QuantArgs p{q,
                               scales,
                               x,
                               rows,
                               cols,
                               x_stride,
                               q_stride,
                               s_stride,
                               e4m3 ? DType::f8e4m3 : DType::f8e5m2,
                               e4m3 ? 448.0 : 57344.0};
                   if (WEIGHT)
                     quantize_weight_block(p, RB);
                   else
                     quantize_token_blocks(p, RB);
                 });
  return k;
}

const Kernel& fp8_blockwise_kernel_for(const std::string& key, const Chain& chain) {
  return kernel_for_chain("ops_matmul_fp8_blockwise", key, chain, make_matmul_kernel);
}

const Kernel& fp8_blockwise_kernel() { return fp8_blockwise_kernel_for("", {}); }

} // namespace tessel::ops::detail
