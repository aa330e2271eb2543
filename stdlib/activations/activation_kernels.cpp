// The DSL kernels of the activations: one program per (row, block of columns); the forward reads
// gate (and up) once and writes y once, the backward reads gate (and up) and dy once and writes
// dgate (and dup) once. The activation is a Const parameter, so each is its own specialization.
#include "stdlib/common/kernels.h"

#include "tessel/lang/ops.h"

#include <cmath>

namespace tessel::ops::detail {
namespace {

namespace tl = tessel::lang;

constexpr double kSqrtHalf = 0.70710678118654752440;    // 1 / sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)
constexpr double kSqrt2OverPi = 0.79788456080286535588; // sqrt(2 / pi)
constexpr double kTanhCubic = 0.044715;

struct ValueAndSlope {
  tl::Tensor value, slope; // act(x) and act'(x)
};

ValueAndSlope activate(Activation act, const tl::Tensor& x, bool need_slope) {
  switch (act) {
  case Activation::silu: {
    auto s = tl::sigmoid(x);
    return {x * s, need_slope ? s * (1.0 + x * (1.0 - s)) : tl::Tensor()};
  }
  case Activation::gelu_erf: {
    auto erf = tl::erf(x * kSqrtHalf);
    // x cdf as h + h erf with h = x / 2: one fma for the multiply, add and multiply (and one
    // rounding instead of three).
    auto half_x = 0.5 * x;
    auto value = tl::fma(half_x, erf, half_x);
    if (!need_slope)
      return {value, tl::Tensor()};
    auto cdf = 0.5 * (1.0 + erf);
    return {value, cdf + x * tl::exp(-0.5 * x * x) * kInvSqrt2Pi};
  }
  case Activation::gelu_tanh: {
    // 0.5 (1 + tanh(z)) is sigmoid(2z): the same value without the cancellation of 1 + tanh(z)
    // for negative x, which cost ~3e-6 absolute in f32.
    auto z2 = 2.0 * kSqrt2OverPi * (x + kTanhCubic * x * x * x);
    auto s = tl::sigmoid(z2);
    auto dz2 = 2.0 * kSqrt2OverPi * (1.0 + 3.0 * kTanhCubic * x * x);
    return {x * s, need_slope ? s + x * s * (1.0 - s) * dz2 : tl::Tensor()};
  }
  }
  TESSEL_UNREACHABLE("unknown activation");
}

tl::Tensor at(const tl::Ptr& base, const tl::Int& stride, const tl::Tensor& cols) {
  return base + tl::program_id(0).to(DType::i64) * stride.to(DType::i64) + cols;
}

} // namespace

const Kernel& activation_forward_kernel() {
  static const Kernel k = tl::kernel(
      "activation_forward", "y, gate, up, y_stride, g_stride, u_stride, n, ACT, GATED, BLOCK",
      [](tl::Ptr y, tl::Ptr gate, tl::Ptr up, tl::Int y_stride, tl::Int g_stride, tl::Int u_stride,
         tl::Int n, tl::Const<int> ACT, tl::Const<int> GATED, tl::Const<int> BLOCK) {
        auto cols = tl::program_id(1) * BLOCK + tl::arange(0, BLOCK);
        auto mask = cols < n;
        auto g = tl::load(at(gate, g_stride, cols), mask, 0.0).to(DType::f32);
        auto out = activate(Activation(int(ACT)), g, /*need_slope=*/false).value;
        if (GATED)
          out = out * tl::load(at(up, u_stride, cols), mask, 0.0).to(DType::f32);
        tl::store(at(y, y_stride, cols), out, mask);
      });
  return k;
}

const Kernel& activation_backward_kernel() {
  static const Kernel k = tl::kernel(
      "activation_backward",
      "dgate, dup, gate, up, dy, dg_stride, du_stride, g_stride, u_stride, dy_stride, n, ACT, "
      "GATED, BLOCK",
      [](tl::Ptr dgate, tl::Ptr dup, tl::Ptr gate, tl::Ptr up, tl::Ptr dy, tl::Int dg_stride,
         tl::Int du_stride, tl::Int g_stride, tl::Int u_stride, tl::Int dy_stride, tl::Int n,
         tl::Const<int> ACT, tl::Const<int> GATED, tl::Const<int> BLOCK) {
        auto cols = tl::program_id(1) * BLOCK + tl::arange(0, BLOCK);
        auto mask = cols < n;
        auto g = tl::load(at(gate, g_stride, cols), mask, 0.0).to(DType::f32);
        auto d = tl::load(at(dy, dy_stride, cols), mask, 0.0).to(DType::f32);
        ValueAndSlope a = activate(Activation(int(ACT)), g, /*need_slope=*/true);
        if (!GATED) {
          tl::store(at(dgate, dg_stride, cols), d * a.slope, mask);
          return;
        }
        auto u = tl::load(at(up, u_stride, cols), mask, 0.0).to(DType::f32);
        tl::store(at(dgate, dg_stride, cols), d * u * a.slope, mask);
        tl::store(at(dup, du_stride, cols), d * a.value, mask);
      });
  return k;
}

} // namespace tessel::ops::detail
