// ops::softmax / log_softmax and their backward passes against f64 references written here, on the
// CPU backend (f32, f16, bf16; 1, 7, 1000 and 4096 columns; rows longer than one block; batch 1;
// padded row strides) and on the simulated device; the backward also against central finite
// differences of the f64 forward; bad input with its message; PTX for sm_80 / sm_90a unspilled.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "support/expect_error.h"
#include "tessel/ops.h"

#include <functional>

namespace tessel::testing {
namespace {

using Rows = std::vector<std::vector<double>>;

// Plain f64 references, one row at a time.
std::vector<double> softmax_ref(const std::vector<double>& x, int64_t cols, bool log) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r * cols < x.size(); ++r) {
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < cols; ++c)
      m = std::max(m, x[r * cols + c]);
    for (int64_t c = 0; c < cols; ++c)
      s += std::exp(x[r * cols + c] - m);
    for (int64_t c = 0; c < cols; ++c)
      y[r * cols + c] = log ? x[r * cols + c] - m - std::log(s) : std::exp(x[r * cols + c] - m) / s;
  }
  return y;
}

// The vector-Jacobian product written from the Jacobian: dx_j = sum_i dy_i * dy_i/dx_j.
std::vector<double> softmax_backward_ref(const std::vector<double>& y,
                                         const std::vector<double>& dy, int64_t cols, bool log) {
  std::vector<double> dx(y.size(), 0.0);
  for (size_t r = 0; r * cols < y.size(); ++r)
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t i = 0; i < cols; ++i) {
        size_t a = r * cols + i, b = r * cols + j;
        double jac = log ? (i == j) - std::exp(y[b]) : y[a] * ((i == j) - y[b]);
        dx[b] += dy[a] * jac;
      }
  return dx;
}

struct Case {
  int64_t rows, cols;
  int block_cols = 0; // 0: the heuristic
  int64_t pad = 0;
};

void check_forward(DeviceKind dev, DType t, Case c, bool log) {
  auto x0 = rounded(random_values(size_t(c.rows * c.cols), 11 + uint32_t(c.cols)), t);
  TestTensor x(dev, t, {c.rows, c.cols}, x0, c.pad);
  auto y = TestTensor::poisoned(dev, t, {c.rows, c.cols}, c.pad);
  ops::SoftmaxOptions o{.block_cols = c.block_cols};
  if (log)
    ops::log_softmax(x.view(), y.view(), o);
  else
    ops::softmax(x.view(), y.view(), o);
  std::string what = std::string(log ? "log_softmax " : "softmax ") + dtype_name(t) + " " +
                     std::to_string(c.rows) + "x" + std::to_string(c.cols);
  expect_close(y.values(), softmax_ref(x0, c.cols, log), rtol_for(t), what, atol_for(t));
  EXPECT_TRUE(y.padding_untouched()) << what;
}

void check_backward(DeviceKind dev, DType t, Case c, bool log) {
  auto x0 = random_values(size_t(c.rows * c.cols), 5 + uint32_t(c.cols));
  auto y0 = rounded(softmax_ref(x0, c.cols, log), t);
  auto dy0 = rounded(random_values(y0.size(), 7 + uint32_t(c.cols)), t);
  TestTensor y(dev, t, {c.rows, c.cols}, y0, c.pad), dy(dev, t, {c.rows, c.cols}, dy0);
  auto dx = TestTensor::poisoned(dev, t, {c.rows, c.cols}, c.pad);
  ops::SoftmaxOptions o{.block_cols = c.block_cols};
  if (log)
    ops::log_softmax_backward(y.view(), dy.view(), dx.view(), o);
  else
    ops::softmax_backward(y.view(), dy.view(), dx.view(), o);
  std::string what = std::string(log ? "log_softmax_backward " : "softmax_backward ") +
                     dtype_name(t) + " " + std::to_string(c.rows) + "x" + std::to_string(c.cols);
  expect_close(dx.values(), softmax_backward_ref(y0, dy0, c.cols, log), rtol_for(t), what,
               atol_for(t));
  EXPECT_TRUE(dx.padding_untouched()) << what;
}

