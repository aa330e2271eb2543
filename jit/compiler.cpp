// The compile pipeline: trace -> verify -> canonicalize/cse/licm/dce -> CPU backend.
#include "jit/compiler.h"

#include "tessel/codegen/transforms.h"
#include "tessel/ir/pass.h"
#include "tessel/ir/printer.h"
#include "tessel/support/dump.h"

#include <chrono>
#include <cstdlib>

namespace tessel::jit {
namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

bool verify_each_pass() {
#ifdef TESSEL_DEBUG_BUILD
  return true;
#else
  static const bool on = [] {
    const char* v = std::getenv("TESSEL_VERIFY_EACH");
    return v && *v && *v != '0';
  }();
  return on;
#endif
}

std::unique_ptr<ir::Module> trace_and_optimize(const lang::KernelDef& def,
                                               std::span<const lang::ParamBinding> bindings,
                                               bool optimize, CompileTimes* times) {
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<ir::Module> module = lang::trace(def, bindings);
  if (times)
    times->trace_ms = ms_since(t0);
  if (support::dump_enabled("ir"))
    support::dump("ir", def.name + " after tracing", ir::print(*module));
  if (!optimize)
    return module;
  auto t1 = std::chrono::steady_clock::now();
  ir::PassManager pm(verify_each_pass());
  codegen::add_default_pipeline(pm);
  pm.run(*module);
  if (times)
    times->passes_ms = ms_since(t1);
  return module;
}

CpuCompileResult compile_for_cpu(const lang::KernelDef& def,
                                 std::span<const lang::ParamBinding> bindings) {
  CpuCompileResult result;
  std::unique_ptr<ir::Module> module = trace_and_optimize(def, bindings, true, &result.times);
  result.kernel = codegen::cpu::compile(*module->functions.front());
  const codegen::cpu::StageTimes& st = result.kernel->times();
  result.times.lower_ms = st.lower_ms;
  result.times.optimize_ms = st.optimize_ms;
  result.times.codegen_ms = st.codegen_ms;
  result.times.link_ms = st.link_ms;
  return result;
}

} // namespace tessel::jit
