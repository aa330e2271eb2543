// TESSEL_DUMP / TESSEL_DUMP_DIR as a launch reads them: an unknown word is an error listing the
// valid ones, a missing dump directory is created, and one that cannot be is an error.
#include "support/expect_error.h"
#include "support/host_array.h"
#include "support/scoped_env.h"
#include "tessel/support/dump.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace tl = tessel::lang;
using tessel::DType;
using tessel::testing::expect_error;
using tessel::testing::HostArray;
using tessel::testing::ScopedEnv;

namespace {

tessel::Kernel make_kernel(const std::string& name) {
  return tl::kernel(name, "out, BLOCK", [](tl::Ptr out, tl::Const<int> BLOCK) {
    tl::store(out + tl::arange(0, BLOCK), tl::zeros({BLOCK}, tl::f32));
  });
}

fs::path fresh_dir(const std::string& stem) {
  fs::path dir = fs::temp_directory_path() / (stem + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  return dir;
}

TEST(DumpSettings, TheKindsAreListed) {
  std::vector<std::string> kinds(tessel::support::dump_kinds().begin(),
                                 tessel::support::dump_kinds().end());
  EXPECT_EQ(kinds, (std::vector<std::string>{"ir", "llvm", "asm", "ptx", "recompile", "tune",
                                             "pipeline", "all"}));
}

TEST(DumpSettings, UnknownWordIsAnErrorAtTheFirstLaunch) {
  ScopedEnv dump("TESSEL_DUMP", "bogus");
  auto k = make_kernel("dump_bogus");
  HostArray out(DType::f32, 16);
  expect_error([&] { k.launch({1}, {}, out.arg(), 16); },
               {"TESSEL_DUMP: unknown dump kind 'bogus'",
                "the valid kinds are ir, llvm, asm, ptx, recompile, tune, pipeline, all"});
  EXPECT_EQ(k.stats().traces, 0);
}

TEST(DumpSettings, UnknownWordBesideValidOnes) {
  ScopedEnv dump("TESSEL_DUMP", "ir, recompil");
  expect_error([] { tessel::support::check_dump_settings(); },
               {"unknown dump kind 'recompil'", "recompile"});
}

TEST(DumpSettings, ValidWordsWithSpacesAndEmptyItemsAreAccepted) {
  ScopedEnv dump("TESSEL_DUMP", " recompile , ,ptx,");
  ScopedEnv dir("TESSEL_DUMP_DIR", nullptr);
  EXPECT_TRUE(tessel::support::dump_enabled("recompile"));
  EXPECT_TRUE(tessel::support::dump_enabled("ptx"));
  EXPECT_FALSE(tessel::support::dump_enabled("ir"));
}

TEST(DumpSettings, AllEnablesEveryKind) {
  ScopedEnv dump("TESSEL_DUMP", "all");
  ScopedEnv dir("TESSEL_DUMP_DIR", nullptr);
  for (std::string_view kind : tessel::support::dump_kinds()) {
    if (kind == "all")
      continue;
    EXPECT_TRUE(tessel::support::dump_enabled(kind)) << kind;
  }
}

TEST(DumpSettings, MissingDumpDirIsCreatedWithItsParents) {
  fs::path root = fresh_dir("tessel_dump_mkdir");
  fs::path dir = root / "a" / "b";
  {
    ScopedEnv dump("TESSEL_DUMP", "ir");
    ScopedEnv dump_dir("TESSEL_DUMP_DIR", dir.c_str());
    auto k = make_kernel("dump_mkdir");
    HostArray out(DType::f32, 16);
    out.poison();
    k.launch({1}, {}, out.arg(), 16);
    EXPECT_EQ(out.get(0), 0.0);
  }
  EXPECT_TRUE(fs::is_directory(dir));
  std::ifstream traced(dir / "dump_mkdir_after_tracing.ir");
  std::string first_line;
  std::getline(traced, first_line);
  EXPECT_NE(first_line, "") << "no IR dump in " << dir;
  fs::remove_all(root);
}

TEST(DumpSettings, DumpDirThatCannotBeCreatedIsAnError) {
  fs::path root = fresh_dir("tessel_dump_file");
  fs::create_directories(root);
  fs::path file = root / "a_file";
  std::ofstream(file) << "x";
  std::string dir = (file / "dumps").string();
  ScopedEnv dump("TESSEL_DUMP", "ir");
  ScopedEnv dump_dir("TESSEL_DUMP_DIR", dir.c_str());
  auto k = make_kernel("dump_bad_dir");
  HostArray out(DType::f32, 16);
  expect_error(
      [&] { k.launch({1}, {}, out.arg(), 16); },
      {"TESSEL_DUMP_DIR=" + dir, "cannot create the dump directory", "unset it to dump to stderr"});
  fs::remove_all(root);
}

TEST(DumpSettings, DumpDirIsIgnoredWhenNothingIsDumped) {
  fs::path dir = fresh_dir("tessel_dump_unused");
  ScopedEnv dump("TESSEL_DUMP", nullptr);
  ScopedEnv dump_dir("TESSEL_DUMP_DIR", dir.c_str());
  tessel::support::check_dump_settings();
  EXPECT_FALSE(fs::exists(dir));
}

} // namespace
