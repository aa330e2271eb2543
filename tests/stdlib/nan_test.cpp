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
    TestTensor x(dev, DType::f32, {rows, cols}, x0),
        w(dev, DType::f32, {cols}, random_values(cols, 2));
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
  TestTensor x(dev, DType::f32, {rows, cols}, x0),
      w(dev, DType::f32, {cols}, random_values(cols, 2));
  auto y = TestTensor::poisoned(dev, DType::f32, {rows, cols});
  auto rstd = TestTensor::poisoned(dev, DType::f32, {rows});
  ops::rms_norm(x.view(), w.view(), y.view(), rstd.view(), {.block_cols = 16});
  expect_row_nan(y.values(), cols, 1, "rms_norm");
  expect_row_nan(rstd.values(), 1, 1, "rms_norm rstd");
  ops::log_softmax(x.view(), y.view());
  expect_row_nan(y.values(), cols, 1, "log_softmax");
  auto dx = TestTensor::poisoned(dev, DType::f32, {rows, cols});
  ops::softmax_backward(x.view(), x.view(), dx.view(), {.block_cols = 16}); // y with a NaN
  expect_row_nan(dx.values(), cols, 1, "softmax_backward");
  auto expect_element_nan = [&](const char* what) {
    auto v = y.values();
    for (size_t i = 0; i < v.size(); ++i)
      EXPECT_EQ(std::isnan(v[i]), i == size_t(cols + 17)) << what << " element " << i;
  };
  ops::gelu(x.view(), y.view());
  expect_element_nan("gelu");
  ops::swiglu(x.view(), x.view(), y.view());
  expect_element_nan("swiglu");
  ops::add(x.view(), w.view(), y.view());
  expect_element_nan("add (w broadcast)");
  ops::mul(x.view(), x.view(), y.view());
  expect_element_nan("mul");
}

// Infinities: softmax gives 0 to a -inf element (a masked score), also when the row's first blocks
// are all -inf (the online path's running max starts at -inf); a row of only -inf is 0/0 = NaN, a
// +inf makes its row NaN (inf - inf), as in PyTorch; the other rows are untouched. A +inf in a
// layer_norm row makes that row NaN. cross_entropy over masked (-inf) logits is finite without
// label smoothing. Elementwise ops give IEEE results at the element (silu(-inf) = NaN, as PyTorch).
void check_infinities(DeviceKind dev) {
  const double inf = INFINITY;
  const int64_t rows = 4, cols = 40;
  auto x0 = random_values(rows * cols, 3);
  x0[5] = -inf; // row 0: one masked element
  for (int c = 0; c < cols; ++c)
    x0[cols + c] = c < 20 ? -inf : x0[cols + c]; // row 1: a masked prefix longer than a block
  for (int c = 0; c < cols; ++c)
    x0[2 * cols + c] = -inf; // row 2: all masked
  x0[3 * cols + 7] = inf;    // row 3: +inf
  for (int block_cols : {0, 16}) {
    TestTensor x(dev, DType::f32, {rows, cols}, x0);
    auto y = TestTensor::poisoned(dev, DType::f32, {rows, cols});
    ops::softmax(x.view(), y.view(), {.block_cols = block_cols});
    auto v = y.values();
    const std::string what = "softmax block " + std::to_string(block_cols);
    EXPECT_EQ(v[5], 0.0) << what;
    for (int c = 0; c < cols; ++c) {
      if (c != 5) {
        EXPECT_TRUE(std::isfinite(v[c]) && v[c] > 0) << what << " row 0 column " << c;
      }
      if (c < 20) {
        EXPECT_EQ(v[cols + c], 0.0) << what << " row 1 column " << c;
      } else {
        EXPECT_TRUE(std::isfinite(v[cols + c]) && v[cols + c] > 0) << what << " row 1 column " << c;
      }
      EXPECT_TRUE(std::isnan(v[2 * cols + c])) << what << " row 2 column " << c;
      EXPECT_TRUE(std::isnan(v[3 * cols + c])) << what << " row 3 column " << c;
    }
  }
  TestTensor x(dev, DType::f32, {rows, cols}, x0),
      w(dev, DType::f32, {cols}, random_values(cols, 2));
  auto y = TestTensor::poisoned(dev, DType::f32, {rows, cols});
  auto mean = TestTensor::poisoned(dev, DType::f32, {rows});
  auto rstd = TestTensor::poisoned(dev, DType::f32, {rows});
  std::vector<double> plus(rows * cols, 1.0);
  plus[cols + 3] = inf;
  TestTensor xp(dev, DType::f32, {rows, cols}, plus);
  ops::layer_norm(xp.view(), w.view(), w.view(), y.view(), mean.view(), rstd.view());
  expect_row_nan(y.values(), cols, 1, "layer_norm with +inf");
  // cross_entropy over row 1 (a masked prefix of 20 logits) labelled 30: finite, and the same in
  // the looped path (blocks of 16) as in one block.
  std::vector<double> row1(x0.begin() + cols, x0.begin() + 2 * cols);
  TestTensor logits(dev, DType::f32, {1, cols}, row1), label(dev, DType::i32, {1}, {30});
  double losses_by_block[2];
  for (int i = 0; i < 2; ++i) {
    auto losses = TestTensor::poisoned(dev, DType::f32, {1});
    auto loss = TestTensor::poisoned(dev, DType::f32, {1});
    ops::cross_entropy(logits.view(), label.view(), losses.view(), loss.view(),
                       {.block_cols = i == 0 ? 0 : 16});
    losses_by_block[i] = losses.values()[0];
    EXPECT_TRUE(std::isfinite(losses_by_block[i])) << "cross_entropy block " << (i ? 16 : 64);
  }
  EXPECT_NEAR(losses_by_block[0], losses_by_block[1], 1e-5);
  ops::silu(x.view(), y.view());
  auto v = y.values();
  EXPECT_TRUE(std::isnan(v[5])) << "silu(-inf) = -inf * sigmoid(-inf) = -inf * 0 = NaN, as PyTorch";
  EXPECT_EQ(v[3 * cols + 7], inf) << "silu(+inf)";
}

TEST(InfInputs, Cpu) { check_infinities(DeviceKind::cpu); }

TEST(InfInputs, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  check_infinities(DeviceKind::sim);
}

TEST(NanInputs, Cpu) { check(DeviceKind::cpu); }

TEST(NanInputs, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  check(DeviceKind::sim);
}

} // namespace
} // namespace tessel::testing
