// ops::cross_entropy and its backward against f64 references written here: vocabularies of 1, 7,
// 1000, 4096, 10000 and 32768 classes (several column blocks, and a block of 16 to reach many
// blocks on small rows), f32/f16/bf16 logits, reductions none / mean / sum, label smoothing,
// ignore_index; the backward against central finite differences of the f64 loss on small shapes;
// the gradient in place into the logits; the simulated device (out-of-range device labels: NaN);
// bad input; zero rows.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "support/expect_error.h"
#include "tessel/ops.h"

namespace tessel::testing {
namespace {

using ops::Reduction;

constexpr int kIgnore = -100;

// Row r's label: a class spread over the row, every fifth row ignored (none when rows == 1).
std::vector<double> labels_for(int64_t rows, int64_t classes) {
  std::vector<double> l;
  for (int64_t r = 0; r < rows; ++r)
    l.push_back(rows > 1 && r % 5 == 1 ? kIgnore : double((r * 7919 + 3) % classes));
  return l;
}

// The per-row losses of the f64 reference (0 for ignored rows).
std::vector<double> row_losses(const std::vector<double>& x, const std::vector<double>& labels,
                               int64_t classes, double eps) {
  std::vector<double> out;
  for (size_t r = 0; r < labels.size(); ++r) {
    if (labels[r] == kIgnore) {
      out.push_back(0);
      continue;
    }
    const double* row = &x[r * classes];
    double m = *std::max_element(row, row + classes), s = 0, sum_x = 0;
    for (int64_t c = 0; c < classes; ++c)
      s += std::exp(row[c] - m), sum_x += row[c];
    double lse = m + std::log(s);
    double nll = lse - row[int64_t(labels[r])], smooth = lse - sum_x / double(classes);
    out.push_back((1 - eps) * nll + eps * smooth);
  }
  return out;
}

double reduce(const std::vector<double>& losses, const std::vector<double>& labels, Reduction red) {
  double sum = 0, count = 0;
  for (size_t r = 0; r < losses.size(); ++r)
    sum += losses[r], count += labels[r] != kIgnore;
  return red == Reduction::mean ? sum / count : sum;
}

std::string describe(const char* op, DType t, int64_t rows, int64_t classes, Reduction red,
                     float eps, int block) {
  return std::string(op) + " " + dtype_name(t) + " " + std::to_string(rows) + "x" +
         std::to_string(classes) + " reduction " + std::to_string(int(red)) + " smoothing " +
         std::to_string(eps) + " block " + std::to_string(block);
}

struct Case {
  int64_t rows, classes;
  int block = 0;
};

void check_forward(DeviceKind dev, DType t, const Case& c, Reduction red, float eps) {
  auto x0 =
      rounded(random_values(size_t(c.rows * c.classes), uint32_t(c.classes + c.rows), -4, 4), t);
  auto l0 = labels_for(c.rows, c.classes);
  TestTensor x(dev, t, {c.rows, c.classes}, x0, /*pad=*/c.classes > 1 ? 3 : 0);
  TestTensor labels(dev, DType::i32, {c.rows}, l0);
  auto losses = TestTensor::poisoned(dev, DType::f32, {c.rows});
  auto loss = TestTensor::poisoned(dev, DType::f32, {1});
  ops::cross_entropy(
      x.view(), labels.view(), losses.view(), loss.view(),
      {.ignore_index = kIgnore, .label_smoothing = eps, .reduction = red, .block_cols = c.block});
  std::string what = describe("cross_entropy", t, c.rows, c.classes, red, eps, c.block);
  auto want = row_losses(x0, l0, c.classes, eps);
  // f32 results of f32 math over up to 32768 terms (docs/stdlib.md §7).
  expect_close(losses.values(), want, 1e-4, what, 1e-5);
  if (red != Reduction::none)
    expect_close(loss.values(), {reduce(want, l0, red)}, 1e-4, what, 1e-5);
  else
    EXPECT_TRUE(std::isnan(loss.values()[0])) << what << ": reduction none writes no loss";
}

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {{1, 1},     {3, 7},     {6, 1000},   {2, 4096},
                                      {3, 10000}, {1, 32768}, {4, 100, 16}};
  return c;
}

TEST(CrossEntropy, Cpu) {
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    for (const Case& c : cases())
      for (Reduction red : {Reduction::none, Reduction::mean, Reduction::sum})
        check_forward(DeviceKind::cpu, t, c, red, red == Reduction::sum ? 0.1f : 0.0f);
}

TEST(CrossEntropy, LabelSmoothing) {
  for (float eps : {0.1f, 1.0f})
    for (const Case& c : {Case{3, 7}, Case{6, 1000}, Case{2, 5000, 1024}})
      check_forward(DeviceKind::cpu, DType::f32, c, Reduction::mean, eps);
}

TEST(CrossEntropy, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (DType t : {DType::f32, DType::bf16})
    check_forward(DeviceKind::sim, t, {5, 40, 16}, Reduction::mean, 0.1f);
}

// The gradient of the f64 reference loss by central differences.
std::vector<double> finite_differences(const std::vector<double>& x, const std::vector<double>& l,
                                       int64_t classes, double eps, Reduction red,
                                       const std::vector<double>& dloss) {
  auto f = [&](const std::vector<double>& v) {
    auto losses = row_losses(v, l, classes, eps);
    if (red != Reduction::none)
      return dloss[0] * reduce(losses, l, red);
    double s = 0;
    for (size_t r = 0; r < losses.size(); ++r)
      s += dloss[r] * losses[r];
    return s;
  };
  std::vector<double> g(x.size()), v = x;
  for (size_t i = 0; i < x.size(); ++i) {
    double h = 1e-6 * std::max(1.0, std::fabs(x[i]));
    v[i] = x[i] + h;
    double up = f(v);
    v[i] = x[i] - h;
    double down = f(v);
    v[i] = x[i];
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

void check_backward(DeviceKind dev, DType t, const Case& c, Reduction red, float eps) {
  auto x0 = rounded(random_values(size_t(c.rows * c.classes), uint32_t(c.classes * 3 + c.rows)), t);
  auto l0 = labels_for(c.rows, c.classes);
  auto d0 = red == Reduction::none ? random_values(size_t(c.rows), 11) : std::vector<double>{1.7};
  TestTensor x(dev, t, {c.rows, c.classes}, x0), labels(dev, DType::i32, {c.rows}, l0);
  TestTensor dloss(dev, DType::f32, {int64_t(d0.size())}, d0);
  auto dx = TestTensor::poisoned(dev, t, {c.rows, c.classes}, /*pad=*/2);
  ops::cross_entropy_backward(
      x.view(), labels.view(), dloss.view(), dx.view(),
      {.ignore_index = kIgnore, .label_smoothing = eps, .reduction = red, .block_cols = c.block});
  std::string what = describe("cross_entropy_backward", t, c.rows, c.classes, red, eps, c.block);
  auto want = finite_differences(x0, l0, c.classes, eps, red, d0);
  expect_close(dx.values(), want, std::max(rtol_for(t), 1e-4), what, 1e-6 + atol_for(t));
  EXPECT_TRUE(dx.padding_untouched()) << what;
}

// The backward on the simulated device against the same finite differences (issue 12's bad-input
// slice: every backward on the simulated device), looped rows and every reduction.
TEST(CrossEntropyBackward, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (DType t : {DType::f32, DType::bf16})
    for (Reduction red : {Reduction::none, Reduction::mean})
      check_backward(DeviceKind::sim, t, Case{5, 40, 16}, red,
                     red == Reduction::mean ? 0.2f : 0.0f);
}

TEST(CrossEntropyBackward, FiniteDifferences) {
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    for (const Case& c : {Case{1, 1}, Case{3, 7}, Case{7, 33, 16}, Case{2, 300}})
      for (Reduction red : {Reduction::none, Reduction::mean, Reduction::sum})
        check_backward(DeviceKind::cpu, t, c, red, red == Reduction::mean ? 0.2f : 0.0f);
}

// Rows of many blocks, against the closed form in f64 (finite differences would take minutes).
TEST(CrossEntropyBackward, LongRows) {
  for (DType t : {DType::f32, DType::bf16})
    for (const Case& c : {Case{2, 10000}, Case{1, 32768}}) {
      auto x0 = rounded(random_values(size_t(c.rows * c.classes), 5), t);
      auto l0 = labels_for(c.rows, c.classes);
      TestTensor x(DeviceKind::cpu, t, {c.rows, c.classes}, x0);
      TestTensor labels(DeviceKind::cpu, DType::i32, {c.rows}, l0),
          dloss(DeviceKind::cpu, DType::f32, {1}, {1.0});
      auto dx = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {c.rows, c.classes});
      ops::cross_entropy_backward(x.view(), labels.view(), dloss.view(), dx.view(),
                                  {.ignore_index = kIgnore, .reduction = Reduction::sum});
      std::vector<double> want(x0.size());
      for (int64_t r = 0; r < c.rows; ++r) {
        const double* row = &x0[r * c.classes];
        double m = *std::max_element(row, row + c.classes), s = 0;
        for (int64_t k = 0; k < c.classes; ++k)
          s += std::exp(row[k] - m);
        for (int64_t k = 0; k < c.classes; ++k)
          want[r * c.classes + k] =
              l0[r] == kIgnore ? 0 : std::exp(row[k] - m) / s - (k == int64_t(l0[r]) ? 1 : 0);
      }
      expect_close(dx.values(), want, 1e-4,
                   describe("long rows", t, c.rows, c.classes, Reduction::sum, 0, 0), 1e-7);
    }
}

// Liger-Kernel's in-place gradient: dlogits is logits.
TEST(CrossEntropyBackward, InPlaceIntoLogits) {
  const int64_t rows = 3, classes = 50;
  auto x0 = random_values(size_t(rows * classes), 9);
  auto l0 = labels_for(rows, classes);
  TestTensor x(DeviceKind::cpu, DType::f32, {rows, classes}, x0),
      ref(DeviceKind::cpu, DType::f32, {rows, classes}, x0);
  TestTensor labels(DeviceKind::cpu, DType::i32, {rows}, l0),
      dloss(DeviceKind::cpu, DType::f32, {1}, {1.0});
  auto dx = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {rows, classes});
  const ops::CrossEntropyOptions o{.ignore_index = kIgnore, .block_cols = 16};
  ops::cross_entropy_backward(ref.view(), labels.view(), dloss.view(), dx.view(), o);
  ops::cross_entropy_backward(x.view(), labels.view(), dloss.view(), x.view(), o);
  EXPECT_EQ(x.values(), dx.values());
}

TEST(CrossEntropy, I64Labels) {
  std::vector<float> x = {1, 2, 3, 0, 0, 0};
  std::vector<int64_t> labels = {2, -100};
  std::vector<float> losses(2, NAN), loss(1, NAN);
  ops::cross_entropy(TensorView(x.data(), {2, 3}), TensorView(labels.data(), {2}),
                     TensorView(losses.data(), {2}), TensorView(loss.data(), {1}));
  double want = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
  EXPECT_NEAR(losses[0], want, 1e-6);
  EXPECT_EQ(losses[1], 0.0f);
  EXPECT_NEAR(loss[0], want, 1e-6) << "the mean counts only the row not ignored";
}

// Device labels are not checked on the host: the row's loss and gradient are NaN, nothing else
// changes and nothing outside the row is read.
TEST(CrossEntropy, DeviceLabelOutOfRangeIsNaN) {
  TESSEL_REQUIRE_SIM_DEVICE();
  TestTensor x(DeviceKind::sim, DType::f32, {3, 8}, random_values(24, 2));
  TestTensor labels(DeviceKind::sim, DType::i32, {3}, {1, 8, -5});
  auto losses = TestTensor::poisoned(DeviceKind::sim, DType::f32, {3});
  TestTensor loss(DeviceKind::sim, DType::f32, {1}, {0});
  ops::cross_entropy(x.view(), labels.view(), losses.view(), loss.view(),
                     {.reduction = Reduction::none});
  auto v = losses.values();
  EXPECT_TRUE(std::isfinite(v[0]));
  EXPECT_TRUE(std::isnan(v[1]));
  EXPECT_TRUE(std::isnan(v[2]));
}

// A NaN logit makes its row's loss and gradient NaN (the exp sum is NaN) and nothing else.
TEST(CrossEntropy, NaNLogitStaysInItsRow) {
  auto x0 = random_values(3 * 40, 4);
  x0[40 + 33] = std::nan("");
  TestTensor x(DeviceKind::cpu, DType::f32, {3, 40}, x0),
      labels(DeviceKind::cpu, DType::i32, {3}, {1, 2, 3});
  auto losses = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {3});
  auto loss = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {1});
  ops::cross_entropy(x.view(), labels.view(), losses.view(), loss.view(), {.block_cols = 16});
  auto v = losses.values();
  EXPECT_TRUE(std::isfinite(v[0]) && std::isnan(v[1]) && std::isfinite(v[2]));
  EXPECT_TRUE(std::isnan(loss.values()[0]));
  TestTensor dloss(DeviceKind::cpu, DType::f32, {1}, {1.0});
  auto dx = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {3, 40});
  ops::cross_entropy_backward(x.view(), labels.view(), dloss.view(), dx.view(), {.block_cols = 16});
  auto g = dx.values();
  for (int64_t i = 0; i < 120; ++i)
    EXPECT_EQ(std::isnan(g[i]), i / 40 == 1) << i;
}

