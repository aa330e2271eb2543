// The JIT fallback of AOT bundles (tessel/aot/bundle.h): libtessel_runtime finds this function
// with dlsym(RTLD_DEFAULT) when a bundle has no code for the device's target, and so compiles
// the kernel from the traced tile IR the bundle carries — only in processes that link libtessel,
// since libtessel_runtime itself has no compiler. The IR text round-trips (ir/parser), so the
// disk-cache key is the one the original trace had, and a second process loads it from disk.
// A C function with a versioned name: the two libraries share no C++ types across this seam.
#include "jit/gpu_compiler.h"
#include "tessel/aot/bundle.h"
#include "tessel/codegen/target.h"
#include "tessel/ir/parser.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string_view>
#include <type_traits>

namespace {

char* malloc_copy(std::string_view s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

} // namespace

extern "C" __attribute__((visibility("default"))) int
tessel_aot_jit_compile_v1(const char* ir, size_t ir_size, const char* target, int num_warps,
                          int num_stages, char** cubin, size_t* cubin_size, char** ptx,
                          size_t* ptx_size, long long* shared_bytes) {
  static_assert(std::is_same_v<decltype(&tessel_aot_jit_compile_v1), tessel::aot::JitFallbackFn>,
                "the fallback's signature must be the one libtessel_runtime calls");
  try {
    std::unique_ptr<tessel::ir::Module> module =
        tessel::ir::parse_module(std::string_view(ir, ir_size), "AOT bundle IR");
    tessel::codegen::gpu::CompileOptions options;
    options.num_warps = num_warps;
    options.num_stages = num_stages;
    tessel::jit::GpuCompileResult r = tessel::jit::compile_module_for_gpu(
        *module, tessel::codegen::parse_target(target), options, /*want_ptx=*/true);
    if (!r.kernel.tensor_maps.empty())
      throw tessel::Error("AOT bundles do not build TMA tensor maps (a kernel with tensor "
                          "descriptors on sm_90a); launch it through the JIT");
    *cubin = malloc_copy(r.kernel.cubin);
    *cubin_size = r.kernel.cubin.size();
    *ptx = malloc_copy(r.kernel.ptx);
    *ptx_size = r.kernel.ptx.size();
    *shared_bytes = r.kernel.shared_bytes;
    return 0;
  } catch (const std::exception& e) {
    *cubin = malloc_copy(e.what());
    return 1;
  }
}
