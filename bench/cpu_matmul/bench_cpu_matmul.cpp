// ops::matmul on the CPU backend against OpenBLAS's cblas_sgemm, same machine, same run: f32,
// row-major, 1024^3 and 4096 x 4096 x 1024, both on TESSEL_CPU_THREADS / OPENBLAS_NUM_THREADS
// threads (run it with both set to 2 on the 2-core VM). Prints min and median of several runs and
// GFLOP/s, then the ratio of the medians. Also a few tile configs of ops::matmul at 1024^3 (the
// figures choose_config's CPU heuristic came from), and the persistent kernel against the plain one
// (`persistent`).
//
//   OPENBLAS_NUM_THREADS=2 TESSEL_CPU_THREADS=2 build/release/bin/bench_cpu_matmul
//   [configs|persistent]
#include "tessel/tessel.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <time.h>
#include <vector>

namespace ops = tessel::ops;

namespace {

using Clock = std::chrono::steady_clock;

// Wall time, and the process's CPU time (all its threads) over the same call: on the shared
// machine the CPU time counts only the time the work was scheduled, so it moves less with the
// load (it also counts any spinning of idle threads).
struct Times {
  double min_ms, median_ms;
  double cpu_min_ms, cpu_median_ms;
};

double process_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

Times time_runs(int reps, const std::function<void()>& f) {
  f(); // warm-up: compiles (or loads from the kernel cache), faults the pages in
  std::vector<double> t, cpu;
  for (int i = 0; i < reps; ++i) {
    double c0 = process_cpu_ms();
    auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    cpu.push_back(process_cpu_ms() - c0);
  }
  std::sort(t.begin(), t.end());
  std::sort(cpu.begin(), cpu.end());
  return {t.front(), t[t.size() / 2], cpu.front(), cpu[cpu.size() / 2]};
}

std::vector<float> random_floats(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(n);
  for (float& x : v)
    x = d(gen);
  return v;
}

double gflops(int64_t m, int64_t n, int64_t k, double ms) { return 2.0 * m * n * k / ms / 1e6; }

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double scale = 0, d = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, double(std::fabs(b[i])));
    d = std::max(d, double(std::fabs(a[i] - b[i])));
  }
  return d / std::max(scale, 1e-30);
}

void compare(int64_t m, int64_t n, int64_t k, int reps) {
  auto a = random_floats(size_t(m * k), 1), b = random_floats(size_t(k * n), 2);
  std::vector<float> c(size_t(m * n)), ref(size_t(m * n));
  tessel::TensorView av(a.data(), {m, k}), bv(b.data(), {k, n}), cv(c.data(), {m, n});
  Times blas = time_runs(reps, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(n), int(k), 1.0f, a.data(),
                int(k), b.data(), int(n), 0.0f, ref.data(), int(n));
  });
  Times mine = time_runs(reps, [&] { ops::matmul(av, bv, cv); });
  std::printf("%lld x %lld x %lld f32: ops::matmul min %.1f ms median %.1f ms (%.1f GFLOP/s); "
              "cblas_sgemm min %.1f ms median %.1f ms (%.1f GFLOP/s); ratio of medians %.2f; "
              "max |diff| / max |c| %.1e\n",
              (long long)m, (long long)n, (long long)k, mine.min_ms, mine.median_ms,
              gflops(m, n, k, mine.median_ms), blas.min_ms, blas.median_ms,
              gflops(m, n, k, blas.median_ms), blas.median_ms / mine.median_ms,
              max_rel_diff(c, ref));
  std::printf("  process CPU time: ops::matmul min %.1f ms median %.1f ms; cblas_sgemm min %.1f ms "
              "median %.1f ms; ratio of medians %.2f\n",
              mine.cpu_min_ms, mine.cpu_median_ms, blas.cpu_min_ms, blas.cpu_median_ms,
              blas.cpu_median_ms / mine.cpu_median_ms);
}

