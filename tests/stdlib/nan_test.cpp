// NaN inputs propagate as documented in docs/stdlib.md §6: a NaN in a row makes that row's output
// NaN (every element: it reaches the row's reductions) and leaves the other rows as they were; an
// elementwise op makes only that element NaN. On the CPU and the simulated device, one-block and
// looped paths.
#include "ops_test_util.h"

#include "tessel/ops.h"

namespace tessel::testing {
namespace {

void expect_row_nan(const std::vector<double>& y, int64_t cols, int64_t nan_row, const char* what) {
  for (size_t i = 0; i < y.size(); ++i)
    if (int64_t(i) / cols == nan_row)
      ASSERT_TRUE(std::isnan(y[i])) << what << ": element " << i << " of the NaN row is " << y[i];
    else
      ASSERT_TRUE(std::isfinite(y[i])) << what << ": element " << i << " is " << y[i];
}

void check(DeviceKind dev) {
  const int64_t rows = 3, cols = 40;
  auto x0 = random_values(rows * cols, 1);
  x0[cols + 17] = std::nan(""); // row 1
  for (int block_cols : {0, 16}) {
    TestTensor x(dev, DType::f32, {rows, cols}, x0), w(dev, DType::f32, {cols}, random_values(cols, 2));
    auto y = TestTensor::poisoned(dev, DType::f32, {rows, cols});
    auto mean = TestTensor::poisoned(dev, DType::f32, {rows});
    auto rstd = TestTensor::poisoned(dev, DType::f32, {rows});
    ops::softmax(x.view(), y.view(), {.block_cols = block_cols});
    expect_row_nan(y.values(), cols, 1, "softmax");
    ops::layer_norm(x.view(), w.view(), w.view(), y.view(), mean.view(), rstd.view(),
                    {.block_cols = block_cols});
    expect_row_nan(y.values(), cols, 1, "layer_norm");
    expect_row_nan(rstd.values(), 1, 1, "layer_norm rstd");
    ops::l2_normalize(x.view(), y.view());
    expect_row_nan(y.values(), cols, 1, "l2_normalize");
  }
  TestTensor x(dev, DType::f32, {rows, cols}, x0);
  auto y = TestTensor::poisoned(dev, DType::f32, {rows, cols});
  ops::gelu(x.view(), y.view());
  auto v = y.values();
  for (size_t i = 0; i < v.size(); ++i)
    EXPECT_EQ(std::isnan(v[i]), i == size_t(cols + 17)) << "gelu element " << i;
}

TEST(NanInputs, Cpu) { check(DeviceKind::cpu); }

TEST(NanInputs, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  check(DeviceKind::sim);
}

} // namespace
} // namespace tessel::testing
