// The bad-input campaign through processes (docs/reliability.md, "Bad input"): `tessel` command
// lines with bad flags, values and kernel names; environment variables with junk values; tuning
// files and AOT bundles that are garbage or from elsewhere. Each row runs one process and checks
// how it ended (an error: a non-zero exit; a warning: exit 0, the work done) and that its
// stderr names the flag, variable or file.
#include "cache/process.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace tessel::testing {
namespace {

enum class Outcome {
  error,   // exits non-zero, stderr says why
  warning, // exits 0 having done the work, stderr warns
};

struct ProcessRow {
  std::string api;  // "tessel compile", "TESSEL_CPU_THREADS", ...
  std::string name; // gtest name suffix
  std::string tool; // "tessel", "helper" (bad_input_helper), "autotune" (autotune_helper)
  std::vector<std::string> args;
  EnvVars env;
  Outcome outcome;
  std::vector<std::string> fragments; // in stderr
};

// Files the rows point at, made once under one temporary directory: "@garbage" in an argument or
// a value is replaced by the path of a file of junk ("@junk": another), "@dir" by a directory,
// "@file" by a regular file of a few bytes, "@badbundle" by a bundle directory whose manifest is
// junk.
const std::string& scratch() {
  static TempDir dir;
  static bool made = [] {
    write_text_file(dir.path() + "/garbage", "\x01\x02not a tuning file\n\tat\tall\n");
    // The writable tuning file's row has its own: the autotuner replaces a bad one it warned of.
    write_text_file(dir.path() + "/junk", "tessel-tuning 7\n");
    std::filesystem::create_directory(dir.path() + "/dir");
    write_text_file(dir.path() + "/file", "abc");
    std::filesystem::create_directory(dir.path() + "/badbundle");
    write_text_file(dir.path() + "/badbundle/manifest.tsv", "tessel-aot-bundle\tx\n");
    std::filesystem::create_directory(dir.path() + "/manifestdir");
    std::filesystem::create_directory(dir.path() + "/manifestdir/manifest.tsv");
    return true;
  }();
  (void)made;
  return dir.path();
}

std::string expand(std::string s) {
  for (const char* name : {"@garbage", "@junk", "@dir", "@file", "@badbundle", "@manifestdir"}) {
    size_t at = s.find(name);
    if (at != std::string::npos)
      s.replace(at, std::string(name).size(), scratch() + "/" + (name + 1));
  }
  return s;
}

std::vector<ProcessRow> cli_rows() {
  const Outcome E = Outcome::error;
  return {
      {"tessel",
       "UnknownCommand",
       "tessel",
       {"frobnicate"},
       {},
       E,
       {"unknown command 'frobnicate'"}},
      {"tessel compile",
       "UnknownKernel",
       "tessel",
       {"compile", "no_such_kernel"},
       {},
       E,
       {"no_such_kernel"}},
      {"tessel compile",
       "UnknownTarget",
       "tessel",
       {"compile", "vector_add", "--target", "sm_75x"},
       {},
       E,
       {"sm_75x"}},
      {"tessel compile",
       "UnknownEmit",
       "tessel",
       {"compile", "vector_add", "--emit", "bogus"},
       {},
       E,
       {"--emit", "bogus"}},
      {"tessel compile",
       "NumWarpsNotANumber",
       "tessel",
       {"compile", "vector_add", "--target", "sm_80", "--num-warps", "abc"},
       {},
       E,
       {"--num-warps", "abc"}},
      {"tessel compile",
       "NumWarpsNotAPowerOfTwo",
       "tessel",
       {"compile", "vector_add", "--target", "sm_80", "--emit", "ptx", "--num-warps", "3"},
       {},
       E,
       {"num_warps", "3"}},
      {"tessel compile",
       "NumStagesZero",
       "tessel",
       {"compile", "vector_add", "--target", "sm_80", "--emit", "ptx", "--num-stages", "0"},
       {},
       E,
       {"num_stages", "0"}},
      {"tessel compile",
       "DefineOfAnUnknownParameter",
       "tessel",
       {"compile", "vector_add", "--target", "cpu", "--emit", "ir", "-D", "NOSUCH=4"},
       {},
       E,
       {"NOSUCH"}},
      {"tessel compile",
       "DefineWithoutAValue",
       "tessel",
       {"compile", "vector_add", "--target", "cpu", "--emit", "ir", "-D", "BLOCK"},
       {},
       E,
       {"BLOCK"}},
      {"tessel compile",
       "UnknownFlag",
       "tessel",
       {"compile", "vector_add", "--frob"},
       {},
       E,
       {"--frob"}},
      {"tessel compile",
       "FlagWithoutItsValue",
       "tessel",
       {"compile", "vector_add", "--target"},
       {},
       E,
       {"--target"}},
      {"tessel compile",
       "OutputIsADirectory",
       "tessel",
       {"compile", "vector_add", "--target", "cpu", "--emit", "ir", "-o", "@dir"},
       {},
       E,
       {"cannot write '@dir'"}},
      {"tessel cache",
       "UnknownSubcommand",
       "tessel",
       {"cache", "frob"},
       {},
       E,
       {"unknown subcommand 'frob'"}},
      {"tessel aot",
       "UnknownKernel",
       "tessel",
       {"aot", "--kernels", "no_such_kernel", "--targets", "sm_80", "--out", "@dir/aot1"},
       {},
       E,
       {"no_such_kernel"}},
      {"tessel aot",
       "UnknownTarget",
       "tessel",
       {"aot", "--kernels", "vector_add", "--targets", "sm_12", "--out", "@dir/aot2"},
       {},
       E,
       {"sm_12"}},
      {"tessel aot",
       "NoOutputDirectory",
       "tessel",
       {"aot", "--kernels", "vector_add"},
       {},
       E,
       {"--out"}},
      {"tessel embed",
       "UnknownDevice",
       "tessel",
       {"embed", "--device", "tpu", "hello"},
       {},
       E,
       {"tpu"}},
      {"tessel embed",
       "MissingModel",
       "tessel",
       {"embed", "--model", "@dir/none", "hello"},
       {},
       E,
       {"none"}},
      {"tessel prebuild", "NoOutputDirectory", "tessel", {"prebuild"}, {}, E, {"--out"}},
  };
}

std::vector<ProcessRow> environment_rows() {
  const Outcome E = Outcome::error, W = Outcome::warning;
  auto helper = [](const char* mode) { return std::vector<std::string>{mode}; };
  const std::vector<std::string> tune = {"256"};
  // clang-format off
  return {
      {"TESSEL_CACHE_MAX_BYTES", "NotASize", "helper", helper("launch"),
       {{"TESSEL_CACHE_MAX_BYTES", "abc"}}, W, {"TESSEL_CACHE_MAX_BYTES='abc' is not a size"}},
      {"TESSEL_CACHE_MAX_BYTES", "Negative", "helper", helper("launch"),
       {{"TESSEL_CACHE_MAX_BYTES", "-5"}}, W, {"TESSEL_CACHE_MAX_BYTES='-5'"}},
      {"TESSEL_CPU_THREADS", "Negative", "helper", helper("launch"),
       {{"TESSEL_CPU_THREADS", "-1"}}, W, {"TESSEL_CPU_THREADS='-1'"}},
      {"TESSEL_CPU_THREADS", "NotANumber", "helper", helper("launch"),
       {{"TESSEL_CPU_THREADS", "many"}}, W, {"TESSEL_CPU_THREADS='many'"}},
      {"TESSEL_DUMP", "UnknownStage", "helper", helper("launch"),
       {{"TESSEL_DUMP", "nonsense"}}, E, {"TESSEL_DUMP", "nonsense"}},
      {"TESSEL_DUMP_DIR", "IsARegularFile", "helper", helper("launch"),
       {{"TESSEL_DUMP", "ir"}, {"TESSEL_DUMP_DIR", "@file"}}, E,
       {"TESSEL_DUMP_DIR=@file", "cannot create the dump directory"}},
      {"TESSEL_MAX_RECOMPILES", "NotANumber", "helper", helper("recompile"),
       {{"TESSEL_MAX_RECOMPILES", "lots"}}, E, {"TESSEL_MAX_RECOMPILES='lots'"}},
      {"TESSEL_SIM_TARGET", "UnknownTarget", "helper", helper("sim"),
       {{"TESSEL_SIM_TARGET", "sm_12"}}, E, {"TESSEL_SIM_TARGET='sm_12'", "sm_90a"}},
      {"TESSEL_SIM_TARGET", "TheCpu", "helper", helper("sim"),
       {{"TESSEL_SIM_TARGET", "cpu"}}, E, {"TESSEL_SIM_TARGET='cpu' is not a GPU target"}},
      {"TESSEL_DEVICE", "UnknownDevice", "helper", helper("device"),
       {{"TESSEL_DEVICE", "tpu"}}, E, {"TESSEL_DEVICE='tpu' is not a device"}},
      {"TESSEL_CACHE_DIR", "IsARegularFile", "helper", helper("launch"),
       {{"TESSEL_CACHE_DIR", "@file"}}, W, {"'@file' is not usable", "in memory only"}},
      {"TESSEL_TUNING_FILE", "Garbage", "autotune", tune,
       {{"TESSEL_TUNING_FILE", "@junk"}}, W, {"tuning file @junk"}},
      {"TESSEL_TUNING_FILE", "IsADirectory", "autotune", tune,
       {{"TESSEL_TUNING_FILE", "@dir"}}, W, {"@dir"}},
      {"TESSEL_TUNING_READONLY_FILES", "Garbage", "autotune", tune,
       {{"TESSEL_TUNING_READONLY_FILES", "@garbage"}}, W, {"tuning file @garbage"}},
      {"aot::Bundle::load", "NoSuchDirectory", "helper", {"bundle", "@dir/no_bundle"}, {}, E,
       {"@dir/no_bundle"}},
      {"aot::Bundle::load", "GarbageManifest", "helper", {"bundle", "@badbundle"}, {}, E,
       {"AOT bundle manifest @badbundle/manifest.tsv"}},
      {"aot::Bundle::load", "ManifestIsADirectory", "helper", {"bundle", "@manifestdir"}, {}, E,
       {"@manifestdir/manifest.tsv"}},
  };
  // clang-format on
}

std::string tool_path(const std::string& tool) {
  if (tool == "tessel")
    return TESSEL_CLI;
  if (tool == "helper")
    return TESSEL_BAD_INPUT_HELPER;
  return TESSEL_AUTOTUNE_HELPER;
}

void PrintTo(const ProcessRow& row, std::ostream* os) { *os << row.api << " " << row.name; }

class BadInputProcessTest : public ::testing::TestWithParam<ProcessRow> {};

TEST_P(BadInputProcessTest, FailsOrWarnsNamingTheInput) {
  const ProcessRow& row = GetParam();
  TempDir work;
  std::vector<std::string> argv = {tool_path(row.tool)};
  for (const std::string& a : row.args)
    argv.push_back(expand(a));
  EnvVars env;
  bool sets_cache = false;
  for (const auto& [name, value] : row.env) {
    env.emplace_back(name, expand(value));
    sets_cache = sets_cache || name == "TESSEL_CACHE_DIR";
  }
  if (!sets_cache) // a fresh kernel cache per row, so that every row compiles
    env.emplace_back("TESSEL_CACHE_DIR", work.path() + "/cache");
  ProcessResult r = run_process(argv, env, work.path());
  SCOPED_TRACE("stdout: " + r.out + "\nstderr: " + r.err);
  EXPECT_EQ(r.signal, 0) << "killed by a signal";
  if (row.outcome == Outcome::error)
    EXPECT_NE(r.exit_code, 0) << "expected an error exit";
  else
    EXPECT_EQ(r.exit_code, 0) << "expected the work done with a warning";
  for (const std::string& f : row.fragments)
    EXPECT_NE(r.err.find(expand(f)), std::string::npos) << "stderr lacks \"" << expand(f) << "\"";
}

std::string row_name(const ::testing::TestParamInfo<ProcessRow>& info) {
  std::string api;
  for (char c : info.param.api)
    if (std::isalnum(static_cast<unsigned char>(c)))
      api += c;
  return api + "_" + info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Cli, BadInputProcessTest, ::testing::ValuesIn(cli_rows()), row_name);
INSTANTIATE_TEST_SUITE_P(Environment, BadInputProcessTest, ::testing::ValuesIn(environment_rows()),
                         row_name);

TEST(BadInputProcessCounts, RowsPerApi) {
  std::map<std::string, int> counts;
  for (auto rows : {cli_rows(), environment_rows()})
    for (const ProcessRow& r : rows)
      ++counts[r.api];
  for (const auto& [api, n] : counts)
    std::printf("%-40s %d\n", api.c_str(), n);
}

} // namespace
} // namespace tessel::testing
