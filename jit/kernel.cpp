// Kernel: argument checking, the specialization table, and launches on the CPU backend, a CUDA
// GPU, or the simulated device.
//
// The table is a fixed array of published entries read without a lock: a launch computes one key
// word per parameter on the stack, scans the (few) entries, and runs. A miss takes the compile
// mutex, looks again (another thread may have compiled it meanwhile), loads it from the disk cache
// or compiles it (jit/compiler.h), and publishes the entry with a release store, so concurrent
// first calls compile once.
//
// The device is part of the key (SignatureKey::launch), and so is the simulated device's target
// (TESSEL_SIM_TARGET, read per simulated launch: sm_80 and sm_90a code of one kernel can live side
// by side in one process; a CUDA device's target follows from its index): host pointers select
// the CPU entry point;
// device buffers select a GPU entry — a cubin loaded as a CUDA module, or the PTX parsed by the
// simulator — compiled by jit/gpu_compiler.h for the device's target with the launch's
// num_warps and num_stages. A GPU launch packs the same argument array as the CPU one (one
// pointer per IR argument: the cuLaunchKernel convention) and launches num_warps * 32 threads
// per program with the kernel's dynamic shared memory.
#include "tessel/jit/kernel.h"

#include "jit/checked_launch.h"
#include "jit/compiler.h"
#include "jit/gpu_compiler.h"
#include "jit/signature.h"
#include "jit/tensor_map_args.h"
#include "jit/thread_pool.h"
#include "runtime/sim_device.h"
#include "tessel/codegen/target.h"
#include "tessel/ir/printer.h"
#include "tessel/runtime/cuda_module.h"
#include "tessel/runtime/device.h"
#include "tessel/support/dump.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstring>
#include <map>
#include <mutex>
#include <pthread.h>
#include <vector>

namespace tessel {

using jit::kMaxParams;
using jit::SignatureKey;

namespace {

struct Specialization {
  SignatureKey key;
  std::unique_ptr<codegen::cpu::CompiledKernel> cpu;
  codegen::cpu::KernelEntry entry = nullptr;
  int64_t stack_bytes = 0;

  // A GPU specialization (key.device cuda or sim): the grid is the launch's.
  runtime::LaunchDims gpu_dims;
  codegen::Target target; // what it was compiled for: its grid limits
  runtime::CudaModule cuda_module;
  runtime::CudaFunction cuda_function;
  std::shared_ptr<const runtime::simdev::SimKernel> sim_kernel;
  // TMA descriptors' tensor maps, built per launch from the arguments (jit/tensor_map_args.h).
  std::vector<codegen::gpu::TensorMapParam> tensor_maps;
};

CompileTimes gpu_times(const jit::GpuCompileResult& r) {
  const codegen::gpu::StageTimes& t = r.kernel.times;
  CompileTimes c;
  c.trace_ms = r.trace_ms;
  c.cache_ms = r.cache_ms;
  c.lower_ms = t.layout_ms + t.lower_ms;
  c.optimize_ms = t.libdevice_ms + t.optimize_ms;
  c.codegen_ms = t.ptx_ms;
  c.link_ms = t.cubin_ms;
  return c;
}

// Program instances run on the caller's thread when their tiles fit comfortably in its stack:
// a quarter of the calling thread's stack size (read once per thread), at most 1 MiB.
int64_t caller_stack_budget() {
  thread_local const int64_t budget = [] {
    pthread_attr_t attr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstacksize(&attr, &size);
      pthread_attr_destroy(&attr);
    }
    return std::min<int64_t>(int64_t(size) / 4, int64_t(1) << 20);
  }();
  return budget;
}

struct RunContext {
  codegen::cpu::KernelEntry entry;
  void* const* args;
  const int32_t* grid;
};

void run_range(void* ctx, int64_t begin, int64_t end) {
  auto* rc = static_cast<RunContext*>(ctx);
  rc->entry(rc->args, rc->grid, begin, end);
}

// Runs the programs of a CPU launch: on the caller's thread when there is one and it fits in
// the caller's stack, else on the thread pool.
void run_on_cpu(const Specialization& spec, void* const* args, const std::array<int32_t, 3>& dims,
                int64_t total) {
  RunContext rc{spec.entry, args, dims.data()};
  bool caller_can_run = spec.stack_bytes <= caller_stack_budget();
  if (total == 1 && caller_can_run) {
    spec.entry(args, dims.data(), 0, 1);
    return;
  }
  jit::ThreadPool& pool = jit::ThreadPool::instance();
  int64_t chunk = std::max<int64_t>(1, total / (int64_t(pool.size() + 1) * 8));
  pool.run(total, chunk, &run_range, &rc, caller_can_run);
}

// A checked launch (jit/checked_launch.h): the arguments plus the bounds table; throws at the
// first out-of-bounds access once the programs have run.
void run_checked_on_cpu(const lang::KernelDef& def, const Specialization& spec,
                        std::span<const detail::ArgValue> args, const jit::PackedArgs& packed,
                        const std::array<int32_t, 3>& dims, int64_t total) {
  jit::CheckedLaunch checked(def, args, packed);
  run_on_cpu(spec, checked.pointers(), dims, total);
  checked.throw_if_violated(dims);
}

} // namespace