TEST(CrossEntropy, ZeroRows) {
  TestTensor x(DeviceKind::cpu, DType::f32, {0, 8}, {}),
      labels(DeviceKind::cpu, DType::i32, {0}, {});
  TestTensor losses(DeviceKind::cpu, DType::f32, {0}, {}),
      dx(DeviceKind::cpu, DType::f32, {0, 8}, {});
  auto loss = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {1});
  ops::cross_entropy(x.view(), labels.view(), losses.view(), loss.view(),
                     {.reduction = Reduction::sum});
  EXPECT_EQ(loss.values(), std::vector<double>{0.0}) << "a sum over no rows is 0";
  ops::cross_entropy_backward(x.view(), labels.view(), loss.view(), dx.view(),
                              {.reduction = Reduction::sum});
}

struct ErrorInputs {
  std::vector<float> x = std::vector<float>(12, 0.5f), losses = std::vector<float>(3),
                     loss = std::vector<float>(1);
  std::vector<int32_t> labels = {0, 3, 1};
  TensorView xv() { return TensorView(x.data(), {3, 4}); }
  TensorView lv() { return TensorView(labels.data(), {3}); }
  TensorView losses_v() { return TensorView(losses.data(), {3}); }
  TensorView loss_v() { return TensorView(loss.data(), {1}); }
};

