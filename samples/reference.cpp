// Plain C++ reference implementations and error measures.
#include "samples/reference.h"

#include <cmath>
#include <limits>
#include <random>

namespace tessel::samples::reference {

void vector_add(std::span<const float> a, std::span<const float> b, std::span<float> out) {
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = a[i] + b[i];
}

void softmax(std::span<const float> in, std::span<float> out, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = in.data() + r * cols;
    float* y = out.data() + r * cols;
    double m = -INFINITY;
    for (int64_t c = 0; c < cols; ++c)
      m = std::max(m, double(x[c]));
    double s = 0;
    for (int64_t c = 0; c < cols; ++c)
      s += std::exp(double(x[c]) - m);
    for (int64_t c = 0; c < cols; ++c)
      y[c] = float(std::exp(double(x[c]) - m) / s);
  }
}

void layer_norm(std::span<const float> x, std::span<const float> w, std::span<const float> b,
                std::span<float> y, int64_t rows, int64_t cols, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.data() + r * cols;
    double mean = 0;
    for (int64_t c = 0; c < cols; ++c)
      mean += xr[c];
    mean /= double(cols);
    double var = 0;
    for (int64_t c = 0; c < cols; ++c)
      var += (xr[c] - mean) * (xr[c] - mean);
    var /= double(cols);
    double rstd = 1.0 / std::sqrt(var + eps);
    for (int64_t c = 0; c < cols; ++c)
      y[size_t(r * cols + c)] = float((xr[c] - mean) * rstd * w[size_t(c)] + b[size_t(c)]);
  }
}

void matmul(std::span<const float> a, std::span<const float> b, std::span<float> c, int64_t m,
            int64_t n, int64_t k) {
  std::vector<double> row(static_cast<size_t>(n));
  for (int64_t i = 0; i < m; ++i) {
    std::fill(row.begin(), row.end(), 0.0);
    for (int64_t p = 0; p < k; ++p) {
      double av = a[size_t(i * k + p)];
      for (int64_t j = 0; j < n; ++j)
        row[size_t(j)] += av * b[size_t(p * n + j)];
    }
    for (int64_t j = 0; j < n; ++j)
      c[size_t(i * n + j)] = float(row[size_t(j)]);
  }
}

ErrorStats compare(std::span<const float> got, std::span<const float> want) {
  ErrorStats e;
  for (size_t i = 0; i < got.size(); ++i) {
    double g = got[i], w = want[i];
    if (std::isnan(w) && std::isnan(g))
      continue;
    double abs =
        std::isnan(g) || std::isnan(w) ? std::numeric_limits<double>::infinity() : std::fabs(g - w);
    e.max_abs = std::max(e.max_abs, abs);
    e.max_rel = std::max(e.max_rel, abs / std::max(std::fabs(w), 1e-6));
  }
  return e;
}

std::vector<float> random_floats(size_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v)
    x = dist(rng);
  return v;
}

} // namespace tessel::samples::reference
