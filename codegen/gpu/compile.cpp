// The GPU backend's entry point (tessel/codegen/gpu.h): axis analysis and layout assignment,
// lowering to LLVM IR, the shared-memory check, libdevice, O3, PTX, nvJitLink — timing each stage.
#include "tessel/codegen/gpu.h"

#include "codegen/analysis/axis_info.h"
#include "codegen/gpu/check_resources.h"
#include "codegen/gpu/extern_cuda.h"
#include "codegen/gpu/k_slices.h"
#include "codegen/gpu/lowering.h"
#include "codegen/gpu/mma_select.h"
#include "codegen/gpu/nvptx.h"
#include "codegen/gpu/pipeline.h"
#include "codegen/gpu/warp_specialize.h"
#include "codegen/llvm_text.h"
#include "codegen/transforms/passes.h"
#include "support/stopwatch.h"
#include "tessel/ir/clone.h"
#include "tessel/ir/pass.h"
#include "tessel/ir/printer.h"
#include "tessel/support/dump.h"

#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <fmt/format.h>

#include <bit>
#include <chrono>
#include <cstdlib>

namespace tessel::codegen::gpu {

namespace {

using codegen::print_module;
using support::Stopwatch;

// A dot of fp8 tiles on a target without fp8 tensor cores: the message names the target and the
// pairs its mma.sync takes.
[[noreturn]] void fail_fp8_dot(const ir::Function& function, const ir::Op& dot,
                               const Target& target) {
  throw Error(
      dot.loc,
      fmt::format("kernel `{}`: dot of {} x {} tiles: fp8 operands need the fp8 tensor "
                  "cores of sm_89 or later (mma.sync .e4m3/.e5m2), the target is {}, whose "
                  "mma.sync takes f16 x f16, bf16 x bf16, f32 x f32 (as tf32), i8 x i8 and "
                  "u8 x u8; compile for sm_89, sm_90 or sm_90a, or convert the tiles to f16 "
                  "first (.to(DType::f16), exact for both fp8 types)",
                  function.name, dot.operand(0)->type()->element()->str(),
                  dot.operand(1)->type()->element()->str(), target.name()));
}

// What a target cannot do is rejected here, before any pass runs.
void check_types(const ir::Function& function, const Target& target) {
  ir::walk(function.body, [&](const ir::Op& op) {
    if (op.opcode() == ir::Opcode::Dot && is_fp8_dot(op) && !target.has_fp8_mma())
      fail_fp8_dot(function, op, target);
    for (const ir::Value* v : op.results()) {
      const ir::Type* e = v->type()->element();
      if (e->is_pointer())
        e = e->pointee();
      if (e->is_scalar() && e->dtype() == DType::bf16 && !target.has_bf16_math())
        throw Error(op.loc, fmt::format("kernel `{}`: bf16 needs sm_80 or later, the target is {}",
                                        function.name, target.name()));
    }
  });
}

// The PTX ISA version the kernel is emitted in: the target's, or 8.4 where an fp8 mma.sync runs
// (PTX ISA, "mma": the .e4m3/.e5m2 forms need 8.4), 8.5 for a dot_sparse on sm_90
// (mma.sp::ordered_metadata), so other kernels keep their PTX unchanged.
int ptx_version_for(const ir::Function& kernel, const Target& target) {
  bool fp8_mma = false;
  ir::walk(kernel.body, [&](const ir::Op& op) {
    const ir::LayoutAttr* l = op.num_results() ? op.result()->type()->layout() : nullptr;
    fp8_mma = fp8_mma || (op.opcode() == ir::Opcode::Dot && is_fp8_dot(op) && l &&
                          l->kind() == ir::LayoutKind::Mma);
  });
  // mma.sp::ordered_metadata, what lower_mma_sp.cpp emits on sm_90, needs PTX ISA 8.5.
  bool ordered_sp = false;
  ir::walk(kernel.body, [&](const ir::Op& op) {
    ordered_sp = ordered_sp || (op.opcode() == ir::Opcode::DotSparse && target.sm() >= 90);
  });
  const int version = ordered_sp ? std::max(target.ptx_version(), 85) : target.ptx_version();
  return fp8_mma ? std::max(version, 84) : version;
}

bool has_layouts(const ir::Function& function) {
  bool found = false;
  ir::walk(function.body, [&](const ir::Op& op) {
    for (const ir::Value* v : op.results())
      found = found || v->type()->layout() != nullptr;
  });
  return found;
}

// Whether TMA rings get a producer warpgroup. A stopgap switch until CompileOptions carries the
// choice (docs/gpu_codegen.md, "Warp specialization": the field is a header change every target
// rebuilds for): TESSEL_WARP_SPECIALIZE=1 forces it where the target and warps allow it. It is
// not part of the kernel cache key, so runs that set it use their own TESSEL_CACHE_DIR.
bool warp_specialize_requested(const Target& target, int num_warps, const CompileOptions&) {
  const char* env = std::getenv("TESSEL_WARP_SPECIALIZE");
  return env && std::string_view(env) == "1" && warp_specialize_profitable(target, num_warps);
}

// The kernel with its layouts, conversions and shared-memory plan in the IR, which is what the
// emission reads: a copy (ir::clone_function) through assign-layouts
// (unless it carries layouts already), pipeline, prepare-dot-operands, cse and allocate-shared.
// TESSEL_DUMP=ir shows it after each pass.
std::unique_ptr<ir::Module> planned_copy(const ir::Function& function, const Target& target,
                                         const CompileOptions& options) {
  const int num_warps = options.num_warps;
  auto copy = ir::clone_function(function);
  ir::PassManager pm(/*verify_each=*/false);
  // Tensor descriptors without a TMA tensor map (every one where assign-tensor-maps did not run,
  // as in IR from tessel-opt or a test) are masked loads and stores before anything else.
  pm.add(codegen::expand_tensor_descriptors_pass());
  if (!has_layouts(function))
    pm.add(assign_layouts_pass(target, num_warps));
  // The loads that feed a dot stream through cp.async rings (codegen/gpu/pipeline.cpp); then the
  // dots not prepared yet (also those laid out elsewhere, tessel-opt --passes=assign-layouts) read
  // their operands as #dot_op (prepare_dot_operands.cpp), the pipeliner's rings included. Both
  // leave IR they already rewrote as it is.
  pm.add(pipeline_pass(target, num_warps, options.num_stages, options.wgmma));
  // TMA rings split into a producer warpgroup and the consumers (warp_specialize.h).
  if (warp_specialize_requested(target, num_warps, options))
    pm.add(warp_specialize_pass(target, num_warps, WarpRoles{4, num_warps}));
  pm.add(prepare_dot_operands_pass(target, num_warps, options.wgmma));
  // A pipelined mma.sync dot then reads its operands one k-slice ahead of its mma (k_slices.cpp).
  pm.add(k_slices_pass(target, num_warps));
  // assign-layouts inserts one convert_layout per use; cse merges those of one value to the same
  // layout, so each conversion (a shared-memory round trip) is emitted once, and shares the
  // pipeliner's index arithmetic.
  pm.add(codegen::cse_pass());
  add_gpu_pass(pm, "allocate-shared", target, num_warps);
  pm.run(*copy);
  return copy;
}

} // namespace

CompiledKernel compile(const ir::Function& function, const Target& target,
                       const CompileOptions& options, Stage until) {
  if (!target.is_nvptx())
    throw Error("codegen::gpu::compile needs an NVPTX target, not '" + target.name() + "'");
  if (options.num_warps < 1 || options.num_warps > 32 ||
      !std::has_single_bit(static_cast<unsigned>(options.num_warps)))
    throw Error(
        fmt::format("num_warps must be a power of two from 1 to 32, not {}", options.num_warps));
  check_types(function, target);
  Stopwatch clock;
  CompiledKernel out;
  out.name = function.name;
  out.target = target;
  out.num_warps = options.num_warps;

  // A kernel that went through both passes already (tessel-opt's output) is emitted as it is.
  std::unique_ptr<ir::Module> copy;
  if (!has_layouts(function) || function.shared_bytes < 0)
    copy = planned_copy(function, target, options);
  const ir::Function& kernel = copy ? *copy->functions.front() : function;
  out.num_warps = options.num_warps + producer_warps(kernel); // the launch's warps
  out.times.layout_ms = clock.lap_ms();
  out.layouts = ir::print(kernel);

  llvm::LLVMContext ctx;
  llvm::Module module(function.name, ctx);
  std::unique_ptr<llvm::TargetMachine> tm = detail::create_nvptx_target_machine(
      target, options.opt_level, ptx_version_for(kernel, target));
  module.setDataLayout(tm->createDataLayout());
  module.setTargetTriple(tm->getTargetTriple().str());
  detail::Lowering lowering(ctx, module, kernel, target, options.num_warps, options.line_info);
  lowering.run();
  std::string broken;
  llvm::raw_string_ostream err(broken);
  if (llvm::verifyModule(module, &err))
    TESSEL_UNREACHABLE(
        ("NVPTX lowering produced invalid LLVM IR: " + broken + "\n" + print_module(module))
            .c_str());
  out.shared_bytes = lowering.shared_bytes();
  out.shared_accesses = lowering.take_shared_accesses();
  if (out.shared_bytes > target.limits().max_shared_bytes)
    throw Error(fmt::format("kernel `{}` needs {} bytes of shared memory (layout conversions and "
                            "reduction scratch) but {} allows at most {} bytes per block; use "
                            "smaller blocks or fewer layout changes",
                            function.name, out.shared_bytes, target.name(),
                            target.limits().max_shared_bytes));
  out.times.lower_ms = clock.lap_ms();

  detail::link_libdevice(module, function.name);
  out.times.libdevice_ms = clock.lap_ms();
  detail::optimize(module, *tm, options.opt_level);
  out.times.optimize_ms = clock.lap_ms();
  out.llvm_ir = print_module(module);
  if (support::dump_enabled("llvm"))
    support::dump("llvm", function.name, out.llvm_ir);
  clock.lap_ms();
  if (until == Stage::Llvm)
    return out;
  out.ptx = detail::emit_ptx(module, *tm);
  // CUDA C++ the kernel calls (tl::extern_cuda): NVRTC's PTX, merged into the kernel's for the
  // simulator and the reports, linked with it by nvJitLink for the cubin (extern_cuda.h).
  const std::string own_ptx = out.ptx;
  std::vector<std::string> extern_ptx, extern_symbols;
  for (const detail::ExternFunctionUse& use : detail::extern_functions(kernel)) {
    extern_ptx.push_back(detail::compile_extern_ptx(use, target, function.name));
    extern_symbols.push_back(use.symbol);
  }
  if (!extern_ptx.empty())
    out.ptx = detail::merge_extern_ptx(own_ptx, extern_symbols, extern_ptx);
  out.times.ptx_ms = clock.lap_ms();
  if (support::dump_enabled("ptx"))
    support::dump("ptx", function.name, out.ptx);
  if (until == Stage::Ptx)
    return out;
  link_cubin(own_ptx, extern_ptx, function.name, target, out);
  check_resources(out, target);
  out.times.cubin_ms = clock.lap_ms();
  return out;
}

void check_resources(const CompiledKernel& out, const Target& target) {
  const ResourceReport& r = out.resources;
  if (!r.parsed)
    return;
  const TargetLimits& lim = target.limits();
  const int64_t threads = int64_t(out.num_warps) * lim.warp_size;
  auto fail = [&](const std::string& what) {
    throw Error(fmt::format("kernel `{}` cannot run on {}: {}", out.name, target.name(), what));
  };
  if (r.registers > lim.max_registers_per_thread)
    fail(fmt::format("it needs {} registers per thread, the limit is {}; use smaller tiles",
                     r.registers, lim.max_registers_per_thread));
  if (int64_t(r.registers) * threads > lim.max_registers_per_block)
    fail(fmt::format("it needs {} registers per block ({} per thread x {} threads), the limit is "
                     "{}; use fewer num_warps or smaller tiles",
                     int64_t(r.registers) * threads, r.registers, threads,
                     lim.max_registers_per_block));
  if (out.shared_bytes + r.static_shared_bytes > lim.max_shared_bytes)
    fail(fmt::format("it needs {} bytes of shared memory ({} dynamic + {} static), the limit is {} "
                     "per block; use smaller tiles or fewer num_stages",
                     out.shared_bytes + r.static_shared_bytes, out.shared_bytes,
                     r.static_shared_bytes, lim.max_shared_bytes));
}

// The GPU analysis as text: the axis facts the lowering uses to choose access widths.
std::string print_axis_info(const ir::Module& module) {
  std::string out;
  for (const auto& f : module.functions)
    out += analysis::print_axis_info(*f);
  return out;
}

} // namespace tessel::codegen::gpu
