// Under ThreadSanitizer without a whole TSan build (that is the `tsan` preset): the thread pool
// that runs CPU launches, driven by several launching threads at once, and the disk cache with
// threads of one process and "other processes" (separate DiskCache objects on the same root)
// storing, looking up, evicting, verifying and clearing the same keys. This binary compiles
// jit/thread_pool.cpp and jit/disk_cache.cpp itself with -fsanitize=thread (tests/cache/
// CMakeLists.txt), so it runs in every ctest. Lookups are checked by content: a hit for key k
// must hold k's files.
#include "cache/process.h"
#include "jit/cache_key.h"
#include "jit/disk_cache.h"
#include "jit/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using tessel::jit::CacheEntry;
using tessel::jit::CacheKey;
using tessel::jit::DiskCache;

// TESSEL_CPU_THREADS=N means N threads run a launch: when the caller helps, it is one of them
// and only N - 1 workers join (before, N workers and the caller: three threads on a 2-core
// machine). Each chunk sleeps, so that every thread let in gets some (and an extra one would
// show).
TEST(TsanThreadPool, CallerHelpingIsOneOfTheThreads) {
  for (unsigned workers : {1u, 2u, 3u})
    for (bool caller_helps : {true, false}) {
      tessel::jit::ThreadPool pool(workers);
      struct Seen {
        std::mutex mutex;
        std::set<std::thread::id> threads;
      } seen;
      auto fn = [](void* ctx, int64_t, int64_t) {
        auto& s = *static_cast<Seen*>(ctx);
        {
          std::lock_guard lock(s.mutex);
          s.threads.insert(std::this_thread::get_id());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      };
      pool.run(48, 1, fn, &seen, caller_helps);
      EXPECT_LE(seen.threads.size(), size_t(workers))
          << workers << " workers, caller helps: " << caller_helps;
      EXPECT_EQ(seen.threads.count(std::this_thread::get_id()), caller_helps ? 1u : 0u);
    }
}

TEST(TsanThreadPool, ConcurrentLaunchersEachSeeEveryIndexOnce) {
  tessel::jit::ThreadPool pool(4);
  constexpr int kCallers = 4, kRuns = 40, kTotal = 5000;
  std::vector<std::thread> callers;
  std::atomic<int> bad{0};
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int run = 0; run < kRuns; ++run) {
        std::vector<int> seen(kTotal, 0); // written by the workers, read after run() returns
        auto fn = [](void* ctx, int64_t begin, int64_t end) {
          auto& v = *static_cast<std::vector<int>*>(ctx);
          for (int64_t i = begin; i < end; ++i)
            ++v[size_t(i)];
        };
        pool.run(kTotal, 1 + (c + run) % 13, fn, &seen, /*caller_helps=*/(run % 2) == 0);
        for (int n : seen)
          bad += n != 1;
      }
    });
  }
  for (std::thread& t : callers)
    t.join();
  EXPECT_EQ(bad.load(), 0);
}

CacheKey key_for(int k) {
  return tessel::jit::make_cache_key("ir of kernel " + std::to_string(k), "cpu test",
                                     "opt_level=3");
}

CacheEntry entry_for(int k) {
  CacheEntry e;
  e.kernel = "tsan_kernel_" + std::to_string(k);
  e.entry = "main";
  e.backend = "cpu";
  e.numbers["k"] = k;
  e.files["object.o"] = std::string(size_t(2000 + 97 * k), char('a' + k));
  return e;
}

TEST(TsanDiskCache, ThreadsAndProcessesOnOneRoot) {
  tessel::testing::TempDir work;
  tessel::jit::CacheConfig config;
  config.root = work.path() + "/cache";
  config.max_bytes = 5 * 2600;                // about five of the eight entries: stores evict
  DiskCache shared(config);                   // one process's cache, used by four threads
  DiskCache other_a(config), other_b(config); // two more "processes"
  constexpr int kKeys = 8, kRounds = 60;
  std::atomic<int> wrong{0}, hits{0};
  auto worker = [&](DiskCache& cache, uint32_t seed) {
    std::mt19937 rng(seed);
    const std::string wanted[] = {"object.o"};
    for (int round = 0; round < kRounds; ++round) {
      int k = int(rng() % kKeys);
      if (auto hit = cache.lookup(key_for(k), wanted)) {
        ++hits;
        wrong += hit->files.at("object.o") != entry_for(k).files.at("object.o") ||
                 hit->numbers.at("k") != k;
      } else {
        cache.store(key_for(k), entry_for(k));
      }
    }
  };
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 4; ++t)
    threads.emplace_back(worker, std::ref(shared), t);
  threads.emplace_back(worker, std::ref(other_a), 100);
  threads.emplace_back(worker, std::ref(other_b), 200);
  threads.emplace_back([&] {
    for (int i = 0; i < 10; ++i) {
      (void)other_a.verify(/*remove_bad=*/false);
      (void)other_b.list();
      if (i == 5)
        (void)other_b.clear();
    }
  });
  for (std::thread& t : threads)
    t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(hits.load(), 0);
  EXPECT_TRUE(shared.verify(/*remove_bad=*/false).empty());
  EXPECT_GT(shared.counters().stored + other_a.counters().stored + other_b.counters().stored, 0);
}

} // namespace
