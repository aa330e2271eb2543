// tessel's version and build id (part of every disk-cache key).
#pragma once

#include <string>

namespace tessel {

const char* version();      // "0.1.0"
const char* git_hash();     // short hash of the build's commit, or "unknown"
const char* llvm_version(); // "19.1.7"
// "tessel 0.1.0 (git abcdef123456, LLVM 19.1.7)"
std::string build_id();

} // namespace tessel
