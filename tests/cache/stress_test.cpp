// The disk cache under faults (tests/cache/stress.h), bounded for ctest: worker processes compile
// and load kernels through one cache while entries are corrupted, truncated, deleted and
// swapped and workers are SIGKILLed; a file system that fills up (a small tmpfs when this
// process may mount one, and an LD_PRELOAD shim whose write() fails with ENOSPC); a read-only
// cache directory. Every launch is checked by its output; no worker may crash or hang; the cache
// is whole again after one clean run. TESSEL_STRESS_SECONDS changes the length of the main run
// (default 20 s); bench/cache's tessel_cache_stress is the long version.
#include "cache/stress.h"
#include "jit/cache_key.h"
#include "jit/cache_manifest.h"
#include "jit/disk_cache.h"

#include <gtest/gtest.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace fs = std::filesystem;
using tessel::testing::EnvVars;
using tessel::testing::ProcessResult;
using tessel::testing::read_text_file;
using tessel::testing::run_process;
using tessel::testing::run_stress;
using tessel::testing::StressConfig;
using tessel::testing::StressCounts;
using tessel::testing::TempDir;
using tessel::testing::write_text_file;

namespace {

const std::string kWorker = tessel::testing::find_tool("cache_stress_worker", TESSEL_STRESS_WORKER);
const std::string kShim =
    tessel::testing::find_tool("libtessel_enospc_shim.so", TESSEL_ENOSPC_SHIM);
constexpr int kKernels = 8;

double stress_seconds() {
  const char* s = std::getenv("TESSEL_STRESS_SECONDS");
  return s && *s ? std::atof(s) : 20.0;
}

EnvVars worker_env(const std::string& cache, EnvVars extra = {}) {
  EnvVars env = {{"TESSEL_CACHE_DIR", cache},     {"TESSEL_CACHE_READONLY_DIRS", ""},
                 {"TESSEL_CACHE_MAX_BYTES", ""},  {"TESSEL_CACHE_DISABLE", ""},
                 {"TESSEL_CACHE_TEST_PAUSE", ""}, {"TESSEL_DUMP", ""}};
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

ProcessResult run_worker(const TempDir& work, const std::string& cache, EnvVars extra = {},
                         int kernels = kKernels) {
  return run_process({kWorker, "--kernels", std::to_string(kernels), "--seed", "7"},
                     worker_env(cache, std::move(extra)), work.path());
}

int64_t entry_bytes(const std::string& cache) {
  int64_t bytes = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(cache + "/v1", ec))
    if (e.is_regular_file(ec))
      bytes += int64_t(e.file_size(ec));
  return bytes;
}

// What `tessel cache verify` would say about `cache` (an empty list: every entry is whole).
std::vector<tessel::jit::CacheProblem> verify(const std::string& cache) {
  tessel::jit::CacheConfig config;
  config.root = cache;
  return tessel::jit::DiskCache(config).verify(/*remove_bad=*/false);
}

StressConfig base_config(const TempDir& work, const std::string& cache) {
  StressConfig c;
  c.worker = kWorker;
  c.cache_dir = cache;
  c.work_dir = work.path();
  c.kernels = kKernels;
  return c;
}

void expect_clean(const StressCounts& n) {
  std::cout << "stress: " << n.summary() << "\n";
  for (const std::string& f : n.failures)
    ADD_FAILURE() << f;
  EXPECT_EQ(n.wrong, 0) << "a launch ran another kernel's code";
  EXPECT_GT(n.launches, 0);
  EXPECT_EQ(n.launches, n.worker_runs * kKernels);
}

#define EXPECT_RAN(r)                                                                              \
  EXPECT_EQ((r).exit_code, 0) << "stdout: " << (r).out << "\nstderr: " << (r).err

// A tmpfs of `bytes` mounted on `path` for the scope, when this process may mount one.
class Tmpfs {
public:
  Tmpfs(const std::string& path, int64_t bytes) : path_(path) {
    fs::create_directories(path);
    std::string options = "size=" + std::to_string(bytes) + ",mode=0755";
    mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~Tmpfs() {
    if (mounted_)
      (void)::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  bool make_read_only() {
    return ::mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) == 0;
  }

private:
  std::string path_;
  bool mounted_ = false;
};

// The check the stress test relies on can fail: an entry of K=2 that holds K=1's code, with a
// manifest that agrees (no checksum can catch it: only the output can), makes the worker exit 3
// naming the wrong output.
TEST(CacheStress, WorkerCatchesAnotherKernelsCode) {
  TempDir work;
  const std::string cache = work.path() + "/cache";
  auto names = [&] {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(cache + "/v1"))
      out.push_back(e.path().string());
    return out;
  };
  EXPECT_RAN(run_worker(work, cache, {}, 1)); // the entry of K=1
  const std::string k1 = names().at(0);
  EXPECT_RAN(run_worker(work, cache, {}, 2)); // and of K=2
  std::vector<std::string> both = names();
  ASSERT_EQ(both.size(), 2u);
  const std::string k2 = both[0] == k1 ? both[1] : both[0];

