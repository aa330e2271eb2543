// The disk cache across real processes (tests/cache/cache_helper.cpp runs one kernel and prints
// where its code came from): a second process loads from disk instead of compiling; a corrupted
// entry is reported and rebuilt; concurrent writers all succeed and leave one whole entry; a
// writer killed with SIGKILL in the middle of an entry leaves nothing a reader would load; a
// cache directory that is a file degrades to memory-only; TESSEL_DUMP writes every stage.
#include "cache/process.h"
#include "tessel/codegen/gpu.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

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

const std::string kHelper = tessel::testing::find_tool("cache_helper", TESSEL_CACHE_HELPER);

EnvVars cache_env(const std::string& dir) {
  return {{"TESSEL_CACHE_DIR", dir},       {"TESSEL_CACHE_READONLY_DIRS", ""},
          {"TESSEL_CACHE_MAX_BYTES", ""},  {"TESSEL_CACHE_DISABLE", ""},
          {"TESSEL_CACHE_TEST_PAUSE", ""}, {"TESSEL_DUMP", ""}};
}

ProcessResult run_helper(const TempDir& work, const std::string& cache_dir, EnvVars extra = {},
                         std::vector<std::string> args = {}) {
  EnvVars env = cache_env(cache_dir);
  env.insert(env.end(), extra.begin(), extra.end());
  std::vector<std::string> argv = {kHelper};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, env, work.path());
}

std::vector<std::string> entries(const std::string& cache_dir, bool hidden = false) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(cache_dir + "/v1", ec)) {
    std::string name = e.path().filename().string();
    if ((name[0] == '.') == hidden)
      out.push_back(name);
  }
  return out;
}

#define EXPECT_RAN(r)                                                                              \
  EXPECT_EQ((r).exit_code, 0) << "stdout: " << (r).out << "\nstderr: " << (r).err

TEST(CrossProcess, SecondProcessLoadsFromDiskWithoutCompiling) {
  TempDir work;
  std::string cache = work.path() + "/cache";
  ProcessResult first = run_helper(work, cache);
  EXPECT_RAN(first);
  EXPECT_EQ(first.out, "source=compiled traces=1 compiles=1 disk_loads=0 compiled_now=1\n");
  ASSERT_EQ(entries(cache).size(), 1u);
  ProcessResult second = run_helper(work, cache);
  EXPECT_RAN(second);
  EXPECT_EQ(second.out, "source=disk traces=1 compiles=1 disk_loads=1 compiled_now=0\n");
  EXPECT_EQ(second.err, "");
  // Another specialization is another entry.
  ProcessResult other = run_helper(work, cache, {}, {"--block", "64"});
  EXPECT_RAN(other);
  EXPECT_EQ(other.out, "source=compiled traces=1 compiles=1 disk_loads=0 compiled_now=1\n");
  EXPECT_EQ(entries(cache).size(), 2u);
}

TEST(CrossProcess, CorruptedEntryIsReportedRebuiltAndNeverLoaded) {
  TempDir work;
  std::string cache = work.path() + "/cache";
  EXPECT_RAN(run_helper(work, cache));
  ASSERT_EQ(entries(cache).size(), 1u);
  std::string entry = cache + "/v1/" + entries(cache)[0];
  std::string object = read_text_file(entry + "/object.o");
  object[object.size() / 2] ^= 0x04; // one bit, in the middle of the code
  write_text_file(entry + "/object.o", object);

  ProcessResult rebuilt = run_helper(work, cache);
  EXPECT_RAN(rebuilt); // the result is checked by the helper
  EXPECT_EQ(rebuilt.out, "source=compiled traces=1 compiles=1 disk_loads=0 compiled_now=1\n");
  EXPECT_NE(rebuilt.err.find("warning: kernel cache entry " + entry + " is corrupt"),
            std::string::npos)
      << rebuilt.err;
  ProcessResult again = run_helper(work, cache);
  EXPECT_RAN(again);
  EXPECT_EQ(again.out, "source=disk traces=1 compiles=1 disk_loads=1 compiled_now=0\n");
  EXPECT_EQ(again.err, "");
}

