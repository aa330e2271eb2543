// What autotuning costs on the CPU backend: the per-call overhead of a launch through an
// Autotuner (a key seen before: a table lookup) against the same launch straight on the kernel,
// and the first call of a new key — the heuristic pick, and timing three configs by the wall
// clock (time_on_cpu), which also writes the tuning file. Run `bench_autotune`; figures go in
// bench/RESULTS.md. Tuning files go to a temporary directory.
#include "tessel/tessel.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace tl = tessel::lang;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

tessel::Kernel scale_kernel() {
  return tl::kernel("bench_tune_scale", "out, x, n, BLOCK",
                    [](tl::Ptr out, tl::Ptr x, tl::Int n, tl::Const<int> BLOCK) {
                      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                      auto mask = offs < n;
                      tl::store(out + offs, tl::load(x + offs, mask) * 2.0f, mask);
                    });
}

std::vector<tessel::TuneConfig> configs() {
  return {{{{"BLOCK", 256}}, 1, 1}, {{{"BLOCK", 512}}, 2, 1}, {{{"BLOCK", 1024}}, 4, 2}};
}

tessel::AutotuneOptions options(bool timed) {
  tessel::AutotuneOptions o;
  o.key = {"n"};
  o.grid = [](const tessel::TuneConfig& c, const tessel::TuneContext& t) {
    return tessel::Grid((t.value("n") + c.get("BLOCK") - 1) / c.get("BLOCK"));
  };
  o.time_on_cpu = timed;
  return o;
}

// Median of `reps` runs of f, in microseconds.
template <class F> double median_us(int reps, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    f();
    t.push_back(ms_since(t0) * 1e3);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

} // namespace

int main() {
  std::string dir = (std::filesystem::temp_directory_path() /
                     ("tessel_autotune_bench_" + std::to_string(::getpid())))
                        .string();
  std::filesystem::create_directories(dir);
  ::setenv("TESSEL_TUNING_FILE", (dir + "/tuning.tsv").c_str(), 1);
  const int64_t n = 1000; // one program of 1024: the launch itself is as small as it gets
  std::vector<float> x(size_t(n), 1.0f), out(size_t(n), 0.0f);
  tessel::Kernel direct = scale_kernel();
  direct.launch({1}, {}, out.data(), x.data(), n, 1024);
  tessel::Autotuner tuner(scale_kernel(), configs(), options(false));
  auto t0 = Clock::now();
  tuner.launch({}, out.data(), x.data(), n); // the heuristic pick, and the compile of config 0
  double first_heuristic_ms = ms_since(t0);
  tuner.launch({}, out.data(), x.data(), n);
  const int reps = 20001;
  double direct_us =
      median_us(reps, [&] { direct.launch({1}, {}, out.data(), x.data(), n, 1024); });
  double tuned_us = median_us(reps, [&] { tuner.launch({}, out.data(), x.data(), n); });
  double choose_us = median_us(reps, [&] { (void)tuner.choose({}, out.data(), x.data(), n); });

  tessel::Autotuner timed(scale_kernel(), configs(), options(true));
  t0 = Clock::now();
  timed.launch({}, out.data(), x.data(), n); // compiles and times 3 configs, writes the file
  double first_timed_ms = ms_since(t0);

  std::printf("autotune overhead, CPU backend (median of %d calls, one 1024-element program)\n",
              reps);
  std::printf("  Kernel::launch                      %8.3f us\n", direct_us);
  std::printf("  Autotuner::launch (known key)       %8.3f us  (+%.3f us)\n", tuned_us,
              tuned_us - direct_us);
  std::printf("  Autotuner::choose (known key)       %8.3f us\n", choose_us);
  std::printf("first call of a key\n");
  std::printf("  heuristic pick + compile of 1       %8.1f ms\n", first_heuristic_ms);
  std::printf("  time_on_cpu: 3 configs compiled and timed, file written %8.1f ms\n",
              first_timed_ms);
  std::filesystem::remove_all(dir);
  return 0;
}