codegen::Target jit::sim_target(const std::string& kernel, const SourceLoc& where) {
  const std::string name = runtime::sim_target_name();
  try {
    codegen::Target t = codegen::parse_target(name);
    if (t.is_nvptx())
      return t;
  } catch (const Error& e) {
    throw Error(where, "kernel '" + kernel + "': TESSEL_SIM_TARGET='" + name +
                           "' is not a target: " + e.what());
  }
  throw Error(where, "kernel '" + kernel + "': TESSEL_SIM_TARGET='" + name +
                         "' is not a GPU target; the simulated device runs sm_80, sm_86, sm_89, "
                         "sm_90 or sm_90a PTX");
}

// The target a CUDA device runs: its own SM version where codegen has it, else the closest older
// one of the same major version (cubins run on later minor versions of their major), sm_90a on
// an sm_90 GPU.
codegen::Target jit::cuda_target(const std::string& kernel, int ordinal, const SourceLoc& where) {
  if (!runtime::cuda_available())
    throw Error(where, "kernel '" + kernel +
                           "': its pointer arguments are CUDA device buffers, "
                           "so it would run on CUDA device " +
                           std::to_string(ordinal) +
                           ", but CUDA is not available: " + runtime::driver_info().error +
                           ". Run on the PTX simulator with TESSEL_DEVICE=sim, or pass host "
                           "memory to run on the CPU backend");
  runtime::Device device = runtime::Device::get(ordinal);
  const runtime::DeviceProperties& p = device.properties();
  int sm = p.sm_version();
  if (sm == 90)
    return codegen::Target::nvptx(90, /*arch_specific=*/true);
  for (int candidate : {89, 86, 80})
    if (candidate / 10 == sm / 10 && candidate <= sm)
      return codegen::Target::nvptx(candidate);
  throw Error(where,
              "kernel '" + kernel + "': CUDA device " + std::to_string(ordinal) + " (" + p.name +
                  ") is sm_" + std::to_string(sm) +
                  "; tessel compiles for sm_80, sm_86, sm_89 and sm_90 (and GPUs that run their "
                  "cubins)");
}

struct Kernel::Impl {
  static constexpr size_t kSlots = 64;

  lang::KernelDef def;
  std::array<std::atomic<Specialization*>, kSlots> slots{};
  std::atomic<size_t> count{0};

  std::mutex compile_mutex; // guards everything below
  std::vector<std::unique_ptr<Specialization>> owned;
  std::map<std::vector<uint64_t>, Specialization*> overflow;
  CompileTimes last_times;
  std::atomic<int64_t> traces{0}, compiles{0}, disk_loads{0}, launches{0};
  std::atomic<KernelSource> last_source{KernelSource::none};

