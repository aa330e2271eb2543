// Several short rows per program on the CPU (stdlib/common/row_tiles.h): the heuristic's choices,
// and softmax / log_softmax (the forward on tiles; the backward, one row per program, at the same
// shapes) and cross_entropy (forward, backward) at row counts that leave the last tile ragged,
// against f64 references written here, outputs poisoned (NaN) with padded rows and guard rows after
// the last one that must stay NaN.
#include "ops_test_util.h"

#include "stdlib/common/row_tiles.h"
#include "tessel/ops.h"

#include <cmath>

namespace tessel::testing {
namespace {

using ops::detail::rows_per_program;

TensorView cpu_view(int64_t rows, int64_t cols, DeviceKind dev = DeviceKind::cpu) {
  static float dummy;
  TensorView v(&dummy, DType::f32, {rows, cols});
  v.device = dev;
  return v;
}

TEST(RowTiles, Heuristic) {
  EXPECT_EQ(rows_per_program(cpu_view(32768, 128), 32768, 128, 128), 4);
  EXPECT_EQ(rows_per_program(cpu_view(32768, 64), 32768, 64, 64), 8);
  EXPECT_EQ(rows_per_program(cpu_view(32768, 7), 32768, 7, 16), 16); // at most 16 rows
  EXPECT_EQ(rows_per_program(cpu_view(1000, 129), 1000, 129, 256), 2);
  EXPECT_EQ(rows_per_program(cpu_view(1000, 300), 1000, 300, 512), 1); // a long row: one each
  EXPECT_EQ(rows_per_program(cpu_view(3, 16), 3, 16, 16), 4);          // 3 rows: one tile of 4
  EXPECT_EQ(rows_per_program(cpu_view(1, 16), 1, 16, 16), 1);
  EXPECT_EQ(rows_per_program(cpu_view(100, 300), 100, 300, 128), 1); // looped rows: one each
  EXPECT_EQ(rows_per_program(cpu_view(32768, 128, DeviceKind::sim), 32768, 128, 128), 1);
}

// A [rows, cols] tensor with `pad` elements after each row and kGuard rows after the last, which
// the op's view does not include (NaN in an output, finite in an input): a store past the last
// row or column of an output shows as a non-NaN there.
constexpr int64_t kGuard = 17;
struct Guarded {
  TestTensor t;
  int64_t rows, cols;
  Guarded(DType dt, int64_t rows, int64_t cols, const std::vector<double>& v, int64_t pad)
      : t(DeviceKind::cpu, dt, {rows + kGuard, cols}, padded(v, rows, cols), pad), rows(rows),
        cols(cols) {}
  static std::vector<double> padded(std::vector<double> v, int64_t rows, int64_t cols) {
    // An input's guard rows hold finite values, so that a row read past the end gives a finite
    // result where its store would show (NaN in, NaN out would hide it).
    if (!v.empty())
      v.resize(size_t((rows + kGuard) * cols), 0.25);
    return v;
  }
  TensorView view() {
    TensorView v = t.view();
    v.shape[0] = rows;
    return v;
  }
  std::vector<double> values() {
    auto all = t.values();
    return {all.begin(), all.begin() + rows * cols};
  }
  bool untouched_outside() {
    auto all = t.values();
    for (size_t i = size_t(rows * cols); i < all.size(); ++i)
      if (!std::isnan(all[i]))
        return false;
    return t.padding_untouched();
  }
};

std::vector<double> softmax_rows_ref(const std::vector<double>& x, int64_t cols, bool log) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r * cols < x.size(); ++r) {
    const double* xr = &x[r * cols];
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < cols; ++c)
      m = std::max(m, xr[c]);
    for (int64_t c = 0; c < cols; ++c)
      s += std::exp(xr[c] - m);
    for (int64_t c = 0; c < cols; ++c)
      y[r * cols + c] = log ? xr[c] - m - std::log(s) : std::exp(xr[c] - m) / s;
  }
  return y;
}

