// The long run of the cache stress test (tests/cache/stress.h): worker processes compiling and
// loading kernels through one cache while a corrupter damages entries and workers are SIGKILLed,
// under a cap that makes them evict. Prints the counts; exit 1 when any launch was wrong or any
// worker crashed or hung. Figures: docs/reliability.md.
//
//   tessel_cache_stress [--seconds 600] [--processes 4] [--kernels 8] [--kill-every-ms MS]
//                       [--fault-every-ms MS] [--cap-percent 40] [--seed 1]
// --kill-every-ms: the mean time between two SIGKILLs; by default half the time a first, clean
// worker took (so that about half the workers finish).
#include "cache/stress.h"
#include "jit/disk_cache.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace fs = std::filesystem;
using namespace tessel::testing;

int main(int argc, char** argv) {
  StressConfig c;
  c.seconds = 600;
  int cap_percent = 40;
  c.kill_every_ms = -1;  // half a worker's time, measured below
  c.fault_every_ms = -1; // a twentieth of it
  for (int i = 1; i + 1 < argc; i += 2) {
    auto is = [&](const char* flag) { return std::strcmp(argv[i], flag) == 0; };
    int v = std::atoi(argv[i + 1]);
    if (is("--seconds"))
      c.seconds = v;
    else if (is("--processes"))
      c.processes = v;
    else if (is("--kernels"))
      c.kernels = v;
    else if (is("--kill-every-ms"))
      c.kill_every_ms = v;
    else if (is("--fault-every-ms"))
      c.fault_every_ms = v;
    else if (is("--cap-percent"))
      cap_percent = v;
    else if (is("--seed"))
      c.seed = uint32_t(v);
  }
  TempDir work;
  c.worker = find_tool("cache_stress_worker", TESSEL_STRESS_WORKER);
  c.cache_dir = work.path() + "/cache";
  c.work_dir = work.path();
  EnvVars env = {{"TESSEL_CACHE_DIR", c.cache_dir}, {"TESSEL_CACHE_MAX_BYTES", ""}};
  auto begin = std::chrono::steady_clock::now();
  ProcessResult first =
      run_process({c.worker, "--kernels", std::to_string(c.kernels)}, env, work.path());
  const double worker_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
  if (c.kill_every_ms < 0)
    c.kill_every_ms = std::max(100, int(worker_ms / 2));
  if (c.fault_every_ms < 0)
    c.fault_every_ms = std::max(5, int(worker_ms / 20));
  if (first.exit_code != 0) {
    std::fprintf(stderr, "the first worker failed: %s\n", first.err.c_str());
    return 1;
  }
  int64_t all = 0;
  for (const auto& e : fs::recursive_directory_iterator(c.cache_dir + "/v1"))
    if (e.is_regular_file())
      all += int64_t(e.file_size());
  c.max_bytes = all * cap_percent / 100;
  std::printf("%d processes x %d kernels for %.0f s, a kill every ~%d ms, a fault every ~%d ms, "
              "cap %lld of %lld bytes\n",
              c.processes, c.kernels, c.seconds, c.kill_every_ms, c.fault_every_ms,
              (long long)c.max_bytes, (long long)all);
  StressCounts n = run_stress(c);
  std::printf("%s\n", n.summary().c_str());
  for (const std::string& f : n.failures)
    std::printf("FAILURE: %s\n", f.c_str());
  ProcessResult heal =
      run_process({c.worker, "--kernels", std::to_string(c.kernels)}, env, work.path());
  tessel::jit::CacheConfig config;
  config.root = c.cache_dir;
  size_t problems = tessel::jit::DiskCache(config).verify(false).size();
  std::printf("after one clean run: exit %d, %zu bad entries\n", heal.exit_code, problems);
  return n.wrong == 0 && n.failures.empty() && heal.exit_code == 0 && problems == 0 ? 0 : 1;
}
