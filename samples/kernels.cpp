// The sample kernels, written in the tile language exactly as a user would.
#include "tessel/samples/samples.h"

#include "tessel/tessel.h"

#include <cmath>

namespace tessel::samples {

namespace tl = tessel::lang;

const Kernel& vector_add() {
  static const Kernel k =
      tl::kernel("vector_add", "out, a, b, n, BLOCK",
                 [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto mask = offs < n;
                   tl::store(out + offs, tl::load(a + offs, mask) + tl::load(b + offs, mask), mask);
                 });
  return k;
}

const Kernel& softmax() {
  static const Kernel k =
      tl::kernel("softmax", "out, in, stride, n_cols, BLOCK",
                 [](tl::Ptr out, tl::Ptr in, tl::Int stride, tl::Int n_cols, tl::Const<int> BLOCK) {
                   auto row = tl::program_id(0);
                   auto cols = tl::arange(0, BLOCK);
                   auto mask = cols < n_cols;
                   auto x = tl::load(in + row * stride + cols, mask, -INFINITY).to(tl::f32);
                   auto num = tl::exp(x - tl::max(x, 0));
                   tl::store(out + row * stride + cols, num / tl::sum(num, 0), mask);
                 });
  return k;
}

const Kernel& layer_norm() {
  static const Kernel k =
      tl::kernel("layer_norm", "y, x, w, b, stride, n, eps, BLOCK",
                 [](tl::Ptr y, tl::Ptr x, tl::Ptr w, tl::Ptr b, tl::Int stride, tl::Int n,
                    tl::Float eps, tl::Const<int> BLOCK) {
                   auto row = tl::program_id(0);
                   auto cols = tl::arange(0, BLOCK);
                   auto mask = cols < n;
                   auto v = tl::load(x + row * stride + cols, mask, 0.0).to(tl::f32);
                   auto mean = tl::sum(v, 0) / n;
                   auto centered = tl::where(mask, v - mean, 0.0);
                   auto var = tl::sum(centered * centered, 0) / n;
                   auto rstd = tl::rsqrt(var + eps);
                   auto scale = tl::load(w + cols, mask).to(tl::f32);
                   auto shift = tl::load(b + cols, mask).to(tl::f32);
                   tl::store(y + row * stride + cols, centered * rstd * scale + shift, mask);
                 });
  return k;
}

const Kernel& matmul() {
  static const Kernel k =
      tl::kernel("matmul", "c, a, b, M, N, K, stride_am, stride_bk, stride_cm, BM, BN, BK",
                 [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Int M, tl::Int N, tl::Int K,
                    tl::Int stride_am, tl::Int stride_bk, tl::Int stride_cm, tl::Const<int> BM,
                    tl::Const<int> BN, tl::Const<int> BK) {
                   auto rm = tl::program_id(0) * BM + tl::arange(0, BM);
                   auto rn = tl::program_id(1) * BN + tl::arange(0, BN);
                   auto rk = tl::arange(0, BK);
                   auto row = tl::expand_dims(rm, 1); // BM x 1
                   auto col = tl::expand_dims(rn, 0); // 1 x BN
                   auto acc = tl::zeros({BM, BN}, tl::f32);
                   tl::for_range(0, K, BK, [&](tl::Int k) {
                     auto ka = tl::expand_dims(k + rk, 0); // 1 x BK
                     auto kb = tl::expand_dims(k + rk, 1); // BK x 1
                     auto a_tile = tl::load(a + row * stride_am + ka, (row < M) & (ka < K), 0.0);
                     auto b_tile = tl::load(b + kb * stride_bk + col, (kb < K) & (col < N), 0.0);
                     acc = tl::dot(a_tile, b_tile, acc);
                   });
                   tl::store(c + row * stride_cm + col, acc, (row < M) & (col < N));
                 });
  return k;
}

int64_t next_power_of_two(int64_t n) {
  int64_t p = 1;
  while (p < n)
    p *= 2;
  return p;
}

} // namespace tessel::samples
