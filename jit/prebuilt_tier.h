// Private: the prebuilt read-only cache tier of an installed tessel. `cmake --install` with
// -DTESSEL_PREBUILD_STDLIB=ON runs `tessel prebuild`, which compiles the stdlib's registered
// kernels for sm_80, sm_86, sm_89 and sm_90a into <prefix>/share/tessel/cache (cmake/
// tessel_prebuild.cmake); an installed libtessel finds that directory beside itself, so that a
// program's first ops:: call on a GPU loads a cubin instead of compiling (docs/runtime.md).
#pragma once

#include <string>

namespace tessel::jit {

// <directory of the loaded libtessel>/<TESSEL_LIB_TO_DATA>/tessel/cache when it holds entries
// (a v1/ directory), else "" (a build tree, or an install without the tier). Computed once.
const std::string& installed_tier_dir();

// The read-only tiers to search when TESSEL_CACHE_READONLY_DIRS is unset: the installed tier,
// if any; CacheConfig::from_environment uses it (docs/runtime.md).
std::string default_readonly_dirs();

} // namespace tessel::jit