TEST(CrossProcess, ConcurrentWritersAllSucceedAndLeaveOneWholeEntry) {
  TempDir work;
  std::string cache = work.path() + "/cache";
  std::string go = work.path() + "/go";
  std::vector<Child> children;
  for (int i = 0; i < 6; ++i)
    children.push_back(spawn_process({kHelper, "--wait-for", go}, cache_env(cache), work.path()));
  write_text_file(go, "go");
  int compiled = 0;
  for (const Child& c : children) {
    ProcessResult r = wait_process(c);
    EXPECT_RAN(r);
    EXPECT_EQ(r.err, "");
    compiled += r.out.find("source=compiled") == 0;
  }
  EXPECT_GE(compiled, 1);
  EXPECT_EQ(entries(cache).size(), 1u);
  EXPECT_TRUE(entries(cache, /*hidden=*/true).empty()) << "temporary directories left behind";
  ProcessResult after = run_helper(work, cache);
  EXPECT_RAN(after);
  EXPECT_EQ(after.out, "source=disk traces=1 compiles=1 disk_loads=1 compiled_now=0\n");
}

TEST(CrossProcess, WriterKilledMidEntryLeavesNothingLoadable) {
  TempDir work;
  std::string cache = work.path() + "/cache";
  std::string marker = work.path() + "/paused";
  EnvVars env = cache_env(cache);
  env.push_back({"TESSEL_CACHE_TEST_PAUSE", marker});
  Child writer = spawn_process({kHelper}, env, work.path());
  // The writer creates the marker once the first file of the entry is on disk, then stops. (The
  // deadline only turns a hang into a failure; nothing depends on timing.)
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (!fs::exists(marker) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(marker)) << "the writer never reached the pause point";
  ASSERT_EQ(::kill(writer.pid, SIGKILL), 0);
  ProcessResult killed = wait_process(writer);
  EXPECT_EQ(killed.signal, SIGKILL);
  EXPECT_TRUE(entries(cache).empty()) << "a half-written entry was published";
  EXPECT_EQ(entries(cache, /*hidden=*/true).size(), 1u); // its temporary directory

  ProcessResult next = run_helper(work, cache);
  EXPECT_RAN(next);
  EXPECT_EQ(next.out, "source=compiled traces=1 compiles=1 disk_loads=0 compiled_now=1\n");
  EXPECT_EQ(next.err, "");
  ProcessResult warm = run_helper(work, cache);
  EXPECT_RAN(warm);
  EXPECT_EQ(warm.out, "source=disk traces=1 compiles=1 disk_loads=1 compiled_now=0\n");
}

TEST(CrossProcess, CacheDirectoryThatIsAFileMeansMemoryOnly) {
  TempDir work;
  std::string file = work.path() + "/cache-file";
  write_text_file(file, "not a directory");
  for (int run = 0; run < 2; ++run) {
    ProcessResult r = run_helper(work, file);
    EXPECT_RAN(r);
    EXPECT_EQ(r.out, "source=compiled traces=1 compiles=1 disk_loads=0 compiled_now=1\n");
    EXPECT_NE(r.err.find("warning: kernel cache directory '" + file + "' is not usable"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("warning", r.err.find("warning") + 1), std::string::npos)
        << "more than one warning: " << r.err;
  }
}

TEST(CrossProcess, DisabledCacheCompilesEveryTime) {
  TempDir work;
  std::string cache = work.path() + "/cache";
  for (int run = 0; run < 2; ++run) {
    ProcessResult r = run_helper(work, cache, {{"TESSEL_CACHE_DISABLE", "1"}});
    EXPECT_RAN(r);
    EXPECT_EQ(r.out, "source=compiled traces=1 compiles=1 disk_loads=0 compiled_now=1\n");
  }
  EXPECT_FALSE(fs::exists(cache));
}

TEST(CrossProcess, DumpWritesEveryStageOfACompiledKernel) {
  TempDir work;
  std::string cache = work.path() + "/cache", dumps = work.path() + "/dumps";
  fs::create_directories(dumps);
  ProcessResult r =
      run_helper(work, cache, {{"TESSEL_DUMP", "ir,llvm,asm"}, {"TESSEL_DUMP_DIR", dumps}});
  EXPECT_RAN(r);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dumps))
    names.push_back(e.path().filename().string());
  auto has = [&](const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  EXPECT_TRUE(has("cache_axpy_after_tracing.ir"));
  EXPECT_TRUE(has("cache_axpy.llvm"));
  EXPECT_TRUE(has("cache_axpy.asm"));
  bool after_pass = false;
  for (const std::string& n : names)
    after_pass |= n.rfind("cache_axpy_after_", 0) == 0 && n != "cache_axpy_after_tracing.ir";
  EXPECT_TRUE(after_pass) << "no IR dump after a pass";
  EXPECT_NE(read_text_file(dumps + "/cache_axpy.llvm").find("define"), std::string::npos);
}

