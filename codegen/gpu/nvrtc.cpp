// NVRTC, loaded with dlopen at run time (nvrtc.h). The prototypes are declared here (nvrtc.h of
// CUDA 12/13; nvrtcResult is an int, nvrtcProgram an opaque pointer). The search order is
// nvJitLink's: $TESSEL_NVRTC, then $CUDA_HOME, $CUDA_PATH and /usr/local/cuda (lib64/), then the
// dynamic loader's path.
#include "codegen/gpu/nvrtc.h"
#include "codegen/gpu/cuda_library.h"

#include "tessel/codegen/gpu.h"

#include "tessel/error.h"

#include <fmt/format.h>

#include <dlfcn.h>

#include <cstdlib>

namespace tessel::codegen::gpu::detail {

namespace {

using Program = void*;
using CreateFn = int (*)(Program*, const char*, const char*, int, const char* const*,
                         const char* const*);
using DestroyFn = int (*)(Program*);
using CompileFn = int (*)(Program, int, const char* const*);
using SizeFn = int (*)(Program, size_t*);
using GetFn = int (*)(Program, char*);
using VersionFn = int (*)(int*, int*);
using ErrorStringFn = const char* (*)(int);

struct Api {
  CreateFn create;
  DestroyFn destroy;
  CompileFn compile;
  SizeFn log_size;
  GetFn log;
  SizeFn ptx_size;
  GetFn ptx;
  VersionFn version;
  ErrorStringFn error_string;
};

Api load_api() {
  std::string tried;
  void* lib = open_first_library(cuda_library_candidates("TESSEL_NVRTC", "libnvrtc"), tried);
  if (!lib)
    throw Error(fmt::format(
        "NVRTC (libnvrtc, needed to compile the CUDA C++ of tl::extern_cuda) was not found: "
        "tried {}{}; install the CUDA toolkit (12 or later), or set TESSEL_NVRTC to libnvrtc.so "
        "or CUDA_HOME to the toolkit",
        tried, std::getenv("TESSEL_NVRTC") ? " (from TESSEL_NVRTC)" : ""));
  auto sym = [&](const char* name) {
    void* p = dlsym(lib, name);
    if (!p)
      throw Error(
          fmt::format("NVRTC lacks `{}`: the library is too old (CUDA 12 or later needed)", name));
    return p;
  };
  Api a;
  a.create = reinterpret_cast<CreateFn>(sym("nvrtcCreateProgram"));
  a.destroy = reinterpret_cast<DestroyFn>(sym("nvrtcDestroyProgram"));
  a.compile = reinterpret_cast<CompileFn>(sym("nvrtcCompileProgram"));
  a.log_size = reinterpret_cast<SizeFn>(sym("nvrtcGetProgramLogSize"));
  a.log = reinterpret_cast<GetFn>(sym("nvrtcGetProgramLog"));
  a.ptx_size = reinterpret_cast<SizeFn>(sym("nvrtcGetPTXSize"));
  a.ptx = reinterpret_cast<GetFn>(sym("nvrtcGetPTX"));
  a.version = reinterpret_cast<VersionFn>(sym("nvrtcVersion"));
  a.error_string = reinterpret_cast<ErrorStringFn>(sym("nvrtcGetErrorString"));
  return a;
}

std::string read(Program p, SizeFn size_fn, GetFn get_fn) {
  size_t n = 0;
  if (size_fn(p, &n) != 0 || n == 0)
    return "";
  std::string s(n, '\0');
  get_fn(p, s.data());
  while (!s.empty() && s.back() == '\0')
    s.pop_back();
  return s;
}

constexpr int kCompilationError = 6; // NVRTC_ERROR_COMPILATION: the program's own errors

} // namespace

NvrtcOutput nvrtc_compile(const std::string& source, const std::string& program,
                          const std::vector<std::string>& options) {
  const Api api = load_api(); // dlopen of a loaded library is cheap; env overrides apply per call
  Program p = nullptr;
  if (int rc = api.create(&p, source.c_str(), program.c_str(), 0, nullptr, nullptr); rc != 0)
    throw Error(fmt::format("nvrtcCreateProgram failed: {}", api.error_string(rc)));
  struct Guard {
    const Api& api;
    Program& p;
    ~Guard() { api.destroy(&p); }
  } guard{api, p};
  std::vector<const char*> argv;
  for (const std::string& o : options)
    argv.push_back(o.c_str());
  const int rc = api.compile(p, int(argv.size()), argv.data());
  NvrtcOutput out;
  out.log = read(p, api.log_size, api.log);
  if (rc != 0 && rc != kCompilationError)
    throw Error(fmt::format("nvrtcCompileProgram failed: {}\n{}", api.error_string(rc), out.log));
  out.ok = rc == 0;
  if (out.ok)
    out.ptx = read(p, api.ptx_size, api.ptx);
  return out;
}

std::string nvrtc_version() {
  const Api api = load_api();
  int major = 0, minor = 0;
  api.version(&major, &minor);
  return fmt::format("{}.{}", major, minor);
}

} // namespace tessel::codegen::gpu::detail

namespace tessel::codegen::gpu {

std::string nvrtc_identity() {
  try {
    return "nvrtc " + detail::nvrtc_version();
  } catch (const Error&) {
    return "nvrtc absent";
  }
}

} // namespace tessel::codegen::gpu
