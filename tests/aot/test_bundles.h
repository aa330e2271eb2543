// Where the AOT test bundles are (tests/aot/CMakeLists.txt makes them): beside the test binary
// (tests/aot/bundle*, or ../aot/bundle* from tests/graphs), so a build tree that was moved or
// packed (tools/bundle.sh) still finds them; else the build tree's path compiled in.
#pragma once

#include <filesystem>
#include <string>

namespace tessel::testing {

inline std::string test_bundle(const char* name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (const fs::path& p : {exe.parent_path() / name, exe.parent_path() / ".." / "aot" / name})
    if (!ec && fs::exists(p / "manifest.tsv", ec))
      return p.lexically_normal().string();
  return std::string(TESSEL_TEST_BUNDLE_ROOT) + "/" + name;
}

} // namespace tessel::testing