TEST(CrossEntropyErrors, LabelOutOfRange) {
  ErrorInputs in;
  in.labels[1] = 4;
  int line = __LINE__ + 1;
  expect_error([&] { ops::cross_entropy(in.xv(), in.lv(), in.losses_v(), in.loss_v()); },
               {"loss_test.cpp:" + std::to_string(line),
                "cross_entropy: labels[1] is 4, outside [0, 4) and not ignore_index (-100); "
                "expected a class index of logits' last dimension"});
}

TEST(CrossEntropyErrors, LabelOutOfRangeBackward) {
  ErrorInputs in;
  in.labels[2] = -1;
  expect_error([&] { ops::cross_entropy_backward(in.xv(), in.lv(), in.loss_v(), in.xv()); },
               {"cross_entropy_backward: labels[2] is -1, outside [0, 4)"});
}

TEST(CrossEntropyErrors, LogitsDtype) {
  ErrorInputs in;
  std::vector<int32_t> ints(12);
  expect_error(
      [&] {
        ops::cross_entropy(TensorView(ints.data(), {3, 4}), in.lv(), in.losses_v(), in.loss_v());
      },
      {"cross_entropy: logits has dtype i32; expected f32, f16 or bf16"});
}

TEST(CrossEntropyErrors, LogitsNotContiguous) {
  ErrorInputs in;
  TensorView xt = in.xv();
  xt.strides = {1, 3}; // [3, 4] read column-major
  expect_error([&] { ops::cross_entropy(xt, in.lv(), in.losses_v(), in.loss_v()); },
               {"cross_entropy: logits's last dimension has stride 3; the last dimension must be "
                "contiguous"});
}