  // A raw device pointer passed to a CPU launch would crash inside the kernel. Checked when a
  // specialization is made (not on every launch: it costs a driver call per pointer), and only
  // in processes that have loaded the CUDA driver (CPU-only programs never load it) or allocated
  // simulated memory.
  void check_host_pointers(std::span<const detail::ArgValue> args, const SourceLoc& where) const {
    for (size_t i = 0; i < args.size(); ++i) {
      const detail::ArgValue& a = args[i];
      if (a.kind == detail::ArgValue::Kind::Pointer && a.device == DeviceKind::cpu &&
          runtime::simdev::owns(a.ptr))
        throw Error(where,
                    "kernel '" + def.name + "': " + jit::param_desc(def, i) +
                        " points at simulated-device memory (TESSEL_DEVICE=sim), but as a raw "
                        "pointer it makes this launch run on the CPU backend; pass the buffer's "
                        "view() to run on the simulated device, or copy it to the host");
      if (a.kind == detail::ArgValue::Kind::Pointer && a.device == DeviceKind::cpu &&
          runtime::pointer_device_if_loaded(a.ptr) == DeviceKind::cuda)
        throw Error(where,
                    "kernel '" + def.name + "': " + jit::param_desc(def, i) +
                        " points at CUDA device memory, but this launch runs on the CPU backend; "
                        "pass host memory (copy it with DeviceBuffer::copy_to_host)");
    }
  }

  explicit Impl(lang::KernelDef d) : def(std::move(d)) {
    bool valid_name = !def.name.empty() && !std::isdigit(static_cast<unsigned char>(def.name[0]));
    for (char c : def.name)
      valid_name =
          valid_name && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.');
    if (!valid_name)
      throw Error("kernel name '" + def.name +
                  "' is not valid: use letters, digits, '_' and '.', "
                  "not starting with a digit");
    if (def.params.size() > kMaxParams)
      throw Error("kernel '" + def.name + "' has " + std::to_string(def.params.size()) +
                  " parameters; at most " + std::to_string(kMaxParams) + " are supported");
    if (!def.param_names.empty() && def.param_names.size() != def.params.size())
      throw Error("kernel '" + def.name + "' has " + std::to_string(def.params.size()) +
                  " parameters but " + std::to_string(def.param_names.size()) +
                  " parameter names in its KernelDef; give one name per parameter, or none");
  }

  Specialization* find(const SignatureKey& key) const {
    size_t n = count.load(std::memory_order_acquire);
    for (size_t i = 0; i < n; ++i) {
      Specialization* s = slots[i].load(std::memory_order_acquire);
      if (s->key == key)
        return s;
    }
    return nullptr;
  }

  // The miss path: `source` says whether this call loaded the code from disk or compiled it
  // (memory when another thread published it meanwhile).
  Specialization* find_or_compile(const SignatureKey& key, std::span<const detail::ArgValue> args,
                                  const LaunchOptions& options, KernelSource& source,
                                  const SourceLoc& where) {
    source = KernelSource::memory;
    std::lock_guard lock(compile_mutex);
    if (Specialization* s = find(key))
      return s;
    std::vector<uint64_t> flat(key.words.begin(), key.words.begin() + key.size);
    flat.push_back(key.launch);
    if (auto it = overflow.find(flat); it != overflow.end())
      return it->second;

    support::check_dump_settings(); // a bad TESSEL_DUMP fails here, before anything is traced
    if (key.device == DeviceKind::cpu)
      check_host_pointers(args, where);
    jit::note_recompile(def, owned.empty() ? nullptr : &owned.back()->key, key,
                        owned.empty() ? 0 : owned.size() - 1, where);
    std::array<lang::ParamBinding, kMaxParams> bindings;
    jit::bindings_for(def, args, bindings);
    std::span<const lang::ParamBinding> bound(bindings.data(), def.params.size());
    auto spec = std::make_unique<Specialization>();
    spec->key = key;
    if (key.device == DeviceKind::cpu) {
      jit::CpuCompileResult compiled = jit::compile_for_cpu(
          def, bound, (key.launch & jit::kCheckedLaunch) != 0, (key.launch & jit::kNoFpFusion) == 0,
          (key.launch & jit::kDebugLaunch) != 0);
      source = compiled.source;
      last_times = compiled.times;
      spec->entry = compiled.kernel->entry();
      spec->stack_bytes = compiled.kernel->max_stack_bytes();
      spec->cpu = std::move(compiled.kernel);
    } else {
      source = build_gpu(*spec, bound, options, where);
    }
    traces.fetch_add(1);
    compiles.fetch_add(1);
    if (source == KernelSource::disk)
      disk_loads.fetch_add(1);

    Specialization* raw = spec.get();
    owned.push_back(std::move(spec));
    size_t n = count.load(std::memory_order_relaxed);
    if (n < kSlots) {
      slots[n].store(raw, std::memory_order_release);
      count.store(n + 1, std::memory_order_release);
    } else {
      overflow.emplace(std::move(flat), raw);
    }
    return raw;
  }