  const std::string object = read_text_file(k1 + "/object.o");
  std::string error;
  std::optional<tessel::jit::Manifest> m =
      tessel::jit::manifest_from_json(read_text_file(k2 + "/manifest.json"), error);
  ASSERT_TRUE(m) << error;
  for (tessel::jit::Manifest::File& f : m->files) {
    if (f.name == "object.o") {
      f.bytes = int64_t(object.size());
      f.sha256 = tessel::jit::sha256_hex(object);
    }
  }
  write_text_file(k2 + "/object.o", object);
  write_text_file(k2 + "/manifest.json", tessel::jit::manifest_to_json(*m));
  EXPECT_TRUE(verify(cache).empty()) << "the forged entry should pass every checksum";

  ProcessResult fooled = run_worker(work, cache, {}, 2);
  EXPECT_EQ(fooled.exit_code, 3) << fooled.out << fooled.err;
  EXPECT_NE(fooled.err.find("cache_stress_worker: K=2 wrong at "), std::string::npos) << fooled.err;
  EXPECT_NE(fooled.out.find("wrong=1"), std::string::npos) << fooled.out;
}

TEST(CacheStress, WorkersUnderCorruptionKillsAndEviction) {
  TempDir work;
  const std::string cache = work.path() + "/cache";
  // One clean run gives the size of the M entries (a cap of 40% of it makes workers evict) and
  // how long a worker takes here: a kill every half of that, on average, lets about half of the
  // workers finish, and a fault every twentieth of it keeps the damage per worker the same,
  // under ASan or on a loaded machine as on a quiet one.
  auto begin = std::chrono::steady_clock::now();
  EXPECT_RAN(run_worker(work, cache));
  const double worker_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
  const int64_t all = entry_bytes(cache);
  ASSERT_GT(all, 0);
  StressConfig c = base_config(work, cache);
  c.seconds = stress_seconds();
  c.max_bytes = all * 4 / 10;
  c.kill_every_ms = std::max(100, int(worker_ms / 2));
  c.fault_every_ms = std::max(5, int(worker_ms / 20)); // ~20 faults per worker lifetime
  StressCounts n = run_stress(c);
  expect_clean(n);
  EXPECT_GT(n.faults, 0);
  EXPECT_GT(n.corrupt_detected, 0);
  EXPECT_GT(n.kills, 0);
  // Evictions and disk loads depend on timing (the corrupter removes entries too): reported in
  // the summary, asserted by disk_cache_test and the heal below.
  RecordProperty("summary", n.summary());

  // Whatever the faults left, one clean run heals the cache, and the next loads every kernel.
  ProcessResult heal = run_worker(work, cache);
  EXPECT_RAN(heal);
  EXPECT_TRUE(verify(cache).empty())
      << verify(cache).front().path << ": " << verify(cache).front().what;
  ProcessResult warm = run_worker(work, cache);
  EXPECT_RAN(warm);
  EXPECT_EQ(warm.out.find("disk=" + std::to_string(kKernels) + " compiled=0"),
            warm.out.find("disk="))
      << warm.out;
  EXPECT_EQ(warm.err, "");
}

// The disk fills up under concurrent writers: every launch still right, entries either whole or
// absent, no temporary directories left behind, one warning per process.
void expect_full_disk_is_harmless(const TempDir& work, const std::string& cache, EnvVars extra) {
  StressConfig c = base_config(work, cache);
  c.seconds = 4;
  c.processes = 3;
  c.corrupt = false;
  c.kill_every_ms = 0;
  c.extra_env = extra;
  expect_clean(run_stress(c));
  ProcessResult one = run_worker(work, cache, extra);
  EXPECT_RAN(one);
  EXPECT_NE(one.err.find("No space left on device"), std::string::npos) << one.err;
  EXPECT_NE(one.err.find("caching compiled kernels in memory only"), std::string::npos) << one.err;
  EXPECT_TRUE(verify(cache).empty())
      << verify(cache).front().path << ": " << verify(cache).front().what;
  for (const auto& e : fs::directory_iterator(cache + "/v1"))
    EXPECT_NE(e.path().filename().string().rfind(".tmp.", 0), 0u) << "left behind: " << e.path();
}

TEST(CacheStress, FullTmpfs) {
  TempDir work;
  const std::string cache = work.path() + "/small";
  Tmpfs fs_small(cache, 48 * 1024); // room for about two entries (tmpfs rounds files to pages)
  if (!fs_small.mounted())
    GTEST_SKIP() << "cannot mount a tmpfs here (not root?): FullWriteShim covers the full disk";
  expect_full_disk_is_harmless(work, cache, {});
}

TEST(CacheStress, FullWriteShim) {
  TempDir work;
  const std::string cache = fs::canonical(work.path()).string() + "/cache";
  fs::create_directories(cache + "/v1");
  // Room for part of one entry per process: every process hits ENOSPC mid-entry.
  expect_full_disk_is_harmless(work, cache,
                               {{"LD_PRELOAD", kShim},
                                {"ASAN_OPTIONS", "verify_asan_link_order=0"},
                                {"TESSEL_TEST_ENOSPC_DIR", cache},
                                {"TESSEL_TEST_ENOSPC_BYTES", "3000"}});
}

// A cache directory that cannot be written (a read-only mount; a directory without write
// permission when not root): entries there load, a corrupt one is reported and skipped, the
// rest compile in memory, with one warning.
TEST(CacheStress, ReadOnlyCacheDirectory) {
  TempDir work;
  const std::string cache = work.path() + "/ro";
  Tmpfs mount(cache, 8 << 20);
  const bool root = ::geteuid() == 0;
  if (root && !mount.mounted())
    GTEST_SKIP() << "root, but cannot mount a tmpfs: a read-only directory cannot be made here";
  EXPECT_RAN(run_worker(work, cache, {}, kKernels / 2)); // K = 1..4 on disk
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(cache + "/v1"))
    names.push_back(e.path().string());
  ASSERT_EQ(names.size(), size_t(kKernels / 2));
  std::sort(names.begin(), names.end());
  std::string object = read_text_file(names[0] + "/object.o");
  object[object.size() / 3] ^= 0x10;
  write_text_file(names[0] + "/object.o", object);
  if (root)
    ASSERT_TRUE(mount.make_read_only());
  else
    for (const std::string& p : {cache, cache + "/v1"})
      fs::permissions(p, fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                      fs::perm_options::remove);

  ProcessResult one = run_worker(work, cache);
  EXPECT_RAN(one);
  EXPECT_NE(one.out.find("disk=3 compiled=5"), std::string::npos) << one.out;
  EXPECT_NE(one.err.find("is not usable"), std::string::npos) << one.err;
  EXPECT_NE(one.err.find(names[0] + " is corrupt (the checksum of object.o"), std::string::npos)
      << one.err;
  EXPECT_NE(one.err.find("ignoring it (read-only cache directory)"), std::string::npos) << one.err;

  StressConfig c = base_config(work, cache);
  c.seconds = 4;
  c.processes = 3;
  c.corrupt = false; // nothing can change a read-only directory
  StressCounts n = run_stress(c);
  expect_clean(n);
  EXPECT_EQ(n.stored, 0);
  EXPECT_GT(n.disk_loads, 0);
  EXPECT_EQ(fs::exists(names[0]), true) << "a read-only entry was removed";
}

} // namespace
