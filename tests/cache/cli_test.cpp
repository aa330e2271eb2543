// `tessel cache stats|list|verify|clear` and `tessel doctor`, run as the user would run them.
#include "cache/process.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <algorithm>
#include <filesystem>

namespace fs = std::filesystem;
using tessel::testing::Child;
using tessel::testing::EnvVars;
using tessel::testing::ProcessResult;
using tessel::testing::read_text_file;
using tessel::testing::run_process;
using tessel::testing::spawn_process;
using tessel::testing::TempDir;
using tessel::testing::wait_process;
using tessel::testing::write_text_file;

namespace {

const std::string kTessel = tessel::testing::find_tool(TESSEL_CLI_RELATIVE, TESSEL_CLI);
const std::string kHelper = tessel::testing::find_tool("cache_helper", TESSEL_CACHE_HELPER);

ProcessResult tessel_cmd(const TempDir& work, const std::string& cache,
                         std::vector<std::string> args) {
  args.insert(args.begin(), kTessel);
  return run_process(args, {{"TESSEL_CACHE_DIR", cache}, {"TESSEL_CACHE_READONLY_DIRS", ""}},
                     work.path());
}

ProcessResult tessel_with(const TempDir& work, EnvVars env, std::vector<std::string> args) {
  args.insert(args.begin(), kTessel);
  return run_process(args, env, work.path());
}

// The only entry directory of `cache` (the test made one).
std::string only_entry(const std::string& cache) {
  std::string entry;
  for (const auto& e : fs::directory_iterator(cache + "/v1"))
    if (e.path().filename().string()[0] != '.')
      entry = e.path().string();
  return entry;
}

void wait_for_file(const std::string& path) {
  // The deadline only turns a hang into a failure; nothing depends on timing.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (!fs::exists(path) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(path)) << path << " never appeared";
}

TEST(CacheCommand, StatsListVerifyClear) {
  TempDir work;
  std::string cache = work.path() + "/cache";
  for (const char* block : {"64", "128"})
    ASSERT_EQ(run_process({kHelper, "--block", block}, {{"TESSEL_CACHE_DIR", cache}}, work.path())
                  .exit_code,
              0);
  ProcessResult stats = tessel_cmd(work, cache, {"cache", "stats"});
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_NE(stats.out.find("cache directory   " + cache), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("entries           2"), std::string::npos) << stats.out;

  ProcessResult list = tessel_cmd(work, cache, {"cache", "list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_EQ(std::count(list.out.begin(), list.out.end(), '\n'), 3) << list.out; // header + 2
  EXPECT_NE(list.out.find("cache_axpy"), std::string::npos) << list.out;

  ProcessResult ok = tessel_cmd(work, cache, {"cache", "verify"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_NE(ok.out.find("2 entries checked, 0 bad"), std::string::npos) << ok.out;

  std::string entry;
  for (const auto& e : fs::directory_iterator(cache + "/v1"))
    entry = e.path().string();
  std::string object = read_text_file(entry + "/object.o");
  object[10] ^= 0x20;
  write_text_file(entry + "/object.o", object);
  ProcessResult bad = tessel_cmd(work, cache, {"cache", "verify"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.out.find("BAD  " + entry + ": the checksum of object.o"), std::string::npos)
      << bad.out;
  EXPECT_TRUE(fs::exists(entry));
  ProcessResult removed = tessel_cmd(work, cache, {"cache", "verify", "--remove"});
  EXPECT_EQ(removed.exit_code, 1);
  EXPECT_FALSE(fs::exists(entry));
  EXPECT_EQ(tessel_cmd(work, cache, {"cache", "verify"}).exit_code, 0);

  ProcessResult clear = tessel_cmd(work, cache, {"cache", "clear"});
  EXPECT_EQ(clear.exit_code, 0);
  EXPECT_NE(clear.out.find("removed 1 entries"), std::string::npos) << clear.out;
  EXPECT_NE(tessel_cmd(work, cache, {"cache", "list"}).out.find("no entries"), std::string::npos);
  EXPECT_EQ(tessel_cmd(work, cache, {"cache", "frobnicate"}).exit_code, 2);
}

TEST(DoctorCommand, ReportsEveryComponent) {
  TempDir work;
  ProcessResult r = tessel_cmd(work, work.path() + "/cache", {"doctor"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* what :
       {"tessel ", "LLVM ", "CUDA toolkit", "nvJitLink", "CUDA driver", "GPUs", "kernel cache"})
    EXPECT_NE(r.out.find(what), std::string::npos) << "no line for " << what << "\n" << r.out;
  EXPECT_NE(r.out.find(work.path() + "/cache"), std::string::npos) << r.out;
}

TEST(DoctorCommand, SaysWhyThereIsNoDriver) {
  TempDir work;
  ProcessResult r = run_process(
      {kTessel, "doctor"}, {{"TESSEL_CUDA_LIBRARY", "/nonexistent/libcuda.so.1"}}, work.path());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("CUDA driver      not available: cannot load /nonexistent/libcuda.so.1"),
            std::string::npos)
      << r.out;
}

// `tessel compile --emit stats` says where the kernel came from: compiled now, then, in a second
// process, the disk cache.
TEST(CompileCommand, StatsNameTheDiskCacheOnASecondRun) {
  TempDir work;
  std::string cache = work.path() + "/cache";
  std::vector<std::string> args = {"compile", "vector_add", "--target", "sm_80", "--emit", "stats"};
  ProcessResult first = tessel_cmd(work, cache, args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("source: compiled now"), std::string::npos) << first.out;
  ProcessResult second = tessel_cmd(work, cache, args);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("source: disk cache"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("spill stores         0 bytes"), std::string::npos) << second.out;
}

// Issue 18.1: a digit changed inside valid JSON (num_warps 4 -> 8 of a GPU entry) is flagged by
// `verify`, and the next compile reports it and rebuilds instead of serving it.
TEST(CacheCommand, EditedManifestIsBadAndRebuilt) {
  TempDir work;
  std::string cache = work.path() + "/cache";
  EnvVars env = {{"TESSEL_CACHE_DIR", cache}, {"TESSEL_CACHE_READONLY_DIRS", ""}};
  ProcessResult first = run_process({kHelper, "--gpu", "80"}, env, work.path());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::string entry = only_entry(cache);
  std::string manifest = read_text_file(entry + "/manifest.json");
  size_t at = manifest.find("\"num_warps\": 4");
  ASSERT_NE(at, std::string::npos) << manifest;
  manifest.replace(at, 14, "\"num_warps\": 8");
  write_text_file(entry + "/manifest.json", manifest);

  ProcessResult verify = tessel_cmd(work, cache, {"cache", "verify"});
  EXPECT_EQ(verify.exit_code, 1);
  EXPECT_NE(verify.out.find("BAD  " + entry + ": manifest.json does not match its manifest_sha256"),
            std::string::npos)
      << verify.out;
  ProcessResult again = run_process({kHelper, "--gpu", "80"}, env, work.path());
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("gpu source=compiled"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("num_warps=4"), std::string::npos) << again.out;
  EXPECT_NE(again.err.find(entry + " is corrupt (manifest.json does not match"), std::string::npos)
      << again.err;
  EXPECT_EQ(tessel_cmd(work, cache, {"cache", "verify"}).exit_code, 0);
}

// Issue 18.2: `tessel cache clear` while a writer is between files leaves its temporary
// directory alone; the writer then publishes a whole entry.
TEST(CacheCommand, ClearDuringAWriteLeavesTheWriterAlone) {
  TempDir work;
  std::string cache = work.path() + "/cache";
  std::string marker = work.path() + "/paused", resume = work.path() + "/resume";
  Child writer = spawn_process({kHelper},
                               {{"TESSEL_CACHE_DIR", cache},
                                {"TESSEL_CACHE_READONLY_DIRS", ""},
                                {"TESSEL_CACHE_TEST_PAUSE", marker},
                                {"TESSEL_CACHE_TEST_RESUME", resume}},
                               work.path());
  wait_for_file(marker);
  ProcessResult clear = tessel_cmd(work, cache, {"cache", "clear"});
  EXPECT_EQ(clear.exit_code, 0) << clear.err;
  EXPECT_NE(clear.out.find("removed 0 entries"), std::string::npos) << clear.out;
  write_text_file(resume, "");
  ProcessResult written = wait_process(writer);
  ASSERT_EQ(written.exit_code, 0) << written.err;
  EXPECT_EQ(written.err, "");
  ProcessResult verify = tessel_cmd(work, cache, {"cache", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  EXPECT_NE(verify.out.find("1 entries checked, 0 bad"), std::string::npos) << verify.out;
  ProcessResult warm = run_process({kHelper}, {{"TESSEL_CACHE_DIR", cache}}, work.path());
  EXPECT_NE(warm.out.find("source=disk"), std::string::npos) << warm.out << warm.err;
  EXPECT_EQ(warm.err, "");
}

// Issue 18.3: a stray file at an entry's path is reported by the next run, which caches the key.
TEST(CacheCommand, StrayFileAtAnEntryPathIsReplacedByTheNextRun) {
  TempDir work;
  std::string cache = work.path() + "/cache";
  EnvVars env = {{"TESSEL_CACHE_DIR", cache}, {"TESSEL_CACHE_READONLY_DIRS", ""}};
  ASSERT_EQ(run_process({kHelper}, env, work.path()).exit_code, 0);
  std::string entry = only_entry(cache);
  fs::remove_all(entry);
  write_text_file(entry, "stray");
  ProcessResult next = run_process({kHelper}, env, work.path());
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_NE(next.out.find("source=compiled"), std::string::npos) << next.out;
  EXPECT_NE(next.err.find(entry + " is corrupt (it is not a directory); removed"),
            std::string::npos)
      << next.err;
  ProcessResult warm = run_process({kHelper}, env, work.path());
  EXPECT_NE(warm.out.find("source=disk"), std::string::npos) << warm.out << warm.err;
}

// Issue 18.5: `verify --remove` says which bad entries it left in a read-only tier.
TEST(CacheCommand, VerifyRemoveLeavesReadOnlyTierEntriesAndSaysSo) {
  TempDir work;
  std::string tier = work.path() + "/tier", user = work.path() + "/user";
  ASSERT_EQ(run_process({kHelper}, {{"TESSEL_CACHE_DIR", tier}}, work.path()).exit_code, 0);
  std::string entry = only_entry(tier);
  fs::resize_file(entry + "/object.o", 10);
  ProcessResult r =
      tessel_with(work, {{"TESSEL_CACHE_DIR", user}, {"TESSEL_CACHE_READONLY_DIRS", tier}},
                  {"cache", "verify", "--remove"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("BAD  " + entry + ": file object.o has 10 bytes, the manifest says"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(read-only tier: left in place)"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("(removed)"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(entry));
}

// Issue 18.6: TESSEL_CACHE_MAX_BYTES=0 stores nothing, and stats says so.
TEST(CacheCommand, ZeroCapStoresNothingAndStatsSaySo) {
  TempDir work;
  std::string cache = work.path() + "/cache";
  EnvVars env = {{"TESSEL_CACHE_DIR", cache},
                 {"TESSEL_CACHE_READONLY_DIRS", ""},
                 {"TESSEL_CACHE_MAX_BYTES", "0"}};
  for (int run = 0; run < 2; ++run) {
    ProcessResult r = run_process({kHelper}, env, work.path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("source=compiled"), std::string::npos) << "run " << run << ": " << r.out;
    EXPECT_EQ(r.err, "");
  }
  ProcessResult stats = tessel_with(work, env, {"cache", "stats"});
  EXPECT_NE(stats.out.find("entries           0"), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("size cap          0 B (TESSEL_CACHE_MAX_BYTES=0: nothing is stored"),
            std::string::npos)
      << stats.out;
}

// Issue 18.6: a cap smaller than one entry stores nothing, with one warning.
TEST(CacheCommand, CapSmallerThanAnEntryStoresNothingWithOneWarning) {
  TempDir work;
  std::string cache = work.path() + "/cache";
  ProcessResult r = run_process({kHelper, "--also", "64"},
                                {{"TESSEL_CACHE_DIR", cache},
                                 {"TESSEL_CACHE_READONLY_DIRS", ""},
                                 {"TESSEL_CACHE_MAX_BYTES", "1K"}},
                                work.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  size_t first = r.err.find("larger than TESSEL_CACHE_MAX_BYTES (1024 bytes); not stored");
  EXPECT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("warning", r.err.find("warning") + 1), std::string::npos) << r.err;
  EXPECT_EQ(tessel_cmd(work, cache, {"cache", "list"}).out.find("cache_axpy"), std::string::npos);
}

// Issue 18.6: `tessel compile --emit stats` says which cache a hit came from.
TEST(CompileCommand, StatsNameTheCacheTierOfAHit) {
  TempDir work;
  std::string tier = work.path() + "/tier", user = work.path() + "/user";
  std::vector<std::string> args = {"compile", "vector_add", "--target", "sm_80", "--emit", "stats"};
  ProcessResult build = tessel_cmd(work, tier, args);
  ASSERT_EQ(build.exit_code, 0) << build.err;
  ProcessResult again = tessel_cmd(work, tier, args);
  EXPECT_NE(again.out.find("source: disk cache, user cache (entry "), std::string::npos)
      << again.out;
  ProcessResult from_tier =
      tessel_with(work, {{"TESSEL_CACHE_DIR", user}, {"TESSEL_CACHE_READONLY_DIRS", tier}}, args);
  ASSERT_EQ(from_tier.exit_code, 0) << from_tier.err;
  EXPECT_NE(from_tier.out.find("source: disk cache, read-only tier " + tier + " (entry "),
            std::string::npos)
      << from_tier.out;
}

} // namespace