void configs(int64_t s) {
  auto a = random_floats(size_t(s * s), 1), b = random_floats(size_t(s * s), 2);
  std::vector<float> c(size_t(s * s));
  tessel::TensorView av(a.data(), {s, s}), bv(b.data(), {s, s}), cv(c.data(), {s, s});
  for (ops::MatmulConfig cfg : {ops::MatmulConfig{32, 32, 32}, ops::MatmulConfig{64, 64, 32},
                                ops::MatmulConfig{64, 64, 64}, ops::MatmulConfig{64, 128, 64},
                                ops::MatmulConfig{128, 128, 64}, ops::MatmulConfig{64, 256, 64},
                                ops::MatmulConfig{128, 64, 128}, ops::MatmulConfig{64, 128, 128}}) {
    Times t = time_runs(3, [&] { ops::matmul(av, bv, cv, {.config = cfg}); });
    std::printf("config %d x %d x %d: min %.1f ms median %.1f ms (%.1f GFLOP/s)\n", cfg.block_m,
                cfg.block_n, cfg.block_k, t.min_ms, t.median_ms, gflops(s, s, s, t.median_ms));
  }
}

// MatmulOptions::persistent on the CPU backend: the plain kernel (one program per tile, handed out
// by the thread pool) against the persistent one (one program per worker, looping over its tiles),
// interleaved in one run so that the load is the same for both; min and median of `reps`.
void persistent(int64_t m, int64_t n, int64_t k, int reps) {
  auto a = random_floats(size_t(m * k), 1), b = random_floats(size_t(k * n), 2);
  std::vector<float> c(size_t(m * n)), d(size_t(m * n));
  tessel::TensorView av(a.data(), {m, k}), bv(b.data(), {k, n}), cv(c.data(), {m, n}),
      dv(d.data(), {m, n});
  ops::MatmulOptions on;
  on.persistent = ops::MatmulPersistent::on;
  std::vector<double> plain_ms, persistent_ms;
  for (int i = 0; i < reps + 1; ++i) { // the first of each compiles: dropped
    auto t0 = Clock::now();
    ops::matmul(av, bv, cv);
    auto t1 = Clock::now();
    ops::matmul(av, bv, dv, on);
    auto t2 = Clock::now();
    if (i == 0)
      continue;
    plain_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    persistent_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  std::sort(plain_ms.begin(), plain_ms.end());
  std::sort(persistent_ms.begin(), persistent_ms.end());
  const double plain_med = plain_ms[plain_ms.size() / 2],
               pers_med = persistent_ms[persistent_ms.size() / 2];
  std::printf("%lld x %lld x %lld f32: plain min %.1f ms median %.1f ms; persistent min %.1f ms "
              "median %.1f ms; plain / persistent (medians) %.2f; max |diff| / max |c| %.1e\n",
              (long long)m, (long long)n, (long long)k, plain_ms.front(), plain_med,
              persistent_ms.front(), pers_med, plain_med / pers_med, max_rel_diff(d, c));
}

// The host cost of a user epilogue: each call traces its probe kernel to find the chain's kernels.
void user_epilogue_overhead() {
  const int64_t s = 16;
  auto a = random_floats(size_t(s * s), 1), b = random_floats(size_t(s * s), 2);
  std::vector<float> c(size_t(s * s));
  tessel::TensorView av(a.data(), {s, s}), bv(b.data(), {s, s}), cv(c.data(), {s, s});
  auto twice = ops::epilogue("twice", [](const ops::EpilogueTile& t) { return t.acc * 2.0f; });
  Times plain = time_runs(200, [&] { ops::matmul(av, bv, cv); });
  Times relu = time_runs(200, [&] { ops::matmul(av, bv, cv, {.epilogue = {ops::relu()}}); });
  Times user = time_runs(200, [&] { ops::matmul(av, bv, cv, {.epilogue = {twice}}); });
  std::printf("16^3 call, median: no epilogue %.3f ms, relu %.3f ms, user epilogue %.3f ms\n",
              plain.median_ms, relu.median_ms, user.median_ms);
}

} // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "configs") == 0) {
    configs(1024);
    return 0;
  }
  if (argc > 1 && std::strcmp(argv[1], "persistent") == 0) {
    persistent(1024, 1024, 1024, 7);
    persistent(1000, 700, 300, 9);
    return 0;
  }
  user_epilogue_overhead();
  compare(1024, 1024, 1024, 7);
  compare(4096, 4096, 1024, 3);
  return 0;
}
