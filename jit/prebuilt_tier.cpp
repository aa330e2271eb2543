// Finding the installed prebuilt tier (prebuilt_tier.h): libtessel's own path from dladdr, then
// the data directory relative to the library directory as GNUInstallDirs laid them out
// (TESSEL_LIB_TO_DATA, e.g. "../share"), so a moved prefix still finds its tier.
#include "jit/prebuilt_tier.h"

#include <dlfcn.h>

#include <filesystem>
#include <system_error>

#ifndef TESSEL_LIB_TO_DATA
#define TESSEL_LIB_TO_DATA "../share"
#endif

namespace tessel::jit {

const std::string& installed_tier_dir() {
  static const std::string dir = [] {
    Dl_info info{};
    if (!::dladdr(reinterpret_cast<void*>(&installed_tier_dir), &info) || !info.dli_fname)
      return std::string();
    std::error_code ec;
    std::filesystem::path lib = std::filesystem::canonical(info.dli_fname, ec);
    if (ec)
      return std::string();
    std::filesystem::path tier = lib.parent_path() / TESSEL_LIB_TO_DATA / "tessel" / "cache";
    if (!std::filesystem::is_directory(tier / "v1", ec))
      return std::string();
    return std::filesystem::weakly_canonical(tier, ec).string();
  }();
  return dir;
}

std::string default_readonly_dirs() { return installed_tier_dir(); }

} // namespace tessel::jit
