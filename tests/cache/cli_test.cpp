// `tessel cache stats|list|verify|clear` and `tessel doctor`, run as the user would run them.
#include "cache/process.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

namespace fs = std::filesystem;
using tessel::testing::EnvVars;
using tessel::testing::ProcessResult;
using tessel::testing::read_text_file;
using tessel::testing::run_process;
using tessel::testing::TempDir;
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
  for (const char* what : {"tessel ", "LLVM ", "CUDA toolkit", "nvJitLink", "CUDA driver", "GPUs",
                           "kernel cache"})
    EXPECT_NE(r.out.find(what), std::string::npos) << "no line for " << what << "\n" << r.out;
  EXPECT_NE(r.out.find(work.path() + "/cache"), std::string::npos) << r.out;
}

TEST(DoctorCommand, SaysWhyThereIsNoDriver) {
  TempDir work;
  ProcessResult r = run_process({kTessel, "doctor"},
                                {{"TESSEL_CUDA_LIBRARY", "/nonexistent/libcuda.so.1"}}, work.path());
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

} // namespace
