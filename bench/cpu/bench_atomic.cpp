// CPU-backend figures for the atomics: a histogram of 4M i32 indices into 7 bins (every program
// fights over the same cache lines), into 4096 bins, and into distinct addresses (no sharing),
// i32 adds, relaxed and acq_rel; beside a plain C++ loop of std::atomic
// fetch_add on one thread over the same indices. Millions of updates per second, median of 5.
//
//   build/release/bin/bench_atomic       (TESSEL_CPU_THREADS=N for N workers)
#include "tessel/tessel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace tl = tessel::lang;

namespace {

using Clock = std::chrono::steady_clock;

template <class F> double median_ms(int reps, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

const tessel::Kernel& histogram() {
  static const tessel::Kernel k =
      tl::kernel("bench_atomic_histogram", [](tl::Ptr bins, tl::Ptr idx, tl::Int n,
                                              tl::Const<bool> RELAXED, tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto mask = offs < n;
        tl::atomic_add(bins + tl::load(idx + offs, mask), 1, mask,
                       RELAXED ? tl::MemSem::relaxed : tl::MemSem::acq_rel);
      });
  return k;
}

} // namespace

int main() {
  const int64_t n = int64_t(1) << 22, block = 1024;
  std::printf("%-28s %-8s %12s\n", "histogram of 4M indices", "sem", "Mupdates/s");
  for (int64_t bins : {int64_t(7), int64_t(4096), n}) {
    std::mt19937 rng(1);
    std::vector<int32_t> idx(n);
    for (int64_t i = 0; i < n; ++i)
      idx[i] = bins == n ? int32_t(i) : int32_t(rng() % bins);
    for (bool relaxed : {true, false}) {
      std::vector<int32_t> hist(bins, 0);
      histogram().launch({n / block}, {}, hist.data(), idx.data(), int32_t(n), relaxed,
                         int(block)); // compile
      double ms = median_ms(5, [&] {
        histogram().launch({n / block}, {}, hist.data(), idx.data(), int32_t(n), relaxed,
                           int(block));
      });
      std::printf("%-28s %-8s %12.1f\n", (std::to_string(bins) + " bins, tessel").c_str(),
                  relaxed ? "relaxed" : "acq_rel", double(n) / ms / 1e3);
    }
    std::vector<std::atomic<int32_t>> plain(bins);
    double ms = median_ms(5, [&] {
      for (int64_t i = 0; i < n; ++i)
        plain[idx[i]].fetch_add(1, std::memory_order_relaxed);
    });
    std::printf("%-28s %-8s %12.1f\n", (std::to_string(bins) + " bins, C++ 1 thread").c_str(),
                "relaxed", double(n) / ms / 1e3);
  }
  return 0;
}