TEST(CrossEntropyErrors, LabelDtype) {
  ErrorInputs in;
  expect_error(
      [&] {
        ops::cross_entropy(in.xv(), TensorView(in.losses.data(), {3}), in.losses_v(), in.loss_v());
      },
      {"cross_entropy: labels has dtype f32; expected i32 or i64"});
}

TEST(CrossEntropyErrors, LabelShape) {
  ErrorInputs in;
  expect_error(
      [&] {
        ops::cross_entropy(in.xv(), TensorView(in.labels.data(), {2}), in.losses_v(), in.loss_v());
      },
      {"cross_entropy: labels has shape [2] but logits has 3 rows; expected shape [3]"});
}

TEST(CrossEntropyErrors, LossShape) {
  ErrorInputs in;
  expect_error([&] { ops::cross_entropy(in.xv(), in.lv(), in.losses_v(), in.losses_v()); },
               {"cross_entropy: loss has shape [3]; expected one element (rank 0 or shape [1]) "
                "for reduction mean or sum"});
}

TEST(CrossEntropyErrors, LossesShape) {
  ErrorInputs in;
  expect_error(
      [&] { ops::cross_entropy(in.xv(), in.lv(), TensorView(in.x.data(), {4}), in.loss_v()); },
      {"cross_entropy: losses has shape [4] but logits has 3 rows; expected shape [3]"});
}

