// The disk cache under faults: N worker processes, each compiling or loading M kernels through
// one cache directory and checking every output, started again as they end, while a corrupter
// process damages entries (tests/cache/stress_worker.cpp) and this process, the killer, sends
// SIGKILL to random workers at random moments (mid-compile, mid-store, mid-load). Used by the
// bounded ctest (tests/cache/stress_test.cpp) and the longer benchmark (bench/cache:
// tessel_cache_stress), which both report the counts below.
#pragma once

#include "cache/process.h"

#include <cstdint>
#include <string>
#include <vector>

namespace tessel::testing {

struct StressConfig {
  std::string worker;          // the cache_stress_worker executable
  std::string cache_dir;       // TESSEL_CACHE_DIR of every worker
  std::string work_dir;        // for the processes' output files
  int processes = 4;           // workers alive at once
  int kernels = 8;             // specializations per worker (K = 1..kernels)
  double seconds = 20;         // how long new workers are started
  int64_t max_bytes = 0;       // TESSEL_CACHE_MAX_BYTES (0: the default cap)
  bool corrupt = true;         // run the corrupter
  int fault_every_ms = 20;     // its mean time between two faults
  int kill_every_ms = 1000;    // mean time between two SIGKILLs (0: no kills)
  double worker_timeout = 120; // a worker alive longer than this is a hang
  uint32_t seed = 1;
  EnvVars extra_env; // more variables for the workers (e.g. a read-only tier)
};

struct StressCounts {
  int64_t worker_runs = 0; // workers that ran to the end
  int64_t launches = 0;    // launches checked by their output
  int64_t wrong = 0;       // launches whose output was not their kernel's (must be 0)
  int64_t disk_loads = 0, compiled = 0;
  int64_t hits = 0, misses = 0, corrupt_detected = 0, stored = 0, evicted = 0;
  int64_t kills = 0;              // workers SIGKILLed by the killer
  int64_t faults = 0;             // damage done by the corrupter
  std::string fault_detail;       // its counts per kind
  int64_t leftover_temp_dirs = 0; // killed writers' .tmp.* directories left for trimming
  // Every worker that crashed, hung, threw, or exited with an error: what it said.
  std::vector<std::string> failures;
  double seconds = 0; // wall time of the whole run

  std::string summary() const;
};

StressCounts run_stress(const StressConfig& config);

} // namespace tessel::testing
