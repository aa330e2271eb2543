// Private to codegen/gpu: NVRTC, loaded with dlopen at run time like nvJitLink (nvjitlink.cpp), so
// tessel builds and runs where the CUDA toolkit is absent; only a kernel that calls a CUDA C++
// function (tl::extern_cuda) needs it, when it is compiled for a GPU.
#pragma once

#include <string>
#include <vector>

namespace tessel::codegen::gpu::detail {

struct NvrtcOutput {
  bool ok = false;
  std::string ptx; // when ok
  std::string log; // NVRTC's program log (errors and warnings)
};

// Compiles CUDA C++ `source` (named `program` in NVRTC's messages) with `options`. Throws
// tessel::Error when NVRTC cannot be loaded (naming the library and the paths tried) or fails
// for a reason other than the program's errors.
NvrtcOutput nvrtc_compile(const std::string& source, const std::string& program,
                          const std::vector<std::string>& options);

// "major.minor" of the NVRTC that nvrtc_compile uses (the cache key includes it). Throws as
// nvrtc_compile does.
std::string nvrtc_version();

} // namespace tessel::codegen::gpu::detail
