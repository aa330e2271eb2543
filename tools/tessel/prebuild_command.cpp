// `tessel prebuild --out DIR [--targets sm_80,sm_86,sm_89,sm_90a] [--jobs N]`: compiles every
// stdlib kernel of the registry (tessel compile --list, the ops) with its registered default
// specialization for each target into DIR, a cache root with the disk cache's layout — what
// `cmake --install` runs with -DTESSEL_PREBUILD_STDLIB=ON to make the read-only tier
// <prefix>/share/tessel/cache (jit/prebuilt_tier.h, docs/runtime.md "The prebuilt tier").
// Compiles run on N threads (default: one per hardware thread); each is Kernel::compile, so an
// entry already in DIR is a hit and a second run costs only the traces.
#include "tessel/jit/compile.h"
#include "tessel/jit/registry.h"
#include "tessel/ops/registry.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

const char* const kUsage =
    "usage: tessel prebuild --out DIR [--targets sm_80,sm_86,sm_89,sm_90a] [--jobs N]\n";

struct Job {
  const tessel::RegisteredKernel* kernel;
  tessel::Target target;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  for (size_t start = 0; start <= s.size();) {
    size_t comma = std::min(s.find(',', start), s.size());
    if (comma > start)
      out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// Runs the jobs on `threads` threads; returns the number that failed (each is printed).
int run_jobs(const std::vector<Job>& jobs, int threads) {
  std::atomic<size_t> next{0};
  std::atomic<int> failed{0}, from_cache{0};
  std::mutex print;
  auto worker = [&] {
    for (size_t i = next++; i < jobs.size(); i = next++) {
      const Job& j = jobs[i];
      try {
        tessel::CompileResult r = j.kernel->kernel().compile(j.target, j.kernel->defaults);
        if (r.source == tessel::KernelSource::disk)
          ++from_cache;
      } catch (const std::exception& e) {
        ++failed;
        std::lock_guard lock(print);
        std::fprintf(stderr, "tessel prebuild: %s for %s: %s\n", j.kernel->name.c_str(),
                     j.target.name().c_str(), e.what());
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back(worker);
  for (std::thread& t : pool)
    t.join();
  std::printf("tessel prebuild: %zu entries (%d already there), %d failed\n", jobs.size(),
              from_cache.load(), failed.load());
  return failed.load();
}

} // namespace

int run_prebuild_command(int argc, char** argv) {
  std::string out;
  std::vector<std::string> targets = {"sm_80", "sm_86", "sm_89", "sm_90a"};
  int threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc)
      throw tessel::Error("tessel prebuild: " + a + " needs a value\n" + kUsage);
    if (a == "--out")
      out = argv[++i];
    else if (a == "--targets")
      targets = split_commas(argv[++i]);
    else if (a == "--jobs")
      threads = std::max(1, std::atoi(argv[++i]));
    else
      throw tessel::Error("tessel prebuild: unknown argument '" + a + "'\n" + kUsage);
  }
  if (out.empty())
    throw tessel::Error(std::string("tessel prebuild needs --out DIR\n") + kUsage);
  // The tier is the cache root of this process, and nothing else is searched, so every entry is
  // written there. (Set before the first compile: the cache reads the environment once.)
  ::setenv("TESSEL_CACHE_DIR", out.c_str(), 1);
  ::setenv("TESSEL_CACHE_MAX_BYTES", "1024G", 1);
  ::unsetenv("TESSEL_CACHE_READONLY_DIRS");
  ::unsetenv("TESSEL_CACHE_DISABLE");

  tessel::ops::register_kernels();
  std::vector<tessel::RegisteredKernel> kernels = tessel::registered_kernels();
  std::vector<Job> jobs;
  int skipped = 0;
  for (const tessel::RegisteredKernel& k : kernels)
    for (const std::string& t : targets) {
      tessel::Target target = tessel::Target::parse(t);
      if (target.is_nvptx() && target.sm() < tessel::ops::min_sm(k.name)) {
        std::printf("tessel prebuild: %s skipped for %s (it needs sm_%d or later)\n",
                    k.name.c_str(), t.c_str(), tessel::ops::min_sm(k.name));
        ++skipped;
        continue;
      }
      jobs.push_back({&k, target});
    }
  auto t0 = std::chrono::steady_clock::now();
  int failed = run_jobs(jobs, threads);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("tessel prebuild: %zu kernels x %zu targets (%d pairs skipped) into %s in %.1f s on "
              "%d threads\n",
              kernels.size(), targets.size(), skipped, out.c_str(), s, threads);
  return failed ? 1 : 0;
}
