// Private: the compile pipeline of one specialization — trace, verify, look the traced IR up in
// the disk cache, optimise the tile IR, and hand it to a backend — with per-stage timings.
#pragma once

#include "tessel/codegen/cpu.h"
#include "tessel/ir/ir.h"
#include "tessel/jit/kernel.h"
#include "tessel/lang/trace.h"

#include <memory>
#include <span>

namespace tessel::jit {

// Traces `def` for `bindings`; runs the default pass pipeline when `optimize`. Fills the trace and
// pass times of `times` when given.
std::unique_ptr<ir::Module> trace_and_optimize(const lang::KernelDef& def,
                                               std::span<const lang::ParamBinding> bindings,
                                               bool optimize, CompileTimes* times);

struct CpuCompileResult {
  std::unique_ptr<codegen::cpu::CompiledKernel> kernel;
  CompileTimes times;
  KernelSource source = KernelSource::compiled; // disk or compiled
  std::string cache_key;                        // empty when the disk cache was not used
};
// Traces `def`; loads the specialization from the disk cache (jit/disk_cache.h) when an entry for
// the traced IR exists, else optimises, compiles, and stores it there. `checked`: the
// bounds-checked variant (codegen::cpu::CompileOptions::checked), a cache entry of its own.
CpuCompileResult compile_for_cpu(const lang::KernelDef& def,
                                 std::span<const lang::ParamBinding> bindings, bool checked = false,
                                 bool fp_fusion = true, bool debug = false);

// The same for a module already traced (not optimised); `module` is optimised in place unless the
// kernel came from the disk cache. `use_cache` false: compile now and leave the cache alone.
// `options.keep_text`: the compiled kernel also keeps its LLVM IR and assembly (tools).
CpuCompileResult compile_module_for_cpu(ir::Module& module, const std::string& kernel,
                                        bool use_cache = true,
                                        const codegen::cpu::CompileOptions& options = {});

// True when every pass should be followed by the verifier (debug builds, or TESSEL_VERIFY_EACH=1).
bool verify_each_pass();

} // namespace tessel::jit
