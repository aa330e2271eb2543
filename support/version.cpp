// Version strings, filled in by CMake.
#include "tessel/version.h"

namespace tessel {

const char* version() { return TESSEL_VERSION_STRING; }
const char* git_hash() { return TESSEL_GIT_HASH_STRING; }
const char* llvm_version() { return TESSEL_LLVM_VERSION_STRING; }

std::string build_id() {
  return std::string("tessel ") + version() + " (git " + git_hash() + ", LLVM " + llvm_version() +
         ")";
}

} // namespace tessel
