// Private: the GPU compile pipeline of one specialization through the disk cache — the traced
// IR's key is looked up; a hit returns the cubin and PTX without running the passes, LLVM or
// nvJitLink; a miss optimises, compiles with codegen/gpu to a cubin, and stores the entry.
// (The CPU pipeline is jit/compiler.h; the launch side is runtime/cuda_module.h.)
#pragma once

#include "tessel/codegen/gpu.h"
#include "tessel/jit/kernel.h"
#include "tessel/lang/trace.h"

#include <span>
#include <string>

namespace tessel::jit {

struct GpuCompileResult {
  // From the disk cache: name, target, num_warps, shared_bytes, cubin, ptx (when asked for) and
  // resources are filled; layouts, llvm_ir and info_log are empty.
  codegen::gpu::CompiledKernel kernel;
  KernelSource source = KernelSource::compiled; // disk or compiled
  std::string cache_key;                        // empty when the disk cache is off
  double trace_ms = 0, cache_ms = 0;            // compile times are in kernel.times
  double passes_ms = 0;                         // the tile-IR pipeline (a miss only)
};

// Traces `def` for `bindings`, then loads the cubin from the disk cache or compiles and stores it.
// `want_ptx`: also read the PTX on a hit (tools; a launch needs only the cubin).
GpuCompileResult compile_for_gpu(const lang::KernelDef& def,
                                 std::span<const lang::ParamBinding> bindings,
                                 const codegen::Target& target,
                                 const codegen::gpu::CompileOptions& options,
                                 bool want_ptx = false);

// The same for a module already traced (not optimised); `module` is optimised in place on a miss.
// `use_cache` false: compile now and leave the disk cache alone.
GpuCompileResult compile_module_for_gpu(ir::Module& module, const codegen::Target& target,
                                        const codegen::gpu::CompileOptions& options,
                                        bool want_ptx = false, bool use_cache = true);

// The target CUDA device `ordinal` runs (defined in jit/kernel.cpp, which launches on it): its own
// SM version where codegen has it, else the closest older one of its major version; sm_90a on an
// sm_90 GPU. Throws tessel::Error naming `kernel` and `where` without CUDA or for an older GPU.
codegen::Target cuda_target(const std::string& kernel, int ordinal, const SourceLoc& where);
// The target the simulated device runs (TESSEL_SIM_TARGET, default sm_80; jit/kernel.cpp). A
// value that is not a GPU target throws tessel::Error naming the variable, `kernel` and `where`.
codegen::Target sim_target(const std::string& kernel, const SourceLoc& where);

} // namespace tessel::jit