// dx from y and dy: softmax y * (dy - sum(y dy)), log-softmax dy - exp(y) sum(dy).
std::vector<double> softmax_rows_backward_ref(const std::vector<double>& y,
                                              const std::vector<double>& dy, int64_t cols,
                                              bool log) {
  std::vector<double> dx(y.size());
  for (size_t r = 0; r * cols < y.size(); ++r) {
    double total = 0;
    for (int64_t c = 0; c < cols; ++c)
      total += log ? dy[r * cols + c] : y[r * cols + c] * dy[r * cols + c];
    for (int64_t c = 0; c < cols; ++c) {
      size_t i = r * cols + c;
      dx[i] = log ? dy[i] - std::exp(y[i]) * total : y[i] * (dy[i] - total);
    }
  }
  return dx;
}

struct Shape {
  int64_t rows, cols;
};
// Rows that leave the last tile ragged (tiles of 16 x 16, 4 x 128, 2 x 256 and 8 x 64), with
// columns short of and just over a power of two.
const Shape kShapes[] = {{3, 7}, {37, 100}, {19, 129}, {6, 33}};

TEST(ShortRows, SoftmaxRaggedTiles) {
  for (DType t : {DType::f32, DType::bf16})
    for (Shape s : kShapes)
      for (bool log : {false, true}) {
        std::string what = std::string(log ? "log_softmax " : "softmax ") + dtype_name(t) + " " +
                           std::to_string(s.rows) + "x" + std::to_string(s.cols);
        auto x0 = rounded(random_values(size_t(s.rows * s.cols), 31 + uint32_t(s.cols)), t);
        Guarded x(t, s.rows, s.cols, x0, 3), y(t, s.rows, s.cols, {}, 3);
        (log ? ops::log_softmax : ops::softmax)(x.view(), y.view(), {}, nullptr,
                                                std::source_location::current());
        expect_close(y.values(), softmax_rows_ref(x0, s.cols, log), rtol_for(t), what, atol_for(t));
        EXPECT_TRUE(y.untouched_outside()) << what;

        auto y0 = rounded(softmax_rows_ref(x0, s.cols, log), t);
        auto dy0 = rounded(random_values(y0.size(), 41 + uint32_t(s.cols)), t);
        Guarded yt(t, s.rows, s.cols, y0, 2), dy(t, s.rows, s.cols, dy0, 0),
            dx(t, s.rows, s.cols, {}, 1);
        (log ? ops::log_softmax_backward : ops::softmax_backward)(
            yt.view(), dy.view(), dx.view(), {}, nullptr, std::source_location::current());
        // The gradient is a difference of terms of size ~|dy|: an absolute tolerance for bf16.
        expect_close(dx.values(), softmax_rows_backward_ref(y0, dy0, s.cols, log), rtol_for(t),
                     what + " backward", t == DType::bf16 ? 4e-2 : 1e-6);
        EXPECT_TRUE(dx.untouched_outside()) << what << " backward";
      }
}

// Per-row cross-entropy losses, f64: lse - (1 - eps) x[label] - eps mean(x); 0 where ignored.
std::vector<double> cross_entropy_ref(const std::vector<double>& x, const std::vector<int32_t>& l,
                                      int64_t cols, double eps, int64_t ignore) {
  std::vector<double> loss(l.size());
  for (size_t r = 0; r < l.size(); ++r) {
    if (l[r] == ignore)
      continue;
    const double* xr = &x[r * cols];
    double m = -INFINITY, s = 0, sum = 0;
    for (int64_t c = 0; c < cols; ++c)
      m = std::max(m, xr[c]);
    for (int64_t c = 0; c < cols; ++c) {
      s += std::exp(xr[c] - m);
      sum += xr[c];
    }
    loss[r] = m + std::log(s) - (1 - eps) * xr[l[r]] - eps * sum / double(cols);
  }
  return loss;
}

