// nvJitLink, loaded with dlopen at run time (tessel builds and runs without the CUDA toolkit):
// PTX -> cubin in-process, no GPU needed, and the info log parsed into a resource report.
// The prototypes are declared here (nvJitLink.h, CUDA 12/13: the unversioned entry points).
#include "codegen/gpu/cuda_library.h"
#include "tessel/codegen/gpu.h"

#include "tessel/error.h"

#include <fmt/format.h>

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace tessel::codegen::gpu {

namespace {

using Handle = void*;
using CreateFn = int (*)(Handle*, uint32_t, const char**);
using DestroyFn = int (*)(Handle*);
using AddDataFn = int (*)(Handle, int, const void*, size_t, const char*);
using CompleteFn = int (*)(Handle);
using SizeFn = int (*)(Handle, size_t*);
using GetFn = int (*)(Handle, char*);
constexpr int kInputPtx = 2; // NVJITLINK_INPUT_PTX

struct Api {
  CreateFn create;
  DestroyFn destroy;
  AddDataFn add_data;
  CompleteFn complete;
  SizeFn cubin_size;
  GetFn cubin;
  SizeFn error_log_size;
  GetFn error_log;
  SizeFn info_log_size;
  GetFn info_log;
};

Api load_api() {
  std::string tried;
  void* lib = detail::open_first_library(
      detail::cuda_library_candidates("TESSEL_NVJITLINK", "libnvJitLink"), tried);
  if (!lib)
    throw Error(
        fmt::format("nvJitLink (needed to compile PTX to a cubin) was not found: tried {}{}; "
                    "install the CUDA toolkit (12 or later), or set TESSEL_NVJITLINK to "
                    "libnvJitLink.so or CUDA_HOME to the toolkit",
                    tried, std::getenv("TESSEL_NVJITLINK") ? " (from TESSEL_NVJITLINK)" : ""));
  auto sym = [&](const char* name) {
    void* p = dlsym(lib, name);
    if (!p)
      throw Error(fmt::format(
          "nvJitLink lacks `{}`: the library is too old (CUDA 12 or later needed)", name));
    return p;
  };
  Api a;
  a.create = reinterpret_cast<CreateFn>(sym("nvJitLinkCreate"));
  a.destroy = reinterpret_cast<DestroyFn>(sym("nvJitLinkDestroy"));
  a.add_data = reinterpret_cast<AddDataFn>(sym("nvJitLinkAddData"));
  a.complete = reinterpret_cast<CompleteFn>(sym("nvJitLinkComplete"));
  a.cubin_size = reinterpret_cast<SizeFn>(sym("nvJitLinkGetLinkedCubinSize"));
  a.cubin = reinterpret_cast<GetFn>(sym("nvJitLinkGetLinkedCubin"));
  a.error_log_size = reinterpret_cast<SizeFn>(sym("nvJitLinkGetErrorLogSize"));
  a.error_log = reinterpret_cast<GetFn>(sym("nvJitLinkGetErrorLog"));
  a.info_log_size = reinterpret_cast<SizeFn>(sym("nvJitLinkGetInfoLogSize"));
  a.info_log = reinterpret_cast<GetFn>(sym("nvJitLinkGetInfoLog"));
  return a;
}

std::string read_log(const Api& api, Handle h, SizeFn size_fn, GetFn get_fn) {
  size_t n = 0;
  if (size_fn(h, &n) != 0 || n == 0)
    return "";
  std::string s(n, '\0');
  get_fn(h, s.data());
  while (!s.empty() && s.back() == '\0')
    s.pop_back();
  return s;
}

int64_t number_before(const std::string& line, const std::string& unit) {
  size_t at = line.find(unit);
  if (at == std::string::npos)
    return -1;
  size_t end = at;
  while (end > 0 && line[end - 1] == ' ')
    --end;
  size_t begin = end;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(line[begin - 1])))
    --begin;
  if (begin == end)
    return -1;
  return std::stoll(line.substr(begin, end - begin));
}

} // namespace

