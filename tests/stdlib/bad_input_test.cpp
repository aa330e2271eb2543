// Issue 12's bad-input list swept over every memory-bound op at once, on the CPU and the simulated
// device (the per-family tests check a few ops each; this file makes sure none is missed):
// - zero-sized tensors are a no-op: every op and backward with no rows (and the elementwise ones
//   with no columns) returns without launching anything out of bounds (the simulator's memcheck
//   would report it) and without an error; the one sum over nothing (the norms' weight gradient)
//   writes its identity, 0;
// - NaN inputs propagate as docs/stdlib.md §6 says, for the ops tests/stdlib/nan_test.cpp does not
//   cover: an elementwise op (and its backward) makes only the NaN's element NaN, a row op its
//   row, rotary only the NaN's pair, mean_pool only its batch entry's column (and a NaN at a
//   masked position is never read), cross_entropy its row's loss and gradient (and the mean).
#include "ops_test_util.h"

#include "tessel/ops.h"

#include <deque>
#include <functional>

namespace tessel::testing {
namespace {

// Poisoned (or given) tensors that live as long as the sweep.
class Pool {
public:
  explicit Pool(DeviceKind dev) : dev_(dev) {}
  TensorView t(std::vector<int64_t> shape, DType d = DType::f32, double fill = NAN) {
    size_t n = 1;
    for (int64_t s : shape)
      n *= size_t(s);
    return keep_.emplace_back(dev_, d, std::move(shape), std::vector<double>(n, fill)).view();
  }
  TestTensor& last() { return keep_.back(); }

private:
  DeviceKind dev_;
  std::deque<TestTensor> keep_;
};

// Every row op with `rows` rows of `cols` columns, forward and backward.
void zero_rows(DeviceKind dev, int64_t rows, int64_t cols) {
  Pool p(dev);
  auto m = [&] { return p.t({rows, cols}, DType::f32, 0.5); };
  auto r = [&] { return p.t({rows}); };
  auto w = p.t({cols}, DType::f32, 1.0);
  ops::softmax(m(), m());
  ops::log_softmax(m(), m());
  ops::softmax_backward(m(), m(), m());
  ops::log_softmax_backward(m(), m(), m());
  ops::rms_norm(m(), w, m(), r());
  ops::add_rms_norm(m(), m(), w, m(), m(), r());
  ops::layer_norm(m(), w, w, m(), r(), r());
  ops::add_layer_norm(m(), m(), w, w, m(), m(), r(), r());
  ops::l2_normalize(m(), m());
  ops::dropout(m(), m(), {.p = 0.5f});
  ops::dropout_backward(m(), m(), {.p = 0.5f});
  ops::gelu(m(), m());
  ops::gelu(m(), m(), {.approximate = ops::GeluApproximation::tanh});
  ops::gelu_backward(m(), m(), m());
  ops::silu(m(), m());
  ops::silu_backward(m(), m(), m());
  ops::swiglu(m(), m(), m());
  ops::swiglu_backward(m(), m(), m(), m(), m());
  ops::geglu(m(), m(), m());
  ops::geglu_backward(m(), m(), m(), m(), m());
  ops::add(m(), w, m());
  ops::mul(m(), m(), m());
  ops::quantize(m(), p.t({rows, cols}, DType::i8, 0), r());
  ops::quantize(m(), p.t({rows, cols}, DType::i8, 0), p.t({1}),
                {.granularity = ops::QuantGranularity::per_tensor});
  ops::dequantize(p.t({rows, cols}, DType::i8, 0), r(), m());
  if (rows > 0)
    return; // the ops below reduce along rows or need a column
  auto dw = p.t({cols});
  TestTensor& dweight = p.last();
  auto db = p.t({cols});
  TestTensor& dbias = p.last();
  ops::rms_norm_backward(m(), m(), w, r(), m(), dw);
  EXPECT_EQ(dweight.values(), std::vector<double>(size_t(cols), 0.0)) << "rms_norm dweight";
  ops::layer_norm_backward(m(), m(), w, r(), r(), m(), dw, db);
  EXPECT_EQ(dweight.values(), std::vector<double>(size_t(cols), 0.0)) << "layer_norm dweight";
  EXPECT_EQ(dbias.values(), std::vector<double>(size_t(cols), 0.0)) << "layer_norm dbias";
  auto labels = p.t({rows}, DType::i32, 0);
  ops::cross_entropy(m(), labels, r(), p.t({1}), {.reduction = ops::Reduction::sum});
  ops::cross_entropy_backward(m(), labels, p.t({1}, DType::f32, 1.0), m());
  ops::argmax(m(), p.t({rows}, DType::i32, 0));
  ops::topk(m(), m(), p.t({rows, cols}, DType::i32, 0), cols);
  auto x4 = p.t({0, 3, 2, 8}, DType::f32, 0.5);
  ops::rotary_embedding(x4, p.t({3, 4}), p.t({3, 4}), x4);
  ops::rotary_embedding_backward(x4, p.t({3, 4}), p.t({3, 4}), x4);
  ops::rotary_embedding_from_positions(x4, p.t({3}, DType::i32, 0), x4);
  ops::mean_pool(p.t({0, 4, cols}), p.t({0, 4}, DType::i32, 1), p.t({0, cols}));
}

TEST(BadInput, ZeroSizedIsANoOpForEveryOp) {
  zero_rows(DeviceKind::cpu, 0, 8);
  zero_rows(DeviceKind::cpu, 3, 0);
}

TEST(BadInput, ZeroSizedIsANoOpForEveryOpSimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  zero_rows(DeviceKind::sim, 0, 8);
  zero_rows(DeviceKind::sim, 3, 0);
}

// NaN at (row 1, column 5) of a 3 x 24 input.
constexpr int64_t kRows = 3, kCols = 24, kNanAt = kCols + 5;

std::vector<double> with_nan(uint32_t seed) {
  auto v = random_values(size_t(kRows * kCols), seed);
  v[kNanAt] = NAN;
  return v;
}

void expect_nan_exactly_at(const std::vector<double>& y, const std::function<bool(size_t)>& nan,
                           const std::string& what) {
  for (size_t i = 0; i < y.size(); ++i)
    ASSERT_EQ(std::isnan(y[i]), nan(i)) << what << ": element " << i << " is " << y[i];
}

void expect_element_nan(const std::vector<double>& y, const std::string& what) {
  expect_nan_exactly_at(
      y, [](size_t i) { return i == size_t(kNanAt); }, what);
}

void expect_row_nan(const std::vector<double>& y, const std::string& what) {
  expect_nan_exactly_at(
      y, [](size_t i) { return i / kCols == 1; }, what);
}

void elementwise_nans(DeviceKind dev) {
  TestTensor x(dev, DType::f32, {kRows, kCols}, with_nan(1)),
      u(dev, DType::f32, {kRows, kCols}, random_values(size_t(kRows * kCols), 2)),
      dy(dev, DType::f32, {kRows, kCols}, random_values(size_t(kRows * kCols), 3));
  auto out = [&] { return TestTensor::poisoned(dev, DType::f32, {kRows, kCols}); };
  TestTensor a = out(), b = out();
  ops::silu(x.view(), a.view());
  expect_element_nan(a.values(), "silu");
  ops::silu_backward(x.view(), dy.view(), a.view());
  expect_element_nan(a.values(), "silu_backward");
  ops::gelu_backward(x.view(), dy.view(), a.view());
  expect_element_nan(a.values(), "gelu_backward");
  ops::geglu(x.view(), u.view(), a.view());
  expect_element_nan(a.values(), "geglu (NaN gate)");
  ops::swiglu(u.view(), x.view(), a.view());
  expect_element_nan(a.values(), "swiglu (NaN up)");
  ops::swiglu_backward(x.view(), u.view(), dy.view(), a.view(), b.view());
  expect_element_nan(a.values(), "swiglu_backward dgate");
  expect_element_nan(b.values(), "swiglu_backward dup");
  ops::geglu_backward(x.view(), u.view(), dy.view(), a.view(), b.view());
  expect_element_nan(a.values(), "geglu_backward dgate");
  expect_element_nan(b.values(), "geglu_backward dup");
  ops::dropout(x.view(), a.view(), {.p = 0.0f});
  expect_element_nan(a.values(), "dropout p = 0 (every element kept)");
  ops::dropout(x.view(), a.view(), {.p = 1.0f}); // every element dropped: 0, also the NaN
  expect_nan_exactly_at(
      a.values(), [](size_t) { return false; }, "dropout p = 1");
}

void row_nans(DeviceKind dev) {
  TestTensor x(dev, DType::f32, {kRows, kCols}, with_nan(4)),
      clean(dev, DType::f32, {kRows, kCols}, random_values(size_t(kRows * kCols), 5)),
      w(dev, DType::f32, {kCols}, random_values(size_t(kCols), 6));
  auto out = [&] { return TestTensor::poisoned(dev, DType::f32, {kRows, kCols}); };
  auto stats = [&] { return TestTensor::poisoned(dev, DType::f32, {kRows}); };
  TestTensor y = out(), h = out(), mean = stats(), rstd = stats();
  ops::log_softmax_backward(clean.view(), x.view(), y.view()); // NaN in dy: its row's sum
  expect_row_nan(y.values(), "log_softmax_backward");
  ops::add_rms_norm(clean.view(), x.view(), w.view(), y.view(), h.view(), rstd.view());
  expect_row_nan(y.values(), "add_rms_norm y");
  expect_element_nan(h.values(), "add_rms_norm residual_out");
  ops::add_layer_norm(clean.view(), x.view(), w.view(), w.view(), y.view(), h.view(), mean.view(),
                      rstd.view());
  expect_row_nan(y.values(), "add_layer_norm y");
  expect_element_nan(h.values(), "add_layer_norm residual_out");
  expect_nan_exactly_at(
      rstd.values(), [](size_t i) { return i == 1; }, "add_layer_norm rstd");
  // The norm backward with dy holding the NaN: dx's row; the weight gradient sums every row, so
  // the NaN's column only (dweight = sum dy * xhat).
  ops::layer_norm(clean.view(), w.view(), w.view(), y.view(), mean.view(), rstd.view());
  TestTensor dw = TestTensor::poisoned(dev, DType::f32, {kCols}),
             db = TestTensor::poisoned(dev, DType::f32, {kCols});
  ops::layer_norm_backward(x.view(), clean.view(), w.view(), mean.view(), rstd.view(), y.view(),
                           dw.view(), db.view());
  expect_row_nan(y.values(), "layer_norm_backward dx");
  expect_nan_exactly_at(
      dw.values(), [](size_t i) { return i == 5; }, "layer_norm_backward dw");
  expect_nan_exactly_at(
      db.values(), [](size_t i) { return i == 5; }, "layer_norm_backward db");
  ops::rms_norm(clean.view(), w.view(), y.view(), rstd.view());
  ops::rms_norm_backward(x.view(), clean.view(), w.view(), rstd.view(), y.view(), dw.view());
  expect_row_nan(y.values(), "rms_norm_backward dx");
  expect_nan_exactly_at(
      dw.values(), [](size_t i) { return i == 5; }, "rms_norm_backward dw");
}

void loss_nans(DeviceKind dev) {
  TestTensor x(dev, DType::f32, {kRows, kCols}, with_nan(7)),
      labels(dev, DType::i32, {kRows}, {3, 4, 5});
  TestTensor losses = TestTensor::poisoned(dev, DType::f32, {kRows}),
             loss = TestTensor::poisoned(dev, DType::f32, {1});
  ops::cross_entropy(x.view(), labels.view(), losses.view(), loss.view());
  expect_nan_exactly_at(
      losses.values(), [](size_t i) { return i == 1; }, "cross_entropy losses");
  EXPECT_TRUE(std::isnan(loss.values()[0])) << "cross_entropy mean";
  TestTensor dloss(dev, DType::f32, {1}, {1.0});
  TestTensor dx = TestTensor::poisoned(dev, DType::f32, {kRows, kCols});
  ops::cross_entropy_backward(x.view(), labels.view(), dloss.view(), dx.view());
  expect_row_nan(dx.values(), "cross_entropy_backward");
}

// Rotary: the NaN at dimension 5 of (batch 0, position 1, head 0) of head_dim 8 (half-split
// pairs (i, i + 4)) reaches only its pair, dimensions 1 and 5 of that row.
void rotary_nans(DeviceKind dev) {
  std::vector<double> x0 = random_values(2 * 3 * 8, 8);
  x0[8 * 2 + 5] = NAN; // rows are (position, head) with 2 heads
  TestTensor x(dev, DType::f32, {1, 3, 2, 8}, x0),
      cos(dev, DType::f32, {3, 4}, random_values(12, 9)),
      sin(dev, DType::f32, {3, 4}, random_values(12, 10));
  TestTensor y = TestTensor::poisoned(dev, DType::f32, {1, 3, 2, 8});
  auto pair = [](size_t i) { return i == 8 * 2 + 1 || i == 8 * 2 + 5; };
  ops::rotary_embedding(x.view(), cos.view(), sin.view(), y.view());
  expect_nan_exactly_at(y.values(), pair, "rotary_embedding");
  ops::rotary_embedding_backward(x.view(), cos.view(), sin.view(), y.view());
  expect_nan_exactly_at(y.values(), pair, "rotary_embedding_backward");
}

// mean_pool [2, 3, 4]: a NaN at a real token of batch 0 makes its column NaN; one at a padded
// position of batch 1 is never read.
void pool_nans(DeviceKind dev) {
  std::vector<double> x0 = random_values(2 * 3 * 4, 11);
  x0[4 * 1 + 2] = NAN;         // batch 0, token 1, column 2 (real)
  x0[3 * 4 + 4 * 2 + 0] = NAN; // batch 1, token 2, column 0 (padding)
  TestTensor x(dev, DType::f32, {2, 3, 4}, x0), mask(dev, DType::i32, {2, 3}, {1, 1, 1, 1, 1, 0});
  TestTensor y = TestTensor::poisoned(dev, DType::f32, {2, 4});
  ops::mean_pool(x.view(), mask.view(), y.view());
  expect_nan_exactly_at(
      y.values(), [](size_t i) { return i == 2; }, "mean_pool");
}

void nans(DeviceKind dev) {
  elementwise_nans(dev);
  row_nans(dev);
  loss_nans(dev);
  rotary_nans(dev);
  pool_nans(dev);
}

TEST(BadInput, NanPropagatesInEveryOtherOp) { nans(DeviceKind::cpu); }

TEST(BadInput, NanPropagatesInEveryOtherOpSimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  nans(DeviceKind::sim);
}

} // namespace
} // namespace tessel::testing
