// ops::argmax against a reference written here: rows of 1, 7, 1000, 4096, 10000 and 32768 columns
// (and a block of 16 for many blocks on short rows), values with many ties (the first index must
// win, across blocks too), f32/f16/bf16, i32 indices, padded rows; NaN and -inf rows; the
// simulated device; bad input; zero rows; PTX unspilled.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "support/expect_error.h"
#include "tessel/ops.h"

namespace tessel::testing {
namespace {

std::vector<double> first_max(const std::vector<double>& x, int64_t rows, int64_t cols) {
  std::vector<double> out;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t best = 0;
    for (int64_t c = 0; c < cols; ++c) {
      double v = x[r * cols + c];
      if (std::isnan(v)) {
        best = c;
        break;
      }
      if (v > x[r * cols + best])
        best = c;
    }
    out.push_back(double(best));
  }
  return out;
}

void check_argmax(DeviceKind dev, DType t, int64_t rows, int64_t cols, int block, int64_t pad) {
  // Integers in [-20, 20]: ties everywhere, exact in every dtype.
  auto x0 = random_values(size_t(rows * cols), uint32_t(cols + rows), -20, 20);
  for (double& v : x0)
    v = std::round(v);
  TestTensor x(dev, t, {rows, cols}, x0, pad);
  auto idx = TestTensor::poisoned(dev, DType::i32, {rows});
  ops::argmax(x.view(), idx.view(), {.block_cols = block});
  std::string what = std::string("argmax ") + dtype_name(t) + " " + std::to_string(rows) + "x" +
                     std::to_string(cols) + " block " + std::to_string(block);
  EXPECT_EQ(idx.values(), first_max(x0, rows, cols)) << what;
}

TEST(Argmax, Cpu) {
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    for (auto [r, c, block, pad] : std::vector<std::array<int64_t, 4>>{{1, 1, 0, 0},
                                                                       {3, 7, 0, 0},
                                                                       {6, 1000, 0, 3},
                                                                       {2, 4096, 0, 0},
                                                                       {3, 10000, 0, 0},
                                                                       {1, 32768, 0, 0},
                                                                       {5, 100, 16, 1}})
      check_argmax(DeviceKind::cpu, t, r, c, int(block), pad);
}

TEST(Argmax, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (DType t : {DType::f32, DType::bf16})
    check_argmax(DeviceKind::sim, t, 3, 70, 16, 2);
}

TEST(Argmax, NaNAndInfinity) {
  const double nan = std::nan(""), inf = INFINITY;
  TestTensor x(DeviceKind::cpu, DType::f32, {4, 40}, [&] {
    std::vector<double> v(160, 1.0);
    v[5] = 7, v[33] = nan, v[37] = nan; // row 0: the first NaN, in block 3
    for (int c = 0; c < 40; ++c)
      v[40 + c] = -inf;                 // row 1: all -inf: index 0
    v[80 + 20] = inf, v[80 + 30] = inf; // row 2: the first +inf
    v[120 + 39] = 2;                    // row 3: the last column
    return v;
  }());
  auto idx = TestTensor::poisoned(DeviceKind::cpu, DType::i32, {4});
  ops::argmax(x.view(), idx.view(), {.block_cols = 16});
  EXPECT_EQ(idx.values(), (std::vector<double>{33, 0, 20, 39}));
}

TEST(Argmax, I64IndicesAndBatchShape) {
  std::vector<float> x = {1, 5, 5, 2, 9, 0};
  std::vector<int64_t> idx(2, -1);
  TensorView iv(idx.data(), {2});
  ops::argmax(TensorView(x.data(), {2, 3}), iv);
  EXPECT_EQ(idx, (std::vector<int64_t>{1, 1}));
}

TEST(Argmax, ZeroRowsIsANoOp) {
  TestTensor x(DeviceKind::cpu, DType::f32, {0, 8}, {}), idx(DeviceKind::cpu, DType::i32, {0}, {});
  ops::argmax(x.view(), idx.view());
}

TEST(ArgmaxErrors, IndicesDtype) {
  std::vector<float> x(6), idx(2);
  const int line = __LINE__ + 3; // the line of the call below
  expect_error(
      [&] {
        ops::argmax(TensorView(x.data(), {2, 3}), TensorView(idx.data(), {2}));
      },
      {"reduce_test.cpp:" + std::to_string(line),
       "argmax: indices has dtype f32; expected i32 or i64"});
}

TEST(ArgmaxErrors, XDtype) {
  std::vector<int32_t> x(6), idx(2);
  expect_error(
      [&] {
        ops::argmax(TensorView(x.data(), {2, 3}), TensorView(idx.data(), {2}));
      },
      {"argmax: x has dtype i32; expected f32, f16 or bf16"});
}

TEST(ArgmaxErrors, NonContiguousRows) {
  std::vector<float> x(6);
  std::vector<int32_t> idx(3);
  TensorView xt(x.data(), {3, 2});
  xt.strides = {1, 3};
  expect_error([&] { ops::argmax(xt, TensorView(idx.data(), {3})); },
               {"argmax: x's last dimension has stride 3; the last dimension must be contiguous"});
}

TEST(ArgmaxErrors, IndicesShape) {
  std::vector<float> x(6);
  std::vector<int32_t> idx(3);
  expect_error(
      [&] {
        ops::argmax(TensorView(x.data(), {2, 3}), TensorView(idx.data(), {3}));
      },
      {"argmax: indices has shape [3] (3 elements) but x has 2 rows; expected one index "
       "per row"});
}

TEST(ArgmaxErrors, EmptyRows) {
  std::vector<float> x(1);
  std::vector<int32_t> idx(2);
  expect_error(
      [&] {
        ops::argmax(TensorView(x.data(), {2, 0}), TensorView(idx.data(), {2}));
      },
      {"argmax: x's last dimension is 0; expected at least one element"});
}

TEST(ArgmaxErrors, IndicesNotContiguous) {
  std::vector<float> x(6);
  std::vector<int32_t> idx(4);
  TensorView iv(idx.data(), {2});
  iv.strides = {2};
  expect_error(
      [&] {
        ops::argmax(TensorView(x.data(), {2, 3}), iv);
      },
      {"argmax: indices has shape [2] and is not contiguous; expected a contiguous tensor"});
}

TEST(ArgmaxErrors, NullIndices) {
  std::vector<float> x(6);
  expect_error(
      [&] {
        ops::argmax(TensorView(x.data(), {2, 3}), TensorView(static_cast<int32_t*>(nullptr), {2}));
      },
      {"argmax: indices has a null data pointer"});
}

TEST(ArgmaxPtx, NoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (int64_t block : {1024, 4096})
    for (const char* target : {"sm_80", "sm_90a"}) {
      auto module = trace_dsl(ops::detail::argmax_kernel(), {block}, DType::bf16);
      expect_lean_ptx(*module, target, ops::detail::num_warps_for(int(block)),
                      std::string(target) + " BLOCK " + std::to_string(block));
    }
}

} // namespace
} // namespace tessel::testing
