#include "codegen/gpu/cuda_library.h"

#include <cstdlib>
#include <dlfcn.h>

namespace tessel::codegen::gpu::detail {

std::vector<std::string> cuda_library_candidates(const char* override_var, const char* stem) {
  if (const char* v = std::getenv(override_var); v && *v)
    return {v};
  std::vector<std::string> roots;
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"})
    if (const char* v = std::getenv(var); v && *v)
      roots.push_back(v);
  roots.push_back("/usr/local/cuda");
  const std::string s = stem;
  std::vector<std::string> out;
  for (const std::string& r : roots)
    for (const char* suffix : {".so", ".so.13", ".so.12"})
      out.push_back(r + "/lib64/" + s + suffix);
  out.push_back(s + ".so.13"); // the dynamic loader's search path
  out.push_back(s + ".so.12");
  return out;
}

void* open_first_library(const std::vector<std::string>& paths, std::string& tried) {
  for (const std::string& path : paths) {
    if (void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL))
      return lib;
    tried += (tried.empty() ? "'" : ", '") + path + "'";
  }
  return nullptr;
}

} // namespace tessel::codegen::gpu::detail