  // Compiles (or loads from the disk cache) the GPU code of `spec` and loads it on its device.
  KernelSource build_gpu(Specialization& spec, std::span<const lang::ParamBinding> bindings,
                         const LaunchOptions& options, const SourceLoc& where) {
    const bool sim = spec.key.device == DeviceKind::sim;
    codegen::Target target = sim ? jit::sim_target(def.name, where)
                                 : jit::cuda_target(def.name, spec.key.device_index, where);
    codegen::gpu::CompileOptions gpu_options;
    gpu_options.num_warps = options.num_warps;
    gpu_options.num_stages = options.num_stages;
    gpu_options.fp_fusion = options.fp_fusion;
    gpu_options.debug = (spec.key.launch & jit::kDebugLaunch) != 0;
    jit::GpuCompileResult compiled =
        jit::compile_for_gpu(def, bindings, target, gpu_options, /*want_ptx=*/sim);
    last_times = gpu_times(compiled);
    const codegen::gpu::CompiledKernel& k = compiled.kernel;
    spec.target = target;
    spec.gpu_dims.block = {uint32_t(k.num_warps * 32), 1, 1};
    spec.gpu_dims.shared_bytes = uint32_t(k.shared_bytes);
    spec.tensor_maps = k.tensor_maps;
    if (sim) {
      spec.sim_kernel = runtime::simdev::SimKernel::load(k.ptx, k.name);
    } else {
      spec.cuda_module = runtime::CudaModule::from_cubin(k.cubin, k.name, spec.key.device_index);
      spec.cuda_function = spec.cuda_module.function(k.name);
    }
    return compiled.source;
  }
};

Kernel::Kernel(lang::KernelDef def) : impl_(std::make_shared<Impl>(std::move(def))) {}
Kernel::~Kernel() = default;
Kernel::Kernel(const Kernel&) = default;
Kernel& Kernel::operator=(const Kernel&) = default;
Kernel::Kernel(Kernel&&) noexcept = default;
Kernel& Kernel::operator=(Kernel&&) noexcept = default;

namespace {

bool is_identifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])))
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

} // namespace

std::vector<std::string> detail::param_names_for(const lang::KernelDef& def, std::string_view names,
                                                 std::source_location where) {
  const SourceLoc loc = SourceLoc::from(where);
  std::vector<std::string> out;
  for (size_t start = 0; !trim_spaces(names).empty() && start <= names.size();) {
    size_t comma = std::min(names.find(',', start), names.size());
    std::string_view name = trim_spaces(names.substr(start, comma - start));
    if (!is_identifier(name))
      throw Error(loc, "kernel '" + def.name + "': parameter name '" + std::string(name) +
                           "' in \"" + std::string(names) +
                           "\" is not a C++ identifier; write the names comma-separated, as "
                           "in \"out, in, n\"");
    if (std::find(out.begin(), out.end(), name) != out.end())
      throw Error(loc, "kernel '" + def.name + "': parameter name '" + std::string(name) +
                           "' appears twice in \"" + std::string(names) + "\"");
    out.emplace_back(name);
    start = comma + 1;
  }
  if (out.size() != def.params.size())
    throw Error(loc, "kernel '" + def.name + "': " + std::to_string(out.size()) +
                         " parameter names (\"" + std::string(names) + "\") for a lambda with " +
                         std::to_string(def.params.size()) +
                         " parameters; give one name per parameter, in order");
  return out;
}