const std::vector<Case> kCpuCases = {{1, 1},
                                     {3, 7},
                                     {2, 1000},
                                     {1, 4096},
                                     {2, 5000},
                                     {1, 32768},
                                     {3, 1000, /*block_cols=*/256},
                                     {4, 33, 0, 5}};

TEST(Softmax, ForwardCpu) {
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    for (const Case& c : kCpuCases)
      for (bool log : {false, true})
        check_forward(DeviceKind::cpu, t, c, log);
}

TEST(Softmax, BackwardCpu) {
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    for (const Case& c :
         {Case{1, 1}, Case{3, 7}, Case{2, 300}, Case{2, 600, 128}, Case{3, 9, 0, 3}})
      for (bool log : {false, true})
        check_backward(DeviceKind::cpu, t, c, log);
}

// The kernel's f32 gradient against central differences of the f64 forward of the scalar loss
// L(x) = sum(dy * softmax(x)); step 1e-5, so truncation error ~1e-10 and rounding ~1e-11.
TEST(Softmax, BackwardMatchesFiniteDifferences) {
  const int64_t rows = 2, cols = 37;
  for (bool log : {false, true}) {
    auto x0 = random_values(rows * cols, 3);
    auto dy0 = rounded(random_values(rows * cols, 4), DType::f32);
    auto y0 = rounded(softmax_ref(x0, cols, log), DType::f32);
    TestTensor y(DeviceKind::cpu, DType::f32, {rows, cols}, y0),
        dy(DeviceKind::cpu, DType::f32, {rows, cols}, dy0);
    auto dx = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {rows, cols});
    ops::SoftmaxOptions o{.block_cols = 16}; // the looped path too
    (log ? ops::log_softmax_backward : ops::softmax_backward)(
        y.view(), dy.view(), dx.view(), o, nullptr, std::source_location::current());
    auto loss = [&](const std::vector<double>& x) {
      auto s = softmax_ref(x, cols, log);
      double l = 0;
      for (size_t i = 0; i < s.size(); ++i)
        l += dy0[i] * s[i];
      return l;
    };
    std::vector<double> fd(x0.size());
    for (size_t i = 0; i < x0.size(); ++i) {
      auto xp = x0, xm = x0;
      xp[i] += 1e-5;
      xm[i] -= 1e-5;
      fd[i] = (loss(xp) - loss(xm)) / 2e-5;
    }
    expect_close(dx.values(), fd, 1e-4,
                 log ? "log_softmax_backward vs FD" : "softmax_backward vs FD");
  }
}

TEST(Softmax, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (DType t : {DType::f32, DType::bf16})
    for (const Case& c : {Case{3, 7}, Case{2, 100, 32}, Case{2, 40, 0, 3}})
      for (bool log : {false, true}) {
        check_forward(DeviceKind::sim, t, c, log);
        check_backward(DeviceKind::sim, t, c, log);
      }
}

TEST(Softmax, ZeroSizedIsANoOp) {
  TestTensor x(DeviceKind::cpu, DType::f32, {0, 8}, {}), y(DeviceKind::cpu, DType::f32, {0, 8}, {});
  ops::softmax(x.view(), y.view());
  TestTensor x2(DeviceKind::cpu, DType::f32, {4, 0}, {}),
      y2(DeviceKind::cpu, DType::f32, {4, 0}, {});
  ops::log_softmax_backward(x2.view(), y2.view(), y2.view());
}

TEST(SoftmaxErrors, ShapeMismatch) {
  TestTensor x(DeviceKind::cpu, DType::f32, {4, 8}, random_values(32, 1));
  auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {4, 7});
  int line = __LINE__ + 1;
  expect_error([&] { ops::softmax(x.view(), y.view()); },
               {"softmax_test.cpp:" + std::to_string(line),
                "softmax: y has shape [4, 7] but x has shape [4, 8]; expected the same shape"});
}

