// ops::gelu (erf, tanh) / silu / swiglu / geglu and their backward passes against f64 references
// written here (forward from the definitions with std::erf / std::tanh, backward from central
// finite differences of that forward); CPU at 1, 7, 1000, 4096 and 5000 columns in f32/f16/bf16,
// padded rows, gate and up as the two halves of one tensor; the simulated device; bad input; PTX.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "support/expect_error.h"
#include "tessel/ops.h"

#include <functional>

namespace tessel::testing {
namespace {

enum class Op { gelu_erf, gelu_tanh, silu, swiglu, geglu_erf, geglu_tanh };
const Op kAllOps[] = {Op::gelu_erf, Op::gelu_tanh, Op::silu,
                      Op::swiglu,   Op::geglu_erf, Op::geglu_tanh};

bool gated(Op op) { return op == Op::swiglu || op == Op::geglu_erf || op == Op::geglu_tanh; }

const char* name(Op op) {
  switch (op) {
  case Op::gelu_erf:
    return "gelu";
  case Op::gelu_tanh:
    return "gelu(tanh)";
  case Op::silu:
    return "silu";
  case Op::swiglu:
    return "swiglu";
  case Op::geglu_erf:
    return "geglu";
  case Op::geglu_tanh:
    return "geglu(tanh)";
  }
  return "?";
}

double act_ref(Op op, double x) {
  switch (op) {
  case Op::gelu_erf:
  case Op::geglu_erf:
    return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
  case Op::gelu_tanh:
  case Op::geglu_tanh:
    return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  case Op::silu:
  case Op::swiglu:
    return x / (1 + std::exp(-x));
  }
  return 0;
}

ops::GeluOptions gelu_options(Op op) {
  bool tanh = op == Op::gelu_tanh || op == Op::geglu_tanh;
  return {tanh ? ops::GeluApproximation::tanh : ops::GeluApproximation::none};
}

void run_forward(Op op, const TensorView& g, const TensorView& u, const TensorView& y) {
  switch (op) {
  case Op::gelu_erf:
  case Op::gelu_tanh:
    return ops::gelu(g, y, gelu_options(op));
  case Op::silu:
    return ops::silu(g, y);
  case Op::swiglu:
    return ops::swiglu(g, u, y);
  case Op::geglu_erf:
  case Op::geglu_tanh:
    return ops::geglu(g, u, y, gelu_options(op));
  }
}

void run_backward(Op op, const TensorView& g, const TensorView& u, const TensorView& dy,
                  const TensorView& dg, const TensorView& du) {
  switch (op) {
  case Op::gelu_erf:
  case Op::gelu_tanh:
    return ops::gelu_backward(g, dy, dg, gelu_options(op));
  case Op::silu:
    return ops::silu_backward(g, dy, dg);
  case Op::swiglu:
    return ops::swiglu_backward(g, u, dy, dg, du);
  case Op::geglu_erf:
  case Op::geglu_tanh:
    return ops::geglu_backward(g, u, dy, dg, du, gelu_options(op));
  }
}

struct Case {
  int64_t rows, cols, pad = 0;
};

void check(DeviceKind dev, DType t, Op op, Case c) {
  const size_t n = size_t(c.rows * c.cols);
  uint32_t seed = uint32_t(c.cols) + 100 * uint32_t(op);
  auto g0 = rounded(random_values(n, seed, -5, 5), t), u0 = rounded(random_values(n, seed + 1), t);
  auto dy0 = rounded(random_values(n, seed + 2), t);
  TestTensor g(dev, t, {c.rows, c.cols}, g0, c.pad), u(dev, t, {c.rows, c.cols}, u0, c.pad);
  TestTensor dy(dev, t, {c.rows, c.cols}, dy0);
  auto y = TestTensor::poisoned(dev, t, {c.rows, c.cols}, c.pad);
  auto dg = TestTensor::poisoned(dev, t, {c.rows, c.cols}, c.pad);
  auto du = TestTensor::poisoned(dev, t, {c.rows, c.cols}, c.pad);
  run_forward(op, g.view(), u.view(), y.view());
  run_backward(op, g.view(), u.view(), dy.view(), dg.view(), du.view());

  std::vector<double> want_y(n), want_dg(n), want_du(n);
  for (size_t i = 0; i < n; ++i) {
    double up = gated(op) ? u0[i] : 1.0, h = 1e-6;
    want_y[i] = act_ref(op, g0[i]) * up;
    want_dg[i] = dy0[i] * up * (act_ref(op, g0[i] + h) - act_ref(op, g0[i] - h)) / (2 * h);
    want_du[i] = dy0[i] * act_ref(op, g0[i]);
  }
  std::string what = std::string(name(op)) + " " + dtype_name(t) + " " + std::to_string(c.rows) +
                     "x" + std::to_string(c.cols);
  // f32: libdevice / the CPU's erf, tanh, exp are within a few ulp; the finite difference adds
  // ~1e-10. The absolute floor covers outputs that pass through zero (gelu near x = -0.75).
  double rtol = std::max(rtol_for(t), 1e-5), atol = t == DType::f32 ? 1e-6 : rtol * 1e-2;
  expect_close(y.values(), want_y, rtol, what + " y", atol);
  expect_close(dg.values(), want_dg, rtol, what + " dgate", atol);
  EXPECT_TRUE(y.padding_untouched() && dg.padding_untouched()) << what;
  if (gated(op)) {
    expect_close(du.values(), want_du, rtol, what + " dup", atol);
    EXPECT_TRUE(du.padding_untouched()) << what;
  }
}

TEST(Activations, Cpu) {
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    for (Op op : kAllOps)
      for (Case c :
           {Case{1, 1}, Case{3, 7}, Case{2, 1000}, Case{1, 4096}, Case{2, 5000}, Case{3, 33, 5},
            Case{300, 7}}) // short contiguous rows: one row of 2100 elements, several blocks
        check(DeviceKind::cpu, t, op, c);
}

TEST(Activations, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (DType t : {DType::f32, DType::bf16})
    for (Op op : kAllOps)
      for (Case c : {Case{3, 40, 2}, Case{70, 40}}) // padded rows; short rows as one row
        check(DeviceKind::sim, t, op, c);
}

// gate and up as the halves of one [rows, 2H] tensor (a fused gate/up projection's output).
TEST(Activations, GateAndUpAsHalvesOfOneTensor) {
  const int64_t rows = 3, h = 50;
  auto both = rounded(random_values(size_t(rows * 2 * h), 9), DType::f32);
  TestTensor xg(DeviceKind::cpu, DType::f32, {rows, 2 * h}, both);
  TensorView gate = xg.view(), up = xg.view();
  gate.shape[1] = up.shape[1] = h;
  up.data = static_cast<float*>(up.data) + h;
  auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {rows, h});
  ops::swiglu(gate, up, y.view());
  std::vector<double> want;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < h; ++c)
      want.push_back(act_ref(Op::silu, both[r * 2 * h + c]) * both[r * 2 * h + h + c]);
  expect_close(y.values(), want, 1e-5, "swiglu on halves", 1e-6);
}