const char* kernel_source_name(KernelSource s) {
  switch (s) {
  case KernelSource::none:
    return "none";
  case KernelSource::memory:
    return "memory";
  case KernelSource::disk:
    return "disk";
  case KernelSource::compiled:
    return "compiled";
  }
  TESSEL_UNREACHABLE("bad KernelSource");
}

const std::string& Kernel::name() const { return impl_->def.name; }
const lang::KernelDef& Kernel::def() const { return impl_->def; }

KernelStats Kernel::stats() const {
  KernelStats s;
  s.traces = impl_->traces.load();
  s.compiles = impl_->compiles.load();
  s.disk_loads = impl_->disk_loads.load();
  s.launches = impl_->launches.load();
  s.last_source = impl_->last_source.load(std::memory_order_relaxed);
  return s;
}

CompileTimes Kernel::last_compile_times() const {
  std::lock_guard lock(impl_->compile_mutex);
  return impl_->last_times;
}

void Kernel::launch_args(Grid grid, const LaunchOptions& options,
                         std::span<const detail::ArgValue> args, std::source_location where) const {
  SignatureKey key = jit::signature_of(impl_->def, args, options, SourceLoc::from(where));
  launch_keyed(grid, options, args, key, where);
}

void Kernel::launch_keyed(Grid grid, const LaunchOptions& options,
                          std::span<const detail::ArgValue> args, const SignatureKey& checked,
                          std::source_location where) const {
  Impl& k = *impl_;
  const SourceLoc site = SourceLoc::from(where);
  SignatureKey key = checked;
  if (key.device == DeviceKind::cpu && jit::checked_launch(options))
    key.launch |= jit::kCheckedLaunch; // a specialization of its own
  if (jit::debug_launch(options))
    key.launch |= jit::kDebugLaunch; // so is a debug launch (its asserts compiled in)
  std::array<int32_t, 3> dims = jit::check_grid(k.def, grid, site);
  KernelSource source = KernelSource::memory;
  Specialization* spec = k.find(key);
  if (!spec)
    spec = k.find_or_compile(key, args, options, source, site);
  k.launches.fetch_add(1, std::memory_order_relaxed);
  k.last_source.store(source, std::memory_order_relaxed);
  int64_t total = int64_t(dims[0]) * dims[1] * dims[2];
  if (total == 0)
    return;

  jit::PackedArgs packed;
  jit::pack_args(k.def, args, packed);
  if (key.device != DeviceKind::cpu) {
    jit::check_gpu_grid(k.def, dims, spec->target, site);
    runtime::LaunchDims launch_dims = spec->gpu_dims;
    launch_dims.grid = {uint32_t(dims[0]), uint32_t(dims[1]), uint32_t(dims[2])};
    if (!spec->tensor_maps.empty())
      jit::pack_tensor_maps(k.def, spec->tensor_maps, key.device, packed);
    if (spec->sim_kernel)
      spec->sim_kernel->launch(launch_dims, packed.pointers.data());
    else
      runtime::launch(spec->cuda_function, launch_dims, packed.pointers.data(), options.stream);
    return;
  }
  if (key.launch & jit::kCheckedLaunch) {
    try {
      run_checked_on_cpu(k.def, *spec, args, packed, dims, total);
    } catch (const Error&) {
      spec->cpu->rethrow_host_error(); // reported now, never in a later launch
      throw;
    }
  } else {
    run_on_cpu(*spec, packed.pointers.data(), dims, total);
  }
  spec->cpu->rethrow_host_error(); // what an escape hatch's C++ fallback threw
}

std::string Kernel::ir_for_args(bool optimized, std::span<const detail::ArgValue> args) const {
  (void)jit::signature_of(impl_->def, args); // checks the arguments (no call site to name)
  std::array<lang::ParamBinding, kMaxParams> bindings;
  jit::bindings_for(impl_->def, args, bindings);
  auto module = jit::trace_and_optimize(
      impl_->def, std::span(bindings.data(), impl_->def.params.size()), optimized, nullptr);
  return ir::print(*module);
}

} // namespace tessel
