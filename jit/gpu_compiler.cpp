// The GPU compile pipeline with the disk cache: key -> lookup -> (passes -> codegen/gpu -> store).
#include "jit/gpu_compiler.h"

#include "jit/cache_key.h"
#include "jit/compiler.h"
#include "jit/disk_cache.h"
#include "support/stopwatch.h"
#include "tessel/codegen/transforms.h"
#include "tessel/ir/pass.h"
#include "tessel/ir/printer.h"
#include "tessel/support/dump.h"

#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string_view>

namespace tessel::jit {
namespace {

using support::ms_since;

const std::string kCubinFile = "kernel.cubin";
const std::string kPtxFile = "kernel.ptx";

// What the cubin depends on besides the IR and the options: the SM and PTX versions, the
// nvJitLink that linked it and the libdevice that was linked in.
const std::string& toolchain_identity() {
  static const std::string id = [] {
    std::string nvjitlink = codegen::gpu::nvjitlink_path();
    std::string version = "unknown";
    void* lib = nvjitlink.empty() ? nullptr : ::dlopen(nvjitlink.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib) {
      using VersionFn = int (*)(unsigned*, unsigned*);
      unsigned major = 0, minor = 0;
      if (auto fn = reinterpret_cast<VersionFn>(::dlsym(lib, "nvJitLinkVersion"));
          fn && fn(&major, &minor) == 0)
        version = std::to_string(major) + "." + std::to_string(minor);
    }
    return " nvjitlink " + version + " libdevice " + codegen::gpu::libdevice_path();
  }();
  return id;
}

std::string target_text(const codegen::Target& target) {
  return "nvptx " + target.name() + " ptx" + std::to_string(target.ptx_version()) +
         toolchain_identity();
}

// NVRTC compiles the CUDA C++ of tl::extern_cuda calls: its version is an input of such kernels
// (their source is in the IR). Other kernels' keys do not depend on it.
std::string extern_toolchain(const ir::Module& module) {
  bool calls_extern = false;
  for (const auto& f : module.functions)
    ir::walk(f->body, [&](const ir::Op& op) {
      calls_extern = calls_extern || op.opcode() == ir::Opcode::ExternCall;
    });
  return calls_extern ? " " + codegen::gpu::nvrtc_identity() : "";
}

// TESSEL_WARP_SPECIALIZE=1, codegen/gpu/compile.cpp's stopgap switch until CompileOptions has the
// field: part of the disk key, so a forced run never reuses a plain ring's cubin (or the reverse).
bool warp_specialize_forced() {
  const char* env = std::getenv("TESSEL_WARP_SPECIALIZE");
  return env != nullptr && std::string_view(env) == "1";
}

std::string options_text(const codegen::gpu::CompileOptions& o) {
  return "backend=cuda num_warps=" + std::to_string(o.num_warps) +
         " num_stages=" + std::to_string(o.num_stages) +
         " opt_level=" + std::to_string(o.opt_level) + " line_info=" + (o.line_info ? "1" : "0") +
         " fp_fusion=" + (o.fp_fusion ? "1" : "0") + (o.debug ? " debug=1" : "") +
         (o.wgmma ? "" : " wgmma=0") + (warp_specialize_forced() ? " warp_specialize=1" : "");
}

// The numbers a launch and `tessel compile --emit stats` need, in the manifest.
void put_numbers(const codegen::gpu::CompiledKernel& k, std::map<std::string, int64_t>& n) {
  n["num_warps"] = k.num_warps;
  n["shared_bytes"] = k.shared_bytes;
  n["registers"] = k.resources.registers;
  n["spill_stores"] = k.resources.spill_stores;
  n["spill_loads"] = k.resources.spill_loads;
  n["stack_bytes"] = k.resources.stack_bytes;
  n["static_shared_bytes"] = k.resources.static_shared_bytes;
  n["const_bytes"] = k.resources.const_bytes;
  n["resources_parsed"] = k.resources.parsed ? 1 : 0;
}

// False when a number is missing (an entry of another format: rebuilt).
bool get_numbers(const std::map<std::string, int64_t>& n, codegen::gpu::CompiledKernel& k) {
  const char* names[] = {"num_warps",           "shared_bytes", "registers",
                         "spill_stores",        "spill_loads",  "stack_bytes",
                         "static_shared_bytes", "const_bytes",  "resources_parsed"};
  for (const char* name : names)
    if (!n.count(name))
      return false;
  k.num_warps = int(n.at("num_warps"));
  k.shared_bytes = n.at("shared_bytes");
  k.resources.registers = int(n.at("registers"));
  k.resources.spill_stores = n.at("spill_stores");
  k.resources.spill_loads = n.at("spill_loads");
  k.resources.stack_bytes = n.at("stack_bytes");
  k.resources.static_shared_bytes = n.at("static_shared_bytes");
  k.resources.const_bytes = n.at("const_bytes");
  k.resources.parsed = n.at("resources_parsed") != 0;
  return true;
}

} // namespace

GpuCompileResult compile_module_for_gpu(ir::Module& module, const codegen::Target& target,
                                        const codegen::gpu::CompileOptions& options, bool want_ptx,
                                        bool use_cache) {
  TESSEL_ASSERT(target.is_nvptx(), "compile_module_for_gpu needs an NVPTX target");
  support::check_dump_settings(); // a bad TESSEL_DUMP fails even when the disk cache hits
  GpuCompileResult result;
  const std::string kernel_name = module.functions.front()->name;
  // Before the key: which descriptors go through TMA is part of the code (and of the launch's
  // arguments), so the key hashes the IR with its `tmap`s; the launch reads them back.
  ir::PassStats tma_stats;
  codegen::gpu::assign_tensor_maps_pass(target).run(module, tma_stats);
  const std::vector<codegen::gpu::TensorMapParam> tensor_maps =
      codegen::gpu::tensor_map_params(*module.functions.front());
  DiskCache& cache = DiskCache::instance();
  std::optional<CacheKey> key;
  if (use_cache && cache.config().enabled) {
    auto t0 = std::chrono::steady_clock::now();
    key = make_cache_key(ir::print(module), target_text(target) + extern_toolchain(module),
                         options_text(options));
    result.cache_key = key->hex;
    std::vector<std::string> wanted = {kCubinFile};
    if (want_ptx)
      wanted.push_back(kPtxFile);
    if (std::optional<CacheEntry> hit = cache.lookup(*key, wanted)) {
      codegen::gpu::CompiledKernel& k = result.kernel;
      if (hit->backend == "cuda" && hit->entry == kernel_name && get_numbers(hit->numbers, k)) {
        k.name = hit->entry;
        k.target = target;
        k.cubin = std::move(hit->files[kCubinFile]);
        if (want_ptx)
          k.ptx = std::move(hit->files[kPtxFile]);
        result.source = KernelSource::disk;
        result.cache_ms = ms_since(t0);
        result.kernel.tensor_maps = tensor_maps;
        return result;
      }
      cache.remove(key->hex, "does not describe this GPU kernel");
      result.kernel = {};
    }
    result.cache_ms = ms_since(t0);
  }

  auto t_passes = std::chrono::steady_clock::now();
  ir::PassManager pm(verify_each_pass());
  codegen::add_default_pipeline(pm, {options.fp_fusion, options.debug});
  pm.run(module);
  result.passes_ms = ms_since(t_passes);
  result.kernel =
      codegen::gpu::compile(*module.functions.front(), target, options, codegen::gpu::Stage::Cubin);
  result.kernel.tensor_maps = tensor_maps;
  result.source = KernelSource::compiled;
  if (key) {
    auto t1 = std::chrono::steady_clock::now();
    CacheEntry entry;
    entry.kernel = kernel_name;
    entry.entry = result.kernel.name;
    entry.backend = "cuda";
    put_numbers(result.kernel, entry.numbers);
    entry.files[kCubinFile] = result.kernel.cubin;
    entry.files[kPtxFile] = result.kernel.ptx;
    cache.store(*key, entry);
    result.cache_ms += ms_since(t1);
  }
  return result;
}

GpuCompileResult compile_for_gpu(const lang::KernelDef& def,
                                 std::span<const lang::ParamBinding> bindings,
                                 const codegen::Target& target,
                                 const codegen::gpu::CompileOptions& options, bool want_ptx) {
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<ir::Module> module = trace_and_optimize(def, bindings, false, nullptr);
  double trace_ms = ms_since(t0);
  GpuCompileResult r = compile_module_for_gpu(*module, target, options, want_ptx);
  r.trace_ms = trace_ms;
  return r;
}

} // namespace tessel::jit
