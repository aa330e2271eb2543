// Tuning files (jit/autotune_file.h): the format round-trips, a choice made by one process is
// read by the next without timing, a corrupt file or one from another build is ignored with one
// warning and replaced, read-only (shipped) files take precedence over the writable one in their
// order, an entry naming a config the kernel lacks is never used, and concurrent writers in
// separate processes keep every entry.
#include "jit/autotune_file.h"
#include "jit/autotune_kernels.h"
#include "jit/autotune_search.h"
#include "support/scoped_env.h"

#include "cache/process.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace {

using tessel::Autotuner;
using tessel::TuneSource;
using tessel::jit::TuningEntries;
using tessel::jit::TuningEntry;
using tessel::testing::read_text_file;
using tessel::testing::ScopedEnv;
using tessel::testing::TempDir;
using tessel::testing::write_text_file;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

// The line of a tuning file that names tune_scale's config `config` for n in bucket `bucket`.
std::string entry_line(int64_t bucket, const std::string& config) {
  static const std::string cpu = tessel::jit::tune_device_name(tessel::DeviceKind::cpu, 0);
  return "tune_scale\tn=" + std::to_string(bucket) + "\tf32,f32\t" + cpu + "\t" + config +
         "\tshipped by a test\n";
}

std::string header(const std::string& build = tessel::jit::tuning_build_id()) {
  return "tessel-tuning 1\nbuild\t" + build + "\n";
}

struct Files {
  TempDir dir;
  std::string writable = dir.path() + "/tuning.tsv";
  ScopedEnv w{"TESSEL_TUNING_FILE", writable.c_str()};
  ScopedEnv r{"TESSEL_TUNING_READONLY_FILES", nullptr};
};

tessel::TuneChoice choose(const tessel::AutotuneOptions& o, int64_t n) {
  static std::vector<float> x(100000), out(100000);
  Autotuner t(tessel::testing::tune_scale_kernel(), tessel::testing::tune_scale_configs(), o);
  tessel::TuneChoice c = t.choose({}, out.data(), x.data(), n);
  return c;
}

tessel::AutotuneOptions timed() {
  tessel::AutotuneOptions o = tessel::testing::tune_scale_options();
  o.time_on_cpu = true;
  o.repeats = 2;
  return o;
}

TEST(TuningFile, FormatRoundTrips) {
  TuningEntries e;
  TuningEntry a{"matmul",
                "M=256,N=256,K=512",
                "f16,f16,f16",
                "NVIDIA H200",
                "BLOCK_M=128,num_warps=8,num_stages=3",
                "timed 0.1 ms"};
  e[a.id()] = a;
  std::string text = tessel::jit::format_tuning_file(e, "tessel X");
  std::string error;
  std::optional<TuningEntries> back = tessel::jit::parse_tuning_file(text, "tessel X", error);
  ASSERT_TRUE(back) << error;
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ(back->begin()->second.config, a.config);
  EXPECT_EQ(back->begin()->second.device, "NVIDIA H200");
}

TEST(TuningFile, ParseNamesWhatIsWrong) {
  std::string error;
  EXPECT_FALSE(tessel::jit::parse_tuning_file("{\"json\": 1}\n", "b", error));
  EXPECT_NE(error.find("not a tessel tuning file"), std::string::npos) << error;
  EXPECT_FALSE(tessel::jit::parse_tuning_file("tessel-tuning 1\nbuild\tb\nk\tkey\n", "b", error));
  EXPECT_EQ(error, "line 3 has 2 tab-separated fields, an entry has 6");
  EXPECT_FALSE(tessel::jit::parse_tuning_file("tessel-tuning 1\nbuild\told\n", "new", error));
  EXPECT_NE(error.find("written by another tessel build ('old'; this is 'new')"), std::string::npos)
      << error;
  EXPECT_FALSE(tessel::jit::parse_tuning_file("tessel-tuning 1\nk\n", "b", error));
  EXPECT_EQ(error, "line 2 is not the 'build<TAB>...' line");
}

TEST(TuningFile, RoundTripAcrossTwoProcesses) {
  TempDir dir;
  std::string file = dir.path() + "/tuning.tsv";
  tessel::testing::EnvVars env = {{"TESSEL_TUNING_FILE", file},
                                  {"TESSEL_TUNING_READONLY_FILES", ""}};
  tessel::testing::ProcessResult first =
      tessel::testing::run_process({TESSEL_AUTOTUNE_HELPER, "3000"}, env, dir.path());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  tessel::testing::ProcessResult second =
      tessel::testing::run_process({TESSEL_AUTOTUNE_HELPER, "4000"}, env, dir.path());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  // 3000 and 4000 share the bucket 4096: the second process reads the first one's choice.
  ASSERT_NE(first.out.find(" source timed"), std::string::npos) << first.out;
  ASSERT_NE(second.out.find(" source file"), std::string::npos) << second.out;
  EXPECT_EQ(first.out.substr(0, first.out.find(" source")),
            second.out.substr(0, second.out.find(" source")));
  EXPECT_EQ(count(read_text_file(file), "tune_scale\t"), 1u);
}