TEST(Activations, ZeroSizedIsANoOp) {
  TestTensor x(DeviceKind::cpu, DType::bf16, {0, 16}, {});
  ops::geglu(x.view(), x.view(), x.view());
  ops::silu_backward(x.view(), x.view(), x.view());
}

TEST(ActivationsErrors, UpShape) {
  TestTensor g(DeviceKind::cpu, DType::f32, {2, 8}, random_values(16, 1));
  TestTensor u(DeviceKind::cpu, DType::f32, {2, 16}, random_values(32, 2));
  int line = __LINE__ + 1;
  expect_error([&] { ops::swiglu(g.view(), u.view(), g.view()); },
               {"activations_test.cpp:" + std::to_string(line),
                "swiglu: up has shape [2, 16] but gate has shape [2, 8]; expected the same shape"});
}

TEST(ActivationsErrors, OutputDtype) {
  TestTensor x(DeviceKind::cpu, DType::f32, {8}, random_values(8, 1));
  std::vector<int32_t> yi(8);
  expect_error([&] { ops::gelu(x.view(), TensorView(yi.data(), {8})); },
               {"gelu: y has dtype i32; expected f32, f16 or bf16"});
}

TEST(ActivationsErrors, NonContiguousRows) {
  std::vector<float> buf(64);
  TensorView x(buf.data(), {8, 8});
  x.strides = {1, 8};
  expect_error([&] { ops::silu(x, x); },
               {"silu: x's last dimension has stride 8; the last dimension must be contiguous"});
}

TEST(ActivationsErrors, OverlappingRows) {
  std::vector<float> buf(64);
  TensorView x(buf.data(), {8, 8});
  x.strides = {4, 1};
  expect_error([&] { ops::silu(x, x); }, {"silu: x has rows of 8 elements 4 apart: rows overlap"});
}

TEST(ActivationsPtx, NoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const Kernel* k :
       {&ops::detail::activation_forward_kernel(), &ops::detail::activation_backward_kernel()})
    for (int64_t act : {0, 1, 2})
      for (const char* target : {"sm_80", "sm_90a"}) {
        auto module = trace_dsl(*k, {act, /*GATED=*/1, 1024}, DType::bf16);
        // bf16 rows of 1024 at 4 warps: 8 elements (16 bytes) per thread, one v4 access each.
        expect_lean_ptx(*module, target, ops::detail::num_warps_for(1024),
                        k->name() + " act " + std::to_string(act) + " " + target);
      }
}

} // namespace
} // namespace tessel::testing
