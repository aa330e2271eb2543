// The batched matmul kernel of matmul.h. One program computes a BM x BN tile of one batch entry z:
// the k loop accumulates tl::dot of BM x BK and BK x BN tiles in f32, then the epilogue (scale,
// bias, GELU, key mask) runs on the accumulator before the one store. Tiles: 64 x 64 x 32 for the
// projections (the CPU backend's fastest f32 tile, bench/RESULTS.md), smaller for short sequences.
#include "samples/minilm/matmul.h"

#include "tessel/jit/kernel.h"
#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"

#include <algorithm>
#include <cfloat>

namespace tessel::minilm {

namespace tl = tessel::lang;

namespace {

tl::Tensor i64(const tl::Tensor& t) {
  return t.to(DType::i64);
}

// The GELU of BERT: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)).
tl::Tensor gelu(const tl::Tensor& x) {
  return x * 0.5 * (tl::erf(x * 0.7071067811865476) + 1.0);
}

const Kernel& bmm_kernel() {
  static const Kernel k = tl::kernel(
      "minilm_bmm",
      "c, a, b, bias, mask, M, N, K, H, a_off, a_sb, a_sh, a_sm, a_sk, b_off, b_sb, b_sh, b_sk, "
      "b_sn, c_off, c_sb, c_sh, c_sm, c_sn, mask_sb, alpha, BM, BN, BK, HAS_BIAS, GELU, HAS_MASK",
      [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Ptr bias, tl::Ptr mask, tl::Int M, tl::Int N,
         tl::Int K, tl::Int H, tl::Int a_off, tl::Int a_sb, tl::Int a_sh, tl::Int a_sm,
         tl::Int a_sk, tl::Int b_off, tl::Int b_sb, tl::Int b_sh, tl::Int b_sk, tl::Int b_sn,
         tl::Int c_off, tl::Int c_sb, tl::Int c_sh, tl::Int c_sm, tl::Int c_sn, tl::Int mask_sb,
         tl::Float alpha, tl::Const<int> BM, tl::Const<int> BN, tl::Const<int> BK,
         tl::Const<int> HAS_BIAS, tl::Const<int> GELU, tl::Const<int> HAS_MASK) {
        auto z = tl::program_id(2);
        auto zb = i64(z / H), zh = i64(z % H);
        auto rm = tl::program_id(0) * BM + tl::arange(0, BM);
        auto rn = tl::program_id(1) * BN + tl::arange(0, BN);
        auto rk = tl::arange(0, BK);
        auto row = tl::expand_dims(rm, 1), col = tl::expand_dims(rn, 0);
        auto a_base = a + i64(a_off) + zb * i64(a_sb) + zh * i64(a_sh) + i64(row) * i64(a_sm);
        auto b_base = b + i64(b_off) + zb * i64(b_sb) + zh * i64(b_sh) + i64(col) * i64(b_sn);
        tl::Tensor acc = tl::zeros({BM, BN}, DType::f32);
        tl::for_range(0, K, BK, [&](tl::Int k0) {
          auto ka = tl::expand_dims(k0 + rk, 0), kb = tl::expand_dims(k0 + rk, 1);
          auto at = tl::load(a_base + i64(ka) * i64(a_sk), (row < M) & (ka < K), 0.0);
          auto bt = tl::load(b_base + i64(kb) * i64(b_sk), (kb < K) & (col < N), 0.0);
          // f32 products in f32 (tl::dot's GPU default for f32 is tf32): embeddings must match
          // the f32 reference to 1e-4.
          acc = at.dtype() == DType::f32 ? tl::dot(at, bt, acc, tl::Precision::ieee)
                                         : tl::dot(at, bt, acc);
        });
        acc = acc * alpha;
        if (HAS_BIAS)
          acc = acc + tl::expand_dims(tl::load(bias + rn, rn < N, 0.0), 0);
        if (GELU)
          acc = gelu(acc);
        if (HAS_MASK) {
          auto keep = tl::load(mask + zb * i64(mask_sb) + rn, rn < N, 0) != 0;
          acc = tl::where(tl::expand_dims(keep, 0), acc, -FLT_MAX);
        }
        auto c_ptr = c + i64(c_off) + zb * i64(c_sb) + zh * i64(c_sh) + i64(row) * i64(c_sm) +
                     i64(col) * i64(c_sn);
        tl::store(c_ptr, acc, (row < M) & (col < N));
      });
  return k;
}

int tile_for(int64_t n, int most) {
  int t = 16;
  while (t < n && t < most)
    t *= 2;
  return t;
}

} // namespace

void batched_matmul(const Operand& a, const Operand& b, const Operand& c, const MatmulShape& s,
                    const MatmulEpilogue& e) {
  if (s.batch * s.heads == 0 || s.m == 0 || s.n == 0)
    return;
  int bm = tile_for(s.m, 64), bn = tile_for(s.n, 64), bk = tile_for(s.k, 32);
  // Unused pointer parameters get c's buffer: launches take no null pointers.
  const TensorView& bias = e.bias ? *e.bias : c.data;
  const TensorView& mask = e.key_mask ? *e.key_mask : c.data;
  bmm_kernel().launch(
      {(s.m + bm - 1) / bm, (s.n + bn - 1) / bn, s.batch * s.heads}, {}, c.data, a.data, b.data,
      bias, mask, s.m, s.n, s.k, s.heads, a.offset, a.batch_stride, a.head_stride, a.row_stride,
      a.col_stride, b.offset, b.batch_stride, b.head_stride, b.row_stride, b.col_stride, c.offset,
      c.batch_stride, c.head_stride, c.row_stride, c.col_stride, e.mask_stride, e.alpha, bm, bn, bk,
      int(e.bias != nullptr), int(e.activation == Activation::gelu), int(e.key_mask != nullptr));
}

void linear(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& y,
            Activation activation) {
  int64_t m = x.shape[0], k = x.shape[1], n = w.shape[1];
  batched_matmul({x, 0, 0, 0, k, 1}, {w, 0, 0, 0, n, 1}, {y, 0, 0, 0, n, 1}, {1, 1, m, n, k},
                 {.bias = &bias, .activation = activation});
}

} // namespace tessel::minilm