TEST(TuningFile, CorruptFileIsIgnoredWithOneWarningAndReplaced) {
  Files f;
  write_text_file(f.writable, "\x7f"
                              "ELF garbage\n\n");
  ::testing::internal::CaptureStderr();
  tessel::TuneChoice a = choose(timed(), 100);
  tessel::TuneChoice b = choose(timed(), 1000);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(a.source, TuneSource::timed);
  EXPECT_EQ(b.source, TuneSource::timed);
  EXPECT_EQ(count(err, "tuning file " + f.writable + ": not a tessel tuning file"), 1u) << err;
  std::string text = read_text_file(f.writable);
  EXPECT_TRUE(text.starts_with("tessel-tuning 1\n")) << text;
  EXPECT_EQ(count(text, "tune_scale\t"), 2u) << text;
}

TEST(TuningFile, FileFromAnotherBuildIsIgnored) {
  Files f;
  write_text_file(f.writable, header("tessel 0.0.1 (git 000000000000, LLVM 1.0)") +
                                  entry_line(128, "BLOCK=256,num_warps=4,num_stages=2"));
  ::testing::internal::CaptureStderr();
  tessel::TuneChoice c = choose(tessel::testing::tune_scale_options(), 100);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(c.source, TuneSource::heuristic); // not the stale file's config 2
  EXPECT_EQ(c.index, 0u);
  EXPECT_NE(err.find("tuning file " + f.writable +
                     ": written by another tessel build ('tessel 0.0.1 (git 000000000000, "
                     "LLVM 1.0)'"),
            std::string::npos)
      << err;
}

TEST(TuningFile, WritableFileIsUsedWithoutTiming) {
  Files f;
  write_text_file(f.writable, header() + entry_line(128, "BLOCK=128,num_warps=2,num_stages=1"));
  tessel::TuneChoice c = choose(timed(), 100);
  EXPECT_EQ(c.source, TuneSource::file);
  EXPECT_EQ(c.index, 1u);
}

TEST(TuningFile, ReadOnlyFilesComeFirstInTheirOrder) {
  Files f;
  std::string api = f.dir.path() + "/api.tsv", env = f.dir.path() + "/env.tsv";
  write_text_file(f.writable, header() + entry_line(128, "BLOCK=64,num_warps=1,num_stages=1"));
  write_text_file(env, header() + entry_line(128, "BLOCK=128,num_warps=2,num_stages=1") +
                           entry_line(256, "BLOCK=128,num_warps=2,num_stages=1"));
  write_text_file(api, header() + entry_line(128, "BLOCK=256,num_warps=4,num_stages=2"));
  ScopedEnv ro("TESSEL_TUNING_READONLY_FILES", ("/nonexistent/x.tsv:" + env).c_str());
  tessel::AutotuneOptions o = timed();
  o.readonly_files = {api};
  EXPECT_EQ(choose(o, 100).index, 2u); // the API's file first
  EXPECT_EQ(choose(o, 200).index, 1u); // then TESSEL_TUNING_READONLY_FILES
  o.readonly_files.clear();
  EXPECT_EQ(choose(o, 100).index, 1u); // the environment's before the writable file
  ScopedEnv none("TESSEL_TUNING_READONLY_FILES", nullptr);
  EXPECT_EQ(choose(o, 100).index, 0u); // the writable file last
  EXPECT_EQ(read_text_file(api), header() + entry_line(128, "BLOCK=256,num_warps=4,num_stages=2"))
      << "read-only files are never written";
}

TEST(TuningFile, EntryNamingAnUnknownConfigIsNeverUsed) {
  Files f;
  write_text_file(f.writable, header() + entry_line(128, "BLOCK=512,num_warps=8,num_stages=2"));
  ::testing::internal::CaptureStderr();
  tessel::TuneChoice c = choose(tessel::testing::tune_scale_options(), 100);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(c.source, TuneSource::heuristic);
  EXPECT_NE(err.find("names config BLOCK=512,num_warps=8,num_stages=2, which is not one of the "
                     "kernel's configs; ignored"),
            std::string::npos)
      << err;
}

TEST(TuningFile, ConcurrentWritersKeepEveryEntry) {
  TempDir dir;
  std::string file = dir.path() + "/tuning.tsv";
  tessel::testing::EnvVars env = {{"TESSEL_TUNING_FILE", file},
                                  {"TESSEL_TUNING_READONLY_FILES", ""}};
  const std::vector<std::string> sizes = {"100", "300", "600", "1500", "3000", "6000"};
  std::vector<tessel::testing::Child> children;
  for (const std::string& n : sizes)
    children.push_back(
        tessel::testing::spawn_process({TESSEL_AUTOTUNE_HELPER, n}, env, dir.path()));
  for (const tessel::testing::Child& c : children) {
    tessel::testing::ProcessResult r = tessel::testing::wait_process(c);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(" source timed"), std::string::npos) << r.out;
  }
  std::string text = read_text_file(file);
  std::string error;
  std::optional<TuningEntries> entries =
      tessel::jit::parse_tuning_file(text, tessel::jit::tuning_build_id(), error);
  ASSERT_TRUE(entries) << error;
  EXPECT_EQ(entries->size(), sizes.size()) << text;
  for (const char* bucket : {"n=128\t", "n=512\t", "n=1024\t", "n=2048\t", "n=4096\t", "n=8192\t"})
    EXPECT_NE(text.find(bucket), std::string::npos) << bucket << "\n" << text;
}

} // namespace
