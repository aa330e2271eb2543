// Kernel::compile (tessel/jit/compile.h): one specialization compiled without a launch, through
// the same pipeline as launches — trace, the disk cache keyed on the traced IR, the tile-IR
// passes, and the GPU (jit/gpu_compiler.h) or CPU (jit/compiler.h) backend — with every
// intermediate form the caller may want kept in one result.
#include "tessel/jit/compile.h"

#include "jit/compile_signature.h"
#include "jit/compiler.h"
#include "jit/gpu_compiler.h"
#include "support/stopwatch.h"
#include "tessel/codegen/cpu.h"
#include "tessel/codegen/transforms.h"
#include "tessel/ir/pass.h"
#include "tessel/ir/printer.h"

#include <fmt/format.h>

#include <chrono>

namespace tessel {
namespace {

using support::ms_since;

void check_options(const std::string& kernel, const Target& target, const CompileOptions& o) {
  if (!target.is_nvptx()) {
    if (o.until == CompileUntil::ptx)
      throw Error("kernel '" + kernel +
                  "': CompileUntil::ptx needs a GPU target (sm_80 ... "
                  "sm_90a), not '" +
                  target.name() + "'");
    return;
  }
  int w = o.num_warps;
  if (w < 1 || w > 32 || (w & (w - 1)) != 0)
    throw Error(fmt::format("kernel '{}': num_warps must be a power of two from 1 to 32, not {}",
                            kernel, w));
  if (o.num_stages < 1 || o.num_stages > 16)
    throw Error(fmt::format("kernel '{}': num_stages must be between 1 and 16, not {}", kernel,
                            o.num_stages));
}

// Runs the tile-IR pipeline on `module` in place and keeps the result's text.
void optimize_into(ir::Module& module, const CompileOptions& o, CompileResult& r) {
  auto t0 = std::chrono::steady_clock::now();
  ir::PassManager pm(jit::verify_each_pass());
  codegen::add_default_pipeline(pm, {o.fp_fusion, o.debug});
  pm.run(module);
  r.times.passes_ms += ms_since(t0);
  r.optimized_ir = ir::print(module);
}

void take_gpu_kernel(codegen::gpu::CompiledKernel& k, CompileResult& r) {
  r.entry = k.name;
  r.final_ir = std::move(k.layouts);
  r.llvm_ir = std::move(k.llvm_ir);
  r.ptx = std::move(k.ptx);
  r.binary = std::move(k.cubin);
  r.info_log = std::move(k.info_log);
  r.resources = k.resources;
  r.shared_bytes = k.shared_bytes;
  r.num_warps = k.num_warps;
  r.times.layout_ms = k.times.layout_ms;
  r.times.lower_ms = k.times.lower_ms;
  r.times.libdevice_ms = k.times.libdevice_ms;
  r.times.optimize_ms = k.times.optimize_ms;
  r.times.codegen_ms = k.times.ptx_ms;
  r.times.link_ms = k.times.cubin_ms;
}

void compile_gpu(ir::Module& module, const CompileOptions& o, CompileResult& r) {
  codegen::gpu::CompileOptions gpu;
  gpu.num_warps = o.num_warps;
  gpu.num_stages = o.num_stages;
  gpu.line_info = o.line_info;
  gpu.fp_fusion = o.fp_fusion;
  gpu.debug = o.debug;
  gpu.wgmma = o.wgmma;
  ir::PassStats tma_stats; // TMA descriptors, as a launch compiles them (jit/gpu_compiler.cpp)
  codegen::gpu::assign_tensor_maps_pass(r.target).run(module, tma_stats);
  r.tensor_maps = int(codegen::gpu::tensor_map_params(*module.functions.front()).size());
  if (o.until != CompileUntil::binary) {
    optimize_into(module, o, r);
    using codegen::gpu::Stage;
    codegen::gpu::CompiledKernel k =
        codegen::gpu::compile(*module.functions.front(), r.target, gpu,
                              o.until == CompileUntil::ptx ? Stage::Ptx : Stage::Llvm);
    take_gpu_kernel(k, r);
    return;
  }
  jit::GpuCompileResult g = jit::compile_module_for_gpu(
      module, r.target, gpu, /*want_ptx=*/true, /*use_cache=*/o.cache == CacheMode::read_write);
  r.source = g.source;
  r.cache_key = g.cache_key;
  take_gpu_kernel(g.kernel, r);
  r.times.cache_ms = g.cache_ms;
  r.times.passes_ms = g.passes_ms;
  if (g.source == KernelSource::disk)
    optimize_into(module, o, r); // the cache keys the traced IR: optimise it only to show it
  else
    r.optimized_ir = ir::print(module);
}

void compile_cpu(ir::Module& module, const CompileOptions& o, CompileResult& r) {
  codegen::cpu::CompileOptions cpu;
  cpu.keep_text = true;
  cpu.fp_fusion = o.fp_fusion;
  cpu.debug = o.debug;
  cpu.checked = o.debug; // a CPU debug kernel reports its asserts through the BoundsTable
  if (o.until == CompileUntil::llvm) {
    optimize_into(module, o, r);
    std::unique_ptr<codegen::cpu::CompiledKernel> k =
        codegen::cpu::compile(*module.functions.front(), cpu);
    r.llvm_ir = k->llvm_ir();
    r.assembly = k->assembly();
    r.binary = k->object_code();
    r.times.lower_ms = k->times().lower_ms;
    r.times.optimize_ms = k->times().optimize_ms;
    r.times.codegen_ms = k->times().codegen_ms;
    r.times.link_ms = k->times().link_ms;
    return;
  }
  jit::CpuCompileResult c = jit::compile_module_for_cpu(
      module, r.kernel, /*use_cache=*/o.cache == CacheMode::read_write, cpu);
  r.source = c.source;
  r.cache_key = c.cache_key;
  r.binary = c.kernel->object_code();
  r.llvm_ir = c.kernel->llvm_ir();
  r.assembly = c.kernel->assembly();
  r.times.cache_ms = c.times.cache_ms;
  r.times.passes_ms = c.times.passes_ms;
  r.times.lower_ms = c.times.lower_ms;
  r.times.optimize_ms = c.times.optimize_ms;
  r.times.codegen_ms = c.times.codegen_ms;
  r.times.link_ms = c.times.link_ms;
  if (c.source == KernelSource::disk)
    optimize_into(module, o, r);
  else
    r.optimized_ir = ir::print(module);
}

} // namespace

Signature jit::with_param_names(const lang::KernelDef& def, Signature signature) {
  if (def.param_names.empty() || signature.params.size() != def.param_names.size())
    return signature;
  for (size_t i = 0; i < signature.params.size(); ++i) {
    std::string& name = signature.params[i].name;
    const std::string& kernels = def.param_names[i];
    if (name.empty())
      name = kernels;
    else if (name != kernels)
      throw Error(fmt::format("kernel '{}': signature parameter {} is named '{}' but the kernel "
                              "names it '{}'; leave the signature's name empty to take the "
                              "kernel's, or give the same one",
                              def.name, i, name, kernels));
  }
  return signature;
}

CompileResult Kernel::compile(const codegen::Target& target, const Signature& signature) const {
  return compile(target, signature, CompileOptions{});
}

CompileResult Kernel::compile(const codegen::Target& target, const Signature& signature,
                              const CompileOptions& options) const {
  const lang::KernelDef& d = def();
  jit::ResolvedSignature resolved = jit::resolve_signature(d, jit::with_param_names(d, signature));
  check_options(d.name, target, options);
  CompileResult r;
  r.kernel = d.name;
  r.target = target;
  r.signature = std::move(resolved.signature);
  r.num_warps = target.is_nvptx() ? options.num_warps : 0;
  r.num_stages = target.is_nvptx() ? options.num_stages : 0;

  CompileTimes trace_times;
  std::unique_ptr<ir::Module> module =
      jit::trace_and_optimize(d, resolved.bindings, /*optimize=*/false, &trace_times);
  r.times.trace_ms = trace_times.trace_ms;
  r.entry = module->functions.front()->name;
  r.traced_ir = ir::print(*module);
  if (options.until == CompileUntil::ir) {
    optimize_into(*module, options, r);
    return r;
  }
  if (target.is_nvptx())
    compile_gpu(*module, options, r);
  else
    compile_cpu(*module, options, r);
  return r;
}

} // namespace tessel
