// The sample kernels, written in the tile language exactly as a user would.
#include "tessel/samples/samples.h"

#include "tessel/tessel.h"

#include <cmath>

namespace tessel::samples {

namespace tl = tessel::lang;

constexpr double kLog2e = 1.4426950408889634; // log2(e)

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
                   // exp(x - max) as exp2((x - max) * log2(e)): what Triton's tl.exp compiles
                   // to, one multiply and the hardware's ex2 instead of libdevice's range-reduced
                   // expf (docs/semantics.md, "exp through exp2", states the error).
                   auto num = tl::exp2((x - tl::max(x, 0)) * kLog2e);
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

int64_t next_power_of_two(int64_t n) {
  int64_t p = 1;
  while (p < n)
    p *= 2;
  return p;
}

} // namespace tessel::samples