std::string nvjitlink_path() {
  return detail::cuda_library_candidates("TESSEL_NVJITLINK", "libnvJitLink").front();
}

ResourceReport parse_info_log(const std::string& log, const std::string& kernel_name) {
  ResourceReport r;
  std::istringstream in(log);
  std::string line;
  bool ours = false;
  const std::string quoted = "'" + kernel_name + "'";
  while (std::getline(in, line)) {
    if (line.find("Function properties for ") != std::string::npos ||
        line.find("Compiling entry function") != std::string::npos)
      ours = line.find(quoted) != std::string::npos || line.ends_with("for " + kernel_name) ||
             line.find(" " + kernel_name + "\n") != std::string::npos;
    if (!ours)
      continue;
    if (line.find("stack frame") != std::string::npos) {
      r.stack_bytes = std::max<int64_t>(0, number_before(line, "bytes stack frame"));
      r.spill_stores = std::max<int64_t>(0, number_before(line, "bytes spill stores"));
      r.spill_loads = std::max<int64_t>(0, number_before(line, "bytes spill loads"));
    }
    if (line.find("Used ") != std::string::npos && line.find("registers") != std::string::npos) {
      r.registers = static_cast<int>(std::max<int64_t>(0, number_before(line, "registers")));
      r.static_shared_bytes = std::max<int64_t>(0, number_before(line, "bytes smem"));
      r.const_bytes = std::max<int64_t>(0, number_before(line, "bytes cmem[0]"));
      r.parsed = true;
    }
  }
  return r;
}

void link_cubin(const std::string& ptx, const std::string& kernel_name, const Target& target,
                CompiledKernel& out) {
  link_cubin(ptx, {}, kernel_name, target, out);
}

void link_cubin(const std::string& ptx, std::span<const std::string> more_ptx,
                const std::string& kernel_name, const Target& target, CompiledKernel& out) {
  if (!target.is_nvptx())
    throw Error("nvJitLink compiles only NVPTX targets, not '" + target.name() + "'");
  Api api{};
  try {
    api = load_api(); // dlopen of a loaded library is cheap; env overrides apply per call
  } catch (const Error& e) {
    throw Error("kernel `" + kernel_name + "` for " + target.name() + ": " + e.what());
  }
  std::string arch = target.arch_option();
  const char* options[] = {arch.c_str(), "-verbose", "-lineinfo", "-O3"};
  Handle h = nullptr;
  if (int rc = api.create(&h, 4, options); rc != 0)
    throw Error(fmt::format("nvJitLinkCreate failed ({}) for {}", rc, arch));
  struct Guard {
    const Api& api;
    Handle& h;
    ~Guard() { api.destroy(&h); }
  } guard{api, h};
  std::string name = kernel_name + ".ptx";
  int rc = api.add_data(h, kInputPtx, ptx.data(), ptx.size(), name.c_str());
  for (size_t i = 0; rc == 0 && i < more_ptx.size(); ++i) {
    std::string more = kernel_name + ".extern" + std::to_string(i) + ".ptx";
    rc = api.add_data(h, kInputPtx, more_ptx[i].data(), more_ptx[i].size(), more.c_str());
  }
  if (rc == 0)
    rc = api.complete(h);
  out.info_log = read_log(api, h, api.info_log_size, api.info_log);
  if (rc != 0)
    throw Error(fmt::format("nvJitLink could not compile kernel `{}` for {} (error {}):\n{}",
                            kernel_name, target.name(), rc,
                            read_log(api, h, api.error_log_size, api.error_log)));
  size_t size = 0;
  api.cubin_size(h, &size);
  out.cubin.assign(size, '\0');
  api.cubin(h, out.cubin.data());
  out.resources = parse_info_log(out.info_log, kernel_name);
}

} // namespace tessel::codegen::gpu
