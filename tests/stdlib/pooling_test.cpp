// ops::mean_pool and ops::l2_normalize against f64 references written here: several batch, seq and
// hidden sizes (1, 7, 1000, 4096, and rows longer than one block for l2_normalize), f32/f16/bf16,
// masks of several dtypes with all-masked rows; padded strides; the simulated device; bad input;
// PTX for sm_80 / sm_90a unspilled.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "support/expect_error.h"
#include "tessel/ops.h"

namespace tessel::testing {
namespace {

// Mask values: sequence b keeps its first `len_b` positions (len_0 = 0: all masked).
std::vector<double> mask_values(int64_t batch, int64_t seq) {
  std::vector<double> m;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s)
      m.push_back(s < (b * 5 + (batch == 1 ? seq : 0)) % (seq + 1) ? 1.0 : 0.0);
  return m;
}

void check_mean_pool(DeviceKind dev, DType t, DType mask_t, int64_t batch, int64_t seq,
                     int64_t hidden) {
  auto x0 = rounded(random_values(size_t(batch * seq * hidden), uint32_t(hidden + seq)), t);
  auto m0 = mask_values(batch, seq);
  TestTensor x(dev, t, {batch, seq, hidden}, x0), mask(dev, mask_t, {batch, seq}, m0);
  auto y = TestTensor::poisoned(dev, t, {batch, hidden}, /*pad=*/3);
  ops::mean_pool(x.view(), mask.view(), y.view());
  std::vector<double> want(size_t(batch * hidden), 0.0);
  for (int64_t b = 0; b < batch; ++b) {
    double count = 0;
    for (int64_t s = 0; s < seq; ++s)
      count += m0[b * seq + s] != 0;
    for (int64_t h = 0; h < hidden; ++h) {
      double sum = 0;
      for (int64_t s = 0; s < seq; ++s)
        if (m0[b * seq + s] != 0)
          sum += x0[(b * seq + s) * hidden + h];
      want[b * hidden + h] = sum / std::max(count, 1e-9);
    }
  }
  std::string what = std::string("mean_pool ") + dtype_name(t) + " mask " + dtype_name(mask_t) +
                     " " + std::to_string(batch) + "x" + std::to_string(seq) + "x" +
                     std::to_string(hidden);
  expect_close(y.values(), want, rtol_for(t), what, rtol_for(t) * 1e-2);
  EXPECT_TRUE(y.padding_untouched()) << what;
}

TEST(MeanPool, Cpu) {
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    for (DType mask_t : {DType::i32, DType::f32})
      for (auto [b, s, h] : std::vector<std::array<int64_t, 3>>{
               {1, 1, 1}, {3, 7, 7}, {2, 13, 1000}, {1, 9, 4096}, {4, 33, 300}})
        check_mean_pool(DeviceKind::cpu, t, mask_t, b, s, h);
}

TEST(MeanPool, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (DType t : {DType::f32, DType::bf16})
    check_mean_pool(DeviceKind::sim, t, DType::i32, 3, 11, 40);
}

// Masked positions are never read: NaN there does not reach the output.
TEST(MeanPool, MaskedPositionsAreNotRead) {
  const int64_t batch = 1, seq = 4, hidden = 8;
  std::vector<double> x0(size_t(seq * hidden), std::nan(""));
  for (int64_t h = 0; h < hidden; ++h)
    x0[h] = double(h), x0[hidden + h] = 1.0;
  TestTensor x(DeviceKind::cpu, DType::f32, {batch, seq, hidden}, x0);
  TestTensor mask(DeviceKind::cpu, DType::i32, {batch, seq}, {1, 1, 0, 0});
  auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {batch, hidden});
  ops::mean_pool(x.view(), mask.view(), y.view());
  std::vector<double> want;
  for (int64_t h = 0; h < hidden; ++h)
    want.push_back((double(h) + 1.0) / 2);
  EXPECT_EQ(y.values(), want);
}

void check_l2(DeviceKind dev, DType t, int64_t rows, int64_t cols, int64_t pad) {
  auto x0 = rounded(random_values(size_t(rows * cols), uint32_t(cols)), t);
  TestTensor x(dev, t, {rows, cols}, x0, pad);
  auto y = TestTensor::poisoned(dev, t, {rows, cols}, pad);
  ops::l2_normalize(x.view(), y.view());
  std::vector<double> want(x0.size());
  for (int64_t r = 0; r < rows; ++r) {
    double sq = 0;
    for (int64_t c = 0; c < cols; ++c)
      sq += x0[r * cols + c] * x0[r * cols + c];
    for (int64_t c = 0; c < cols; ++c)
      want[r * cols + c] = x0[r * cols + c] / std::max(std::sqrt(sq), 1e-12);
  }
  std::string what = std::string("l2_normalize ") + dtype_name(t) + " " + std::to_string(rows) +
                     "x" + std::to_string(cols);
  expect_close(y.values(), want, rtol_for(t), what);
  EXPECT_TRUE(y.padding_untouched()) << what;
}

TEST(L2Normalize, Cpu) {
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    for (auto [r, c, pad] : std::vector<std::array<int64_t, 3>>{
             {1, 1, 0}, {3, 7, 0}, {2, 1000, 0}, {1, 4096, 0}, {2, 10000, 0}, {4, 33, 5}})
      check_l2(DeviceKind::cpu, t, r, c, pad);
}

TEST(L2Normalize, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (DType t : {DType::f32, DType::bf16})
    check_l2(DeviceKind::sim, t, 3, 40, 2);
}

