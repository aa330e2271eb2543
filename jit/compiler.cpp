// The compile pipeline: trace -> verify -> disk cache lookup -> canonicalize/cse/licm/dce -> CPU
// backend -> disk cache store.
#include "jit/compiler.h"

#include "jit/cache_key.h"
#include "jit/disk_cache.h"
#include "support/stopwatch.h"
#include "tessel/codegen/transforms.h"
#include "tessel/ir/pass.h"
#include "tessel/ir/printer.h"
#include "tessel/support/dump.h"

#include <chrono>
#include <cstdlib>
#include <optional>

namespace tessel::jit {
namespace {

using support::ms_since;

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
  support::check_dump_settings(); // a bad TESSEL_DUMP fails before anything is traced
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

namespace {

// The CPU backend's compile options, as the disk-cache key sees them (num_warps and num_stages
// do not change CPU code, so they are not part of it; checked mode does).
std::string cpu_options_text(const codegen::cpu::CompileOptions& o) {
  return std::string("backend=cpu opt_level=3") + (o.checked ? " checked=1" : "") +
         " fp_fusion=" + (o.fp_fusion ? "1" : "0") + (o.debug ? " debug=1" : "");
}
const std::string kCpuObjectFile = "object.o";

// The specialization from the disk cache, or null on a miss (or an entry that does not load,
// which is then removed).
std::unique_ptr<codegen::cpu::CompiledKernel> load_from_disk(DiskCache& cache, const CacheKey& key,
                                                             const std::string& kernel_name) {
  std::optional<CacheEntry> hit = cache.lookup(key, std::span(&kCpuObjectFile, 1));
  if (!hit)
    return nullptr;
  auto stack = hit->numbers.find("max_stack_bytes");
  if (hit->backend != "cpu" || hit->entry != kernel_name || stack == hit->numbers.end()) {
    cache.remove(key.hex, "does not describe this CPU kernel");
    return nullptr;
  }
  try {
    return codegen::cpu::load(hit->entry, std::move(hit->files[kCpuObjectFile]), stack->second);
  } catch (const Error& e) {
    cache.remove(key.hex, std::string("could not be loaded (") + e.what() + ")");
    return nullptr;
  }
}

} // namespace

CpuCompileResult compile_for_cpu(const lang::KernelDef& def,
                                 std::span<const lang::ParamBinding> bindings, bool checked,
                                 bool fp_fusion, bool debug) {
  CompileTimes trace_times;
  std::unique_ptr<ir::Module> module = trace_and_optimize(def, bindings, false, &trace_times);
  codegen::cpu::CompileOptions options;
  options.checked = checked || debug;
  options.fp_fusion = fp_fusion;
  options.debug = debug;
  CpuCompileResult result = compile_module_for_cpu(*module, def.name, /*use_cache=*/true, options);
  result.times.trace_ms = trace_times.trace_ms;
  return result;
}

CpuCompileResult compile_module_for_cpu(ir::Module& module, const std::string& kernel,
                                        bool use_cache,
                                        const codegen::cpu::CompileOptions& options) {
  CpuCompileResult result;
  const std::string& kernel_name = module.functions.front()->name;

  DiskCache& cache = DiskCache::instance();
  std::optional<CacheKey> key;
  if (use_cache && cache.config().enabled) {
    auto t0 = std::chrono::steady_clock::now();
    key = make_cache_key(ir::print(module), host_cpu_target(), cpu_options_text(options));
    result.cache_key = key->hex;
    result.kernel = load_from_disk(cache, *key, kernel_name);
    result.times.cache_ms = ms_since(t0);
    if (result.kernel) {
      result.kernel->bind_host_callbacks(module.host_callbacks);
      result.times.link_ms = result.kernel->times().link_ms;
      result.times.cache_ms -= result.times.link_ms;
      result.source = KernelSource::disk;
      return result;
    }
  }

  auto t1 = std::chrono::steady_clock::now();
  ir::PassManager pm(verify_each_pass());
  codegen::add_default_pipeline(pm, {options.fp_fusion, options.debug});
  pm.run(module);
  result.times.passes_ms = ms_since(t1);
  result.kernel = codegen::cpu::compile(*module.functions.front(), options);
  result.kernel->bind_host_callbacks(module.host_callbacks); // escape-hatch fallbacks
  const codegen::cpu::StageTimes& st = result.kernel->times();
  result.times.lower_ms = st.lower_ms;
  result.times.optimize_ms = st.optimize_ms;
  result.times.codegen_ms = st.codegen_ms;
  result.times.link_ms = st.link_ms;
  result.source = KernelSource::compiled;

  if (key) {
    auto t2 = std::chrono::steady_clock::now();
    CacheEntry entry;
    entry.kernel = kernel;
    entry.entry = kernel_name;
    entry.backend = "cpu";
    entry.numbers["max_stack_bytes"] = result.kernel->max_stack_bytes();
    entry.files[kCpuObjectFile] = result.kernel->object_code();
    cache.store(*key, entry);
    result.times.cache_ms += ms_since(t2);
  }
  return result;
}

} // namespace tessel::jit