TEST(CrossProcess, DumpKeepsEverySpecialization) {
  TempDir work;
  std::string cache = work.path() + "/cache", dumps = work.path() + "/dumps";
  fs::create_directories(dumps);
  ProcessResult r =
      run_helper(work, cache, {{"TESSEL_DUMP", "ir,llvm"}, {"TESSEL_DUMP_DIR", dumps}},
                 {"--block", "64", "--also", "256"});
  EXPECT_RAN(r);
  EXPECT_EQ(r.out, "source=compiled traces=2 compiles=2 disk_loads=0 compiled_now=2\n");
  std::string first = read_text_file(dumps + "/cache_axpy.llvm");
  std::string second = read_text_file(dumps + "/cache_axpy.2.llvm");
  EXPECT_FALSE(first.empty());
  EXPECT_FALSE(second.empty());
  EXPECT_NE(first, second) << "the second specialization overwrote the first";
  EXPECT_TRUE(fs::exists(dumps + "/cache_axpy_after_tracing.2.ir"));
}

TEST(CrossProcess, GpuCubinIsStoredAndLoadedWithoutCompiling) {
  std::error_code ec;
  if (!fs::exists(tessel::codegen::gpu::nvjitlink_path(), ec) ||
      !fs::exists(tessel::codegen::gpu::libdevice_path(), ec))
    GTEST_SKIP() << "the CUDA toolkit's nvJitLink or libdevice is not installed";
  TempDir work;
  std::string cache = work.path() + "/cache";
  ProcessResult first = run_helper(work, cache, {}, {"--gpu", "80"});
  EXPECT_RAN(first);
  ASSERT_EQ(first.out.rfind("gpu source=compiled cubin_bytes=", 0), 0u) << first.out;
  ProcessResult second = run_helper(work, cache, {}, {"--gpu", "80"});
  EXPECT_RAN(second);
  std::string same = first.out;
  same.replace(same.find("compiled"), 8, "disk");
  EXPECT_EQ(second.out, same) << "the loaded cubin and its numbers differ from the compiled ones";
  ASSERT_EQ(entries(cache).size(), 1u);
  std::string entry = cache + "/v1/" + entries(cache)[0];
  EXPECT_TRUE(fs::exists(entry + "/kernel.ptx"));
  std::string manifest = read_text_file(entry + "/manifest.json");
  EXPECT_NE(manifest.find("\"backend\": \"cuda\""), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("nvptx sm_80"), std::string::npos) << manifest;

  // Another SM is another entry; a corrupted cubin is reported and rebuilt.
  EXPECT_RAN(run_helper(work, cache, {}, {"--gpu", "90"}));
  EXPECT_EQ(entries(cache).size(), 2u);
  std::string cubin = read_text_file(entry + "/kernel.cubin");
  cubin[cubin.size() / 2] ^= 1;
  write_text_file(entry + "/kernel.cubin", cubin);
  ProcessResult rebuilt = run_helper(work, cache, {}, {"--gpu", "80"});
  EXPECT_RAN(rebuilt);
  EXPECT_EQ(rebuilt.out, first.out);
  EXPECT_NE(rebuilt.err.find("is corrupt (the checksum of kernel.cubin"), std::string::npos)
      << rebuilt.err;
}

} // namespace
