// tessel_gpu_bench: tessel::ops::matmul on a real GPU, bf16 and f16, the shapes of
// bench/gpu/peers_matmul.py (4096³, 8192³, M = 16/128/4096 against a 7B model's projections).
// Prints one line per case in peers_matmul.py's format, `tessel dtype M N K median_ms tflops
// rel_err`, so run.sh can put them in one table. Timing: CUDA events around each call, after the
// first call (which compiles or loads the kernel: reported separately as first_call_ms) and a
// warm-up; median of the repeats. Inputs are seeded random values (never zeros), the output is
// poisoned with NaN first, and 512 sampled entries are checked against an f64 dot product.
#include "tessel/ops/matmul.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/runtime/stream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

using namespace tessel;

struct Case {
  int64_t m, n, k;
};

std::vector<Case> cases() {
  std::vector<Case> out = {{4096, 4096, 4096}, {8192, 8192, 8192}};
  const int64_t nk[][2] = {{4096, 4096}, {11008, 4096}, {4096, 11008}};
  for (int64_t m : {16, 128, 4096})
    for (const auto& p : nk)
      out.push_back({m, p[0], p[1]});
  return out;
}

uint16_t to_bits(float v, DType t) { return t == bf16 ? float_to_bfloat16(v) : float_to_half(v); }
float from_bits(uint16_t b, DType t) { return t == bf16 ? bfloat16_to_float(b) : half_to_float(b); }

std::vector<uint16_t> random_matrix(int64_t n, DType t, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<uint16_t> v(static_cast<size_t>(n));
  for (auto& x : v)
    x = to_bits(dist(rng), t);
  return v;
}

// Relative error over sampled entries: sqrt(sum (c - ref)^2 / sum ref^2); NaN if any is NaN.
double sampled_error(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b,
                     const std::vector<uint16_t>& c, const Case& s, DType t, std::mt19937& rng) {
  std::uniform_int_distribution<int64_t> row(0, s.m - 1), col(0, s.n - 1);
  double num = 0, den = 0;
  for (int i = 0; i < 512; ++i) {
    const int64_t r = row(rng), q = col(rng);
    double ref = 0;
    for (int64_t kk = 0; kk < s.k; ++kk)
      ref += double(from_bits(a[r * s.k + kk], t)) * double(from_bits(b[kk * s.n + q], t));
    const double got = from_bits(c[r * s.n + q], t);
    if (std::isnan(got))
      return NAN;
    num += (got - ref) * (got - ref);
    den += ref * ref;
  }
  return std::sqrt(num / den);
}

void run_case(const Case& s, DType t, runtime::Stream& stream) {
  std::mt19937 rng(static_cast<uint32_t>(s.m * 31 + s.n * 7 + s.k));
  const auto ha = random_matrix(s.m * s.k, t, rng), hb = random_matrix(s.k * s.n, t, rng);
  std::vector<uint16_t> hc(static_cast<size_t>(s.m * s.n), to_bits(NAN, t));
  auto da = runtime::DeviceBuffer::allocate(ha.size() * 2);
  auto db = runtime::DeviceBuffer::allocate(hb.size() * 2);
  auto dc = runtime::DeviceBuffer::allocate(hc.size() * 2);
  da.copy_from_host(ha.data(), ha.size() * 2);
  db.copy_from_host(hb.data(), hb.size() * 2);
  dc.copy_from_host(hc.data(), hc.size() * 2);
  const TensorView a = da.view(t, {s.m, s.k}), b = db.view(t, {s.k, s.n}),
                   c = dc.view(t, {s.m, s.n});

  const auto t0 = std::chrono::steady_clock::now();
  ops::matmul(a, b, c, {}, &stream);
  stream.synchronize();
  const double first_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  dc.copy_to_host(hc.data(), hc.size() * 2);
  const double err = sampled_error(ha, hb, hc, s, t, rng);

  const double flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
  const int reps = flops > 1e12 ? 10 : 50;
  for (int i = 0; i < 3; ++i)
    ops::matmul(a, b, c, {}, &stream);
  std::vector<float> ms;
  runtime::Event start, stop;
  for (int i = 0; i < reps; ++i) {
    start.record(stream);
    ops::matmul(a, b, c, {}, &stream);
    stop.record(stream);
    ms.push_back(stop.elapsed_ms_since(start));
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  std::printf("tessel %s %lld %lld %lld %.4f %.1f %.2e first_call_ms=%.1f min_ms=%.4f\n",
              t == bf16 ? "bf16" : "f16", static_cast<long long>(s.m), static_cast<long long>(s.n),
              static_cast<long long>(s.k), median, flops / (median * 1e-3) / 1e12, err, first_ms,
              double(ms.front()));
  std::fflush(stdout);
}

} // namespace

int main() {
  try {
    if (runtime::Device::count() == 0) {
      std::fprintf(stderr, "tessel_gpu_bench: no CUDA GPU\n");
      return 1;
    }
    runtime::Stream stream;
    for (DType t : {bf16, f16})
      for (const Case& s : cases())
        run_case(s, t, stream);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tessel_gpu_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
