// The CPU speed of issue 14's math functions: y = f(x) over 4M f32, BLOCK 4096, one thread (the
// figure is the per-element cost of f, not of the thread pool), one loop per function: sinh, cosh,
// atan, asin, acos, atan2, hypot, cbrt, log10, exp10. Before codegen/cpu/vector_math.cpp had
// routines for them each was a scalar libm call per element (LLVM's exp10/log10 intrinsics and
// sinhf, atanf, ... calls), which also kept the loop from vectorising; after, straight-line code.
// Only the public API is used, so the same file builds against an older tessel for the "before".
//   build/release/bin/bench_math_functions        (figures in bench/RESULTS.md)
#include "tessel/tessel.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <vector>

namespace {

namespace tl = tessel::lang;

double process_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) * 1e3 + double(t.tv_nsec) * 1e-6;
}

template <class F> tessel::Kernel unary(const char* name, F) {
  return tl::kernel(name, [](tl::Ptr out, tl::Ptr in, tl::Int n, tl::Const<int> BLOCK) {
    auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
    auto mask = offs < n;
    tl::store(out + offs, F{}(tl::load(in + offs, mask)), mask);
  });
}

template <class F> tessel::Kernel binary(const char* name, F) {
  return tl::kernel(name, [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n, tl::Const<int> BLOCK) {
    auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
    auto mask = offs < n;
    tl::store(out + offs, F{}(tl::load(a + offs, mask), tl::load(b + offs, mask)), mask);
  });
}

constexpr int64_t kN = 4 << 20;
constexpr int kBlock = 4096;

// CPU ms per launch: the minimum of 7 after a warm-up launch (which compiles).
template <class Launch> double time_ms(Launch launch) {
  launch();
  double best = 1e30;
  for (int i = 0; i < 7; ++i) {
    double c0 = process_cpu_ms();
    launch();
    best = std::min(best, process_cpu_ms() - c0);
  }
  return best;
}

} // namespace

int main() {
  ::setenv("TESSEL_CACHE_DISABLE", "1", /*overwrite=*/0);
  ::setenv("TESSEL_CPU_THREADS", "1", /*overwrite=*/1);
  std::printf("%s\n== y = f(x), 4M f32, BLOCK 4096, 1 thread; CPU ms per launch, min of 7 ==\n",
              tessel::build_id().c_str());
  std::vector<float> wide(kN), unit(kN), other(kN), positive(kN), y(kN);
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> d(-4, 4), u(-1, 1);
  for (int64_t i = 0; i < kN; ++i) {
    wide[size_t(i)] = d(rng);
    unit[size_t(i)] = u(rng);
    other[size_t(i)] = d(rng);
    positive[size_t(i)] = std::fabs(other[size_t(i)]) + 1e-3f;
  }
  auto report = [](const char* name, double ms) {
    std::printf("%-6s %8.2f ms %7.2f ns/el\n", name, ms, ms * 1e6 / double(kN));
  };
  auto run1 = [&](const char* name, const tessel::Kernel& k, const std::vector<float>& x) {
    report(name, time_ms([&] { k.launch({kN / kBlock}, {}, y.data(), x.data(), kN, kBlock); }));
  };
  auto run2 = [&](const char* name, const tessel::Kernel& k) {
    report(name, time_ms([&] {
             k.launch({kN / kBlock}, {}, y.data(), wide.data(), other.data(), kN, kBlock);
           }));
  };
  run1("sinh", unary("b_sinh", [](const tl::Tensor& v) { return tl::sinh(v); }), wide);
  run1("cosh", unary("b_cosh", [](const tl::Tensor& v) { return tl::cosh(v); }), wide);
  run1("atan", unary("b_atan", [](const tl::Tensor& v) { return tl::atan(v); }), wide);
  run1("asin", unary("b_asin", [](const tl::Tensor& v) { return tl::asin(v); }), unit);
  run1("acos", unary("b_acos", [](const tl::Tensor& v) { return tl::acos(v); }), unit);
  run2("atan2",
       binary("b_atan2", [](const tl::Tensor& a, const tl::Tensor& b) { return tl::atan2(a, b); }));
  run2("hypot",
       binary("b_hypot", [](const tl::Tensor& a, const tl::Tensor& b) { return tl::hypot(a, b); }));
  run1("cbrt", unary("b_cbrt", [](const tl::Tensor& v) { return tl::cbrt(v); }), wide);
  run1("log10", unary("b_log10", [](const tl::Tensor& v) { return tl::log10(v); }), positive);
  run1("exp10", unary("b_exp10", [](const tl::Tensor& v) { return tl::exp10(v); }), wide);
  return 0;
}