// d(mean or per-row loss)/dx: g * (softmax(x) - eps / C - (1 - eps) [c == label]), 0 where ignored.
std::vector<double> cross_entropy_grad_ref(const std::vector<double>& x,
                                           const std::vector<int32_t>& l, int64_t cols, double eps,
                                           int64_t ignore, const std::vector<double>& g) {
  std::vector<double> dx(x.size(), 0.0);
  for (size_t r = 0; r < l.size(); ++r) {
    if (l[r] == ignore)
      continue;
    auto p = softmax_rows_ref({x.begin() + r * cols, x.begin() + (r + 1) * cols}, cols, false);
    for (int64_t c = 0; c < cols; ++c)
      dx[r * cols + c] = g[r] * (p[c] - eps / double(cols) - (c == l[r] ? 1 - eps : 0.0));
  }
  return dx;
}

TEST(ShortRows, CrossEntropyRaggedTiles) {
  const int64_t ignore = -100;
  for (DType t : {DType::f32, DType::bf16})
    for (Shape s : kShapes)
      for (double eps : {0.0, 0.1}) {
        std::string what = std::string("cross_entropy ") + dtype_name(t) + " " +
                           std::to_string(s.rows) + "x" + std::to_string(s.cols) + " smoothing " +
                           std::to_string(eps);
        auto x0 = rounded(random_values(size_t(s.rows * s.cols), 53 + uint32_t(s.rows)), t);
        std::vector<int32_t> labels(size_t(s.rows));
        int64_t counted = 0;
        for (int64_t r = 0; r < s.rows; ++r) {
          labels[r] = r % 5 == 3 ? int32_t(ignore) : int32_t((r * 7 + 3) % s.cols);
          counted += labels[r] != ignore;
        }
        Guarded x(t, s.rows, s.cols, x0, 2);
        TensorView lv(labels.data(), {s.rows});
        std::vector<float> losses(size_t(s.rows) + kGuard, std::nanf(""));
        float mean = std::nanf("");
        ops::CrossEntropyOptions o{.ignore_index = ignore, .label_smoothing = float(eps)};
        ops::cross_entropy(x.view(), lv, TensorView(losses.data(), {s.rows}),
                           TensorView(&mean, {1}), o);
        auto want = cross_entropy_ref(x0, labels, s.cols, eps, ignore);
        std::vector<double> got(losses.begin(), losses.begin() + s.rows);
        expect_close(got, want, 2e-5, what, 2e-5);
        for (size_t i = size_t(s.rows); i < losses.size(); ++i)
          EXPECT_TRUE(std::isnan(losses[i])) << what << ": losses[" << i << "] written";
        double total = 0;
        for (double v : want)
          total += v;
        if (counted > 0) {
          EXPECT_NEAR(mean, total / double(counted), 2e-5 * (1 + std::abs(total))) << what;
        }

        // Backward of the mean (one dloss) and of reduction none (a dloss per row).
        for (ops::Reduction red : {ops::Reduction::mean, ops::Reduction::none}) {
          auto dl0 = random_values(size_t(s.rows), 61);
          std::vector<float> dloss(dl0.begin(), dl0.end());
          std::vector<double> g(size_t(s.rows));
          for (int64_t r = 0; r < s.rows; ++r)
            g[r] =
                red == ops::Reduction::none ? double(dloss[r]) : double(dloss[0]) / double(counted);
          Guarded dx(t, s.rows, s.cols, {}, 1);
          o.reduction = red;
          TensorView dlv = red == ops::Reduction::none ? TensorView(dloss.data(), {s.rows})
                                                       : TensorView(dloss.data(), {1});
          ops::cross_entropy_backward(x.view(), lv, dlv, dx.view(), o);
          std::string w2 = what + (red == ops::Reduction::none ? " backward none" : " backward");
          if (counted == 0)
            continue;
          expect_close(dx.values(), cross_entropy_grad_ref(x0, labels, s.cols, eps, ignore, g),
                       rtol_for(t), w2, t == DType::bf16 ? 8e-3 : 1e-6);
          EXPECT_TRUE(dx.untouched_outside()) << w2;
        }
      }
}

} // namespace
} // namespace tessel::testing