TEST(CrossEntropyErrors, Smoothing) {
  ErrorInputs in;
  expect_error(
      [&] {
        ops::cross_entropy(in.xv(), in.lv(), in.losses_v(), in.loss_v(), {.label_smoothing = 1.5f});
      },
      {"cross_entropy: label_smoothing is 1.5; expected a value in [0, 1]"});
}

TEST(CrossEntropyErrors, LogitsRank) {
  ErrorInputs in;
  expect_error(
      [&] {
        ops::cross_entropy(TensorView(in.x.data(), {12}), in.lv(), in.losses_v(), in.loss_v());
      },
      {"cross_entropy: logits has shape [12]; expected rank 2 (rows, classes)"});
}

TEST(CrossEntropyErrors, DlossPerRow) {
  ErrorInputs in;
  expect_error(
      [&] {
        ops::cross_entropy_backward(in.xv(), in.lv(), in.loss_v(), in.xv(),
                                    {.reduction = Reduction::none});
      },
      {"cross_entropy_backward: dloss has shape [1] but logits has 3 rows; expected shape [3]"});
}

TEST(CrossEntropyErrors, NoClasses) {
  std::vector<float> x(1), losses(2), loss(1);
  std::vector<int32_t> labels(2);
  expect_error(
      [&] {
        ops::cross_entropy(TensorView(x.data(), {2, 0}), TensorView(labels.data(), {2}),
                           TensorView(losses.data(), {2}), TensorView(loss.data(), {1}));
      },
      {"cross_entropy: logits has 0 classes; expected at least one"});
}

TEST(CrossEntropyErrors, IgnoreIndexRange) {
  ErrorInputs in;
  expect_error(
      [&] {
        ops::cross_entropy(in.xv(), in.lv(), in.losses_v(), in.loss_v(),
                           {.ignore_index = int64_t(1) << 40});
      },
      {"cross_entropy: ignore_index is 1099511627776; expected a 32-bit integer"});
}

TEST(CrossEntropyErrors, LossesStrided) {
  ErrorInputs in;
  std::vector<float> buf(6);
  TensorView losses(buf.data(), {3});
  losses.strides = {2};
  expect_error([&] { ops::cross_entropy(in.xv(), in.lv(), losses, in.loss_v()); },
               {"cross_entropy: losses has stride 2; expected a contiguous tensor"});
}

TEST(CrossEntropyErrors, LossDtype) {
  ErrorInputs in;
  std::vector<int32_t> l(1);
  expect_error(
      [&] { ops::cross_entropy(in.xv(), in.lv(), in.losses_v(), TensorView(l.data(), {1})); },
      {"cross_entropy: loss has dtype i32; expected f32"});
}

TEST(CrossEntropyErrors, NullLabels) {
  ErrorInputs in;
  expect_error(
      [&] {
        ops::cross_entropy(in.xv(), TensorView(static_cast<int32_t*>(nullptr), {3}), in.losses_v(),
                           in.loss_v());
      },
      {"cross_entropy: labels has a null data pointer"});
}

TEST(CrossEntropyPtx, NoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  struct K {
    const Kernel* kernel;
    std::vector<int64_t> consts;
    int num_warps;
  };
  const int64_t mean = int64_t(Reduction::mean);
  const std::vector<K> kernels = {
      {&ops::detail::cross_entropy_kernel(), {4096}, ops::detail::num_warps_for(4096)},
      {&ops::detail::cross_entropy_backward_kernel(),
       {mean, 4096},
       ops::detail::num_warps_for(4096)},
      {&ops::detail::cross_entropy_reduce_kernel(), {1, 1024}, ops::detail::num_warps_for(1024)},
  };
  for (const K& k : kernels)
    for (const char* target : {"sm_80", "sm_90a"}) {
      auto module = trace_dsl(*k.kernel, k.consts, DType::bf16);
      expect_lean_ptx(*module, target, k.num_warps, k.kernel->name() + " " + target);
    }
}

} // namespace
} // namespace tessel::testing
