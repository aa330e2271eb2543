// Finding and opening one of CUDA's run-time-loaded libraries (nvJitLink, NVRTC) the same way:
// the override variable, then $CUDA_HOME, $CUDA_PATH and /usr/local/cuda (lib64/), then the
// dynamic loader's path.
#pragma once

#include <string>
#include <vector>

namespace tessel::codegen::gpu::detail {

// The paths to try for `stem` ("libnvJitLink", "libnvrtc"): just $`override_var` when it is set.
std::vector<std::string> cuda_library_candidates(const char* override_var, const char* stem);

// The first of `paths` that dlopen accepts (RTLD_NOW | RTLD_LOCAL), or null; `tried` gets the
// quoted paths it tried, for the caller's error message.
void* open_first_library(const std::vector<std::string>& paths, std::string& tried);

} // namespace tessel::codegen::gpu::detail