TEST(L2Normalize, ZeroRowStaysZero) {
  TestTensor x(DeviceKind::cpu, DType::f32, {2, 4}, {0, 0, 0, 0, 3, 4, 0, 0});
  auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 4});
  ops::l2_normalize(x.view(), y.view());
  EXPECT_EQ(y.values(), rounded({0, 0, 0, 0, 0.6, 0.8, 0, 0}, DType::f32))
      << "x / max(||x||, eps): a zero row gives zeros, not NaN";
}

TEST(Pooling, ZeroSizedIsANoOp) {
  TestTensor x(DeviceKind::cpu, DType::f32, {0, 4, 8}, {}),
      m(DeviceKind::cpu, DType::i32, {0, 4}, {});
  TestTensor y(DeviceKind::cpu, DType::f32, {0, 8}, {});
  ops::mean_pool(x.view(), m.view(), y.view());
  ops::l2_normalize(y.view(), y.view());
  // No positions: every sum is empty, the mean is 0.
  TestTensor x2(DeviceKind::cpu, DType::f32, {2, 0, 8}, {}),
      m2(DeviceKind::cpu, DType::i32, {2, 0}, {});
  auto y2 = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 8});
  ops::mean_pool(x2.view(), m2.view(), y2.view());
  EXPECT_EQ(y2.values(), std::vector<double>(16, 0.0));
}

TEST(PoolingErrors, MaskShape) {
  TestTensor x(DeviceKind::cpu, DType::f32, {2, 5, 8}, random_values(80, 1));
  TestTensor m(DeviceKind::cpu, DType::i32, {2, 4}, std::vector<double>(8, 1));
  auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 8});
  int line = __LINE__ + 1;
  expect_error([&] { ops::mean_pool(x.view(), m.view(), y.view()); },
               {"pooling_test.cpp:" + std::to_string(line),
                "mean_pool: mask has shape [2, 4] but x has shape [2, 5, 8]; expected [2, 5]"});
}

TEST(PoolingErrors, OutputShape) {
  TestTensor x(DeviceKind::cpu, DType::f32, {2, 5, 8}, random_values(80, 1));
  TestTensor m(DeviceKind::cpu, DType::i32, {2, 5}, std::vector<double>(10, 1));
  auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 5});
  expect_error([&] { ops::mean_pool(x.view(), m.view(), y.view()); },
               {"mean_pool: y has shape [2, 5] but x has shape [2, 5, 8]; expected [2, 8]"});
}

TEST(PoolingErrors, Rank) {
  TestTensor x(DeviceKind::cpu, DType::f32, {5, 8}, random_values(40, 1));
  TestTensor m(DeviceKind::cpu, DType::i32, {1, 5}, std::vector<double>(5, 1));
  auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {1, 8});
  expect_error([&] { ops::mean_pool(x.view(), m.view(), y.view()); },
               {"mean_pool: x has shape [5, 8]; expected rank 3 (batch, seq, hidden)"});
}

TEST(PoolingErrors, MaskDtype) {
  TestTensor x(DeviceKind::cpu, DType::f32, {1, 2, 8}, random_values(16, 1));
  std::vector<double> m(2, 1.0);
  auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {1, 8});
  expect_error(
      [&] {
        ops::mean_pool(x.view(), TensorView(m.data(), {1, 2}), y.view());
      },
      {"mean_pool: mask has dtype f64; expected bool, an integer type, f32, f16 or bf16"});
}

TEST(PoolingErrors, NonContiguousHidden) {
  std::vector<float> buf(64), m(2, 1.0f), y(8);
  TensorView x(buf.data(), {1, 2, 8});
  x.strides = {32, 1, 2};
  expect_error(
      [&] {
        ops::mean_pool(x, TensorView(m.data(), {1, 2}), TensorView(y.data(), {1, 8}));
      },
      {"mean_pool: x's last dimension has stride 2; the last dimension must be contiguous"});
}

TEST(PoolingErrors, L2ShapeMismatch) {
  TestTensor x(DeviceKind::cpu, DType::f32, {2, 8}, random_values(16, 1));
  auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {8, 2});
  expect_error(
      [&] { ops::l2_normalize(x.view(), y.view()); },
      {"l2_normalize: y has shape [8, 2] but x has shape [2, 8]; expected the same shape"});
}

TEST(PoolingErrors, L2Dtype) {
  std::vector<int32_t> x(16);
  auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 8});
  expect_error(
      [&] {
        ops::l2_normalize(TensorView(x.data(), {2, 8}), y.view());
      },
      {"l2_normalize: x has dtype i32; expected f32, f16 or bf16"});
}

TEST(PoolingErrors, L2NonContiguousRows) {
  std::vector<float> x(16), y(16);
  TensorView xt(x.data(), {8, 2});
  xt.strides = {1, 8};
  expect_error(
      [&] {
        ops::l2_normalize(xt, TensorView(y.data(), {8, 2}));
      },
      {"l2_normalize: x's last dimension has stride 8; the last dimension must be "
       "contiguous"});
}

TEST(PoolingPtx, NoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  struct K {
    const Kernel* kernel;
    std::vector<int64_t> consts;
    int num_warps;
  };
  const std::vector<K> kernels = {
      {&ops::detail::mean_pool_kernel(), {8, 256}, ops::detail::num_warps_for(8 * 256)},
      {&ops::detail::l2_normalize_kernel(), {0, 4096}, ops::detail::num_warps_for(4096)},
      {&ops::detail::l2_normalize_kernel(), {1, 4096}, ops::detail::num_warps_for(4096)},
  };
  for (const K& k : kernels)
    for (const char* target : {"sm_80", "sm_90a"}) {
      auto module = trace_dsl(*k.kernel, k.consts, DType::bf16);
      // bf16 rows with 16-byte aligned pointers and strides: 16-byte loads.
      expect_lean_ptx(*module, target, k.num_warps, k.kernel->name() + " " + target);
    }
}

} // namespace
} // namespace tessel::testing
