// `tessel demo`: every sample on the CPU backend against its plain C++ reference.
#include "samples/reference.h"
#include "tessel/samples/samples.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace tessel::samples {
namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Times the first call (which compiles) and the median of a few later calls.
template <class F> void time_runs(DemoResult& r, F&& launch) {
  double t0 = now_ms();
  launch();
  r.first_ms = now_ms() - t0;
  std::vector<double> times;
  for (int i = 0; i < 5; ++i) {
    double t = now_ms();
    launch();
    times.push_back(now_ms() - t);
  }
  std::sort(times.begin(), times.end());
  r.run_ms = times[times.size() / 2];
}

void poison(std::vector<float>& v) { std::fill(v.begin(), v.end(), std::nanf("")); }

DemoResult run_vector_add() {
  const int64_t n = (1 << 20) + 37; // not a multiple of the block: the mask matters
  auto a = reference::random_floats(size_t(n), 1), b = reference::random_floats(size_t(n), 2);
  std::vector<float> out(static_cast<size_t>(n)), want(static_cast<size_t>(n));
  poison(out);
  const int block = 1024;
  DemoResult r{"vector_add", "out = a + b over " + std::to_string(n) + " f32 elements"};
  time_runs(r, [&] {
    vector_add().launch({(n + block - 1) / block}, {}, out.data(), a.data(), b.data(), n, block);
  });
  reference::vector_add(a, b, want);
  auto e = reference::compare(out, want);
  r.max_abs_error = e.max_abs;
  r.max_rel_error = e.max_rel;
  r.tolerance = 0; // one rounding, same as C++
  return r;
}

DemoResult run_softmax() {
  const int64_t rows = 1024, cols = 781;
  auto x = reference::random_floats(size_t(rows * cols), 3, -4, 4);
  std::vector<float> out(x.size()), want(x.size());
  poison(out);
  DemoResult r{"softmax", "row-wise softmax over " + std::to_string(rows) + " rows x " +
                              std::to_string(cols) + " columns, f32"};
  const int block = int(next_power_of_two(cols));
  time_runs(r, [&] { softmax().launch({rows}, {}, out.data(), x.data(), cols, cols, block); });
  reference::softmax(x, want, rows, cols);
  auto e = reference::compare(out, want);
  r.max_abs_error = e.max_abs;
  r.max_rel_error = e.max_rel;
  r.tolerance = 1e-6;
  return r;
}

DemoResult run_layer_norm() {
  const int64_t rows = 512, cols = 1000;
  const float eps = 1e-5f;
  auto x = reference::random_floats(size_t(rows * cols), 4, -2, 2);
  auto w = reference::random_floats(size_t(cols), 5, 0.5, 1.5);
  auto b = reference::random_floats(size_t(cols), 6);
  std::vector<float> y(x.size()), want(x.size());
  poison(y);
  DemoResult r{"layer_norm", "layer norm (mean, variance, normalize, affine) over " +
                                 std::to_string(rows) + " rows x " + std::to_string(cols) +
                                 " columns, f32"};
  const int block = int(next_power_of_two(cols));
  time_runs(r, [&] {
    layer_norm().launch({rows}, {}, y.data(), x.data(), w.data(), b.data(), cols, cols, eps, block);
  });
  reference::layer_norm(x, w, b, want, rows, cols, eps);
  auto e = reference::compare(y, want);
  r.max_abs_error = e.max_abs;
  r.max_rel_error = e.max_rel;
  r.tolerance = 1e-4;
  return r;
}

DemoResult run_matmul() {
  const int64_t m = 200, n = 136, k = 300; // no multiple of any tile: every edge is masked
  auto a = reference::random_floats(size_t(m * k), 7),
       b = reference::random_floats(size_t(k * n), 8);
  std::vector<float> c(static_cast<size_t>(m * n)), want(static_cast<size_t>(m * n));
  poison(c);
  TensorView va(a.data(), {m, k}), vb(b.data(), {k, n}), vc(c.data(), {m, n});
  TuneChoice chosen;
  DemoResult r{"matmul", ""};
  time_runs(r, [&] {
    TuneChoice c = launch_matmul(va, vb, vc);
    if (!chosen.config) // the first call's: how the config was chosen, not "memory"
      chosen = c;
  });
  r.what = "C = A @ B with " + std::to_string(m) + "x" + std::to_string(k) + " times " +
           std::to_string(k) + "x" + std::to_string(n) +
           ", f32 accumulation, autotuned: " + chosen.config->to_string() + " (" +
           tune_source_name(chosen.source) + ")";
  reference::matmul(a, b, want, m, n, k);
  auto e = reference::compare(c, want);
  r.max_abs_error = e.max_abs;
  r.max_rel_error = e.max_rel;
  r.tolerance = 1e-4;
  return r;
}

} // namespace

const std::vector<DemoSample>& demo_samples() {
  static const std::vector<DemoSample> all = {
      {"vector_add", run_vector_add},
      {"softmax", run_softmax},
      {"layer_norm", run_layer_norm},
      {"matmul", run_matmul},
  };
  return all;
}

} // namespace tessel::samples