TEST(SoftmaxErrors, WrongDtype) {
  std::vector<int32_t> xi(8);
  TensorView x(xi.data(), DType::i32, {8});
  std::vector<float> yf(8);
  expect_error([&] { ops::softmax(x, TensorView(yf.data(), {8})); },
               {"softmax: x has dtype i32; expected f32, f16 or bf16"});
}

TEST(SoftmaxErrors, NonContiguousRows) {
  std::vector<float> buf(64);
  TensorView x(buf.data(), {4, 8});
  x.strides = {1, 4}; // a transposed view: the last axis is strided
  expect_error([&] { ops::softmax_backward(x, x, x); },
               {"softmax_backward: y's last dimension has stride 4; the last dimension must be "
                "contiguous (stride 1)"});
}

TEST(SoftmaxErrors, LeadingAxesDoNotFormRows) {
  std::vector<float> buf(256);
  TensorView x(buf.data(), {2, 4, 8});
  x.strides = {8, 16, 1}; // axes 0 and 1 swapped
  expect_error([&] { ops::log_softmax(x, x); },
               {"log_softmax: x has shape [2, 4, 8] and strides [8, 16, 1]: its leading "
                "dimensions do not form rows of one stride"});
}

TEST(SoftmaxErrors, BadBlockCols) {
  std::vector<float> buf(8);
  TensorView x(buf.data(), {8});
  expect_error([&] { ops::softmax(x, x, {.block_cols = 100}); },
               {"softmax: block_cols is 100; expected 0 (chosen from the shape) or a power of two "
                "up to 4096"});
}

TEST(SoftmaxErrors, MixedDevices) {
  TESSEL_REQUIRE_SIM_DEVICE();
  TestTensor x(DeviceKind::sim, DType::f32, {2, 8}, random_values(16, 1));
  auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 8});
  expect_error([&] { ops::softmax(x.view(), y.view()); },
               {"softmax: y is on device cpu:0 but x is on sim:0; pass tensors on one device"});
}

// Every specialization the heuristic picks for rows up to 4096 and beyond, for both targets.
TEST(SoftmaxPtx, NoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const Kernel* k :
       {&ops::detail::softmax_forward_kernel(), &ops::detail::softmax_backward_kernel()})
    for (const char* target : {"sm_80", "sm_90a"})
      for (int64_t looped : {0, 1})
        for (int64_t block : {1024, 4096}) {
          auto module = trace_dsl(*k, {/*LOG=*/looped, looped, block}, DType::bf16);
          codegen::gpu::CompileOptions opts;
          opts.num_warps = ops::detail::num_warps_for(int(block));
          auto out = codegen::gpu::compile(*module->functions.front(),
                                           codegen::parse_target(target), opts);
          EXPECT_TRUE(out.resources.parsed) << out.info_log;
          EXPECT_EQ(out.resources.spill_stores, 0) << k->name() << " " << target << " " << block;
          EXPECT_EQ(out.resources.spill_loads, 0) << k->name() << " " << target << " " << block;
          EXPECT_EQ(codegen::gpu::ptx_stats(out.ptx).get("local"), 0) << k->name();
          // bf16 rows with 16-byte aligned pointers and strides: 16-byte loads.
          EXPECT_GT(codegen::gpu::ptx_stats(out.ptx).get("ld.global.v4"), 0) << k->name();
        }
}

} // namespace
} // namespace tessel::testing

namespace tessel::testing {
namespace {

// y may be x: each program reads its row (or column block) before writing it.
TEST(Softmax, InPlace) {
  for (DeviceKind dev : {DeviceKind::cpu, DeviceKind::sim}) {
    if (dev == DeviceKind::sim && !sim_device_ready())
      continue;
    for (int block_cols : {0, 16}) {
      auto x0 = random_values(3 * 40, 21);
      TestTensor x(dev, DType::f32, {3, 40}, x0);
      ops::softmax(x.view(), x.view(), {.block_cols = block_cols});
      expect_close(x.values(), softmax_ref(rounded(x0, DType::f32), 40, false), 2e-5,
                   std::string("in-place softmax on ") + device_kind_name(dev));
    }
  }
}

} // namespace
} // namespace tessel::testing
