// Helpers of the GPU codegen tests: compile a registered sample or a DSL kernel for a target, and
// skip when the CUDA toolkit (libdevice, nvJitLink) is absent.
#pragma once

#include "tessel/codegen/gpu.h"
#include "tessel/codegen/transforms.h"
#include "tessel/ir/pass.h"
#include "tessel/samples/registry.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace tessel::testing {

inline bool cuda_toolkit_available() {
  return std::filesystem::exists(codegen::gpu::libdevice_path()) &&
         std::filesystem::exists(codegen::gpu::nvjitlink_path());
}

#define TESSEL_REQUIRE_CUDA_TOOLKIT()                                                              \
  do {                                                                                             \
    if (!::tessel::testing::cuda_toolkit_available())                                              \
      GTEST_SKIP() << "CUDA toolkit (libdevice, nvJitLink) not found";                             \
  } while (0)

inline codegen::gpu::CompiledKernel
compile_sample(const std::string& name, const std::string& target,
               const std::vector<std::string>& defines = {},
               codegen::gpu::Stage until = codegen::gpu::Stage::Cubin, int num_warps = 4) {
  auto module = samples::trace_kernel(samples::find_kernel(name), defines, /*optimize=*/true);
  codegen::gpu::CompileOptions options;
  options.num_warps = num_warps;
  return codegen::gpu::compile(*module->functions.front(), codegen::parse_target(target), options,
                               until);
}

// Traces a DSL kernel with every pointer f32 (or `dtype`) and 16-byte aligned, integers divisible
// by 16, and the given Const values in parameter order.
inline std::unique_ptr<ir::Module> trace_dsl(const Kernel& k, std::vector<int64_t> consts = {},
                                             DType dtype = DType::f32) {
  std::vector<lang::ParamBinding> b;
  size_t next_const = 0;
  for (const lang::ParamSpec& p : k.def().params) {
    lang::ParamBinding pb;
    switch (p.kind) {
    case lang::ParamKind::Ptr:
      pb.dtype = p.dtype_fixed ? p.dtype : dtype;
      pb.divisibility = 16;
      break;
    case lang::ParamKind::Int:
      pb.divisibility = 16;
      break;
    case lang::ParamKind::Float:
      break;
    case lang::ParamKind::Const:
      pb.const_int = next_const < consts.size() ? consts[next_const++] : 0;
      pb.const_float = static_cast<double>(pb.const_int);
      break;
    }
    b.push_back(pb);
  }
  auto module = lang::trace(k.def(), b);
  ir::PassManager pm(/*verify_each=*/true);
  codegen::add_default_pipeline(pm);
  pm.run(*module);
  return module;
}

} // namespace tessel::testing
