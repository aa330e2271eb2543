// Loading an AOT bundle and launching its kernels (tessel/aot/bundle.h).
//
// A kernel's code is loaded on a device the first time it is launched there (on the simulated
// device: for each TESSEL_SIM_TARGET it is launched under) — under the bundle's mutex, published
// through an atomic pointer per (kernel, device) — so a warm launch is
// a name lookup, the argument checks and one runtime::launch: no allocation, no lock, no driver
// call but the launch (what CUDA stream capture needs).
#include "tessel/aot/bundle.h"

#include "runtime/sim_device.h"
#include "runtime_aot/bundle_manifest.h"
#include "runtime_aot/bundle_target.h"
#include "tessel/error.h"
#include "tessel/runtime/cuda_module.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/stream.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

namespace tessel::aot {
namespace {

constexpr size_t kMaxCudaDevices = 64;

struct KernelState;

// One kernel's code loaded on one device.
struct Loaded {
  runtime::CudaModule module;
  runtime::CudaFunction function;
  std::shared_ptr<const runtime::simdev::SimKernel> sim;
  runtime::LaunchDims dims;
  // The simulated device's: whose code (TESSEL_SIM_TARGET when it was loaded).
  const KernelState* kernel = nullptr;
  std::string sim_target;
};

struct KernelState {
  format::Kernel info;
  std::string params_text;
  // Slot 0: the simulated device (the code of the target loaded last); slot 1 + i: CUDA device i.
  mutable std::array<std::atomic<const Loaded*>, 1 + kMaxCudaDevices> loaded{};
};

std::string read_file(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = bool(in);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v)
    s += (s.empty() ? "" : ", ") + x;
  return s;
}

} // namespace

struct Bundle::State {
  std::string dir;
  format::Manifest manifest;
  std::vector<std::unique_ptr<KernelState>> kernels;
  std::mutex mutex; // guards `owned` and loading
  std::vector<std::unique_ptr<Loaded>> owned;

  std::vector<std::string> target_names(const format::Kernel& k) const {
    std::vector<std::string> out;
    for (const format::TargetCode& t : k.targets)
      out.push_back(t.target);
    return out;
  }

  // A file of the bundle, checked against its manifest record.
  std::string read_checked(const format::File& f, const std::string& kernel) const {
    std::string path = dir + "/" + f.name;
    bool ok = false;
    std::string bytes = read_file(path, ok);
    if (!ok)
      throw Error("AOT bundle " + dir + ": kernel '" + kernel + "': " + path +
                  " is missing; make the bundle again with `tessel aot`");
    if (bytes.size() != f.size || format::fnv1a(bytes) != f.hash)
      throw Error("AOT bundle " + dir + ": kernel '" + kernel + "': " + path + " is corrupt (" +
                  std::to_string(bytes.size()) + " bytes, the manifest says " +
                  std::to_string(f.size) +
                  (bytes.size() == f.size ? " but its checksum differs" : "") +
                  "); make the bundle again with `tessel aot`");
    return bytes;
  }

  const KernelState& find(const KernelAbi& abi) const {
    for (const auto& k : kernels)
      if (std::strcmp(k->info.name.c_str(), abi.name) == 0) {
        if (std::strcmp(k->params_text.c_str(), abi.params) != 0)
          throw Error("AOT bundle " + dir + ": kernel '" + k->info.name + "' takes (" +
                      k->params_text + "), but the caller packs (" + abi.params +
                      "): the generated header is not this bundle's; include the tessel_aot.h "
                      "made with it");
        return *k;
      }
    std::vector<std::string> names;
    for (const auto& k : kernels)
      names.push_back(k->info.name);
    throw Error("AOT bundle " + dir + " has no kernel '" + std::string(abi.name) + "'; it has " +
                join(names));
  }

  const Loaded& load(const KernelState& k, DeviceKind device, int index);
  const Loaded& load_sim(const KernelState& k);
  std::unique_ptr<Loaded> load_code(const format::Kernel& k, DeviceKind device, int index);
  std::unique_ptr<Loaded> jit_fallback(const format::Kernel& k, DeviceKind device, int index,
                                       const std::string& target, const std::string& why);
};

namespace {

// The target a device runs, from the bundle's list; empty with `why` set when none runs there,
// `jit` set to what the fallback would compile.
std::string choose_target(const std::vector<std::string>& targets, DeviceKind device, int index,
                          std::string& jit, std::string& why) {
  if (device == DeviceKind::sim) {
    std::string sim = runtime::sim_target_name();
    for (const std::string& t : targets)
      if (t == sim)
        return t;
    jit = sim;
    why = "the simulated device runs " + sim + " PTX";
    return "";
  }
  if (!runtime::cuda_available())
    throw Error("no CUDA device: " + runtime::driver_info().error +
                ". Launch AOT kernels on the simulated device with TESSEL_DEVICE=sim "
                "(Launch::device = DeviceKind::sim)");
  const runtime::Device gpu = runtime::Device::get(index);
  const runtime::DeviceProperties& p = gpu.properties();
  int sm = p.sm_version();
  if (std::optional<std::string> t = pick_target(targets, sm))
    return *t;
  why = "CUDA device " + std::to_string(index) + " (" + p.name + ") is sm_" + std::to_string(sm);
  std::optional<std::string> j = jit_target(sm);
  if (!j)
    throw Error(why + ", which neither the bundle's targets (" + join(targets) +
                ") nor tessel's code generator support");
  jit = *j;
  return "";
}

} // namespace

std::unique_ptr<Loaded> Bundle::State::load_code(const format::Kernel& k, DeviceKind device,
                                                 int index) {
  std::string jit, why;
  std::string target = choose_target(target_names(k), device, index, jit, why);
  if (target.empty())
    return jit_fallback(k, device, index, jit, why);
  const format::TargetCode* code = nullptr;
  for (const format::TargetCode& t : k.targets)
    if (t.target == target)
      code = &t;
  auto l = std::make_unique<Loaded>();
  l->dims.block = {uint32_t(k.num_warps * 32), 1, 1};
  l->dims.shared_bytes = uint32_t(code->shared_bytes);
  if (device == DeviceKind::sim) {
    l->sim = runtime::simdev::SimKernel::load(read_checked(code->ptx, k.name), k.entry);
    return l;
  }
  l->module = runtime::CudaModule::from_cubin(read_checked(code->cubin, k.name), k.name, index);
  l->function = l->module.function(k.entry);
  return l;
}

std::unique_ptr<Loaded> Bundle::State::jit_fallback(const format::Kernel& k, DeviceKind device,
                                                    int index, const std::string& target,
                                                    const std::string& why) {
  auto fn = reinterpret_cast<JitFallbackFn>(::dlsym(RTLD_DEFAULT, kJitFallbackSymbol));
  if (!fn)
    throw Error("AOT bundle " + dir + ": kernel '" + k.name + "' has code for " +
                join(target_names(k)) + ", but " + why + "; add " + target +
                " to `tessel aot --targets`, or link libtessel (the full library) into the "
                "program so that it compiles the kernel from the bundle's IR (JIT fallback)");
  std::string ir = read_checked(k.ir, k.name);
  char *cubin = nullptr, *ptx = nullptr;
  size_t cubin_size = 0, ptx_size = 0;
  long long shared = 0;
  int rc = fn(ir.data(), ir.size(), target.c_str(), k.num_warps, k.num_stages, &cubin, &cubin_size,
              &ptx, &ptx_size, &shared);
  std::string cubin_bytes = cubin ? std::string(cubin, rc ? std::strlen(cubin) : cubin_size) : "";
  std::string ptx_text = ptx ? std::string(ptx, ptx_size) : "";
  std::free(cubin);
  std::free(ptx);
  if (rc != 0)
    throw Error("AOT bundle " + dir + ": kernel '" + k.name + "': the JIT fallback for " + target +
                " failed: " + cubin_bytes);
  auto l = std::make_unique<Loaded>();
  l->dims.block = {uint32_t(k.num_warps * 32), 1, 1};
  l->dims.shared_bytes = uint32_t(shared);
  if (device == DeviceKind::sim)
    l->sim = runtime::simdev::SimKernel::load(ptx_text, k.entry);
  else {
    l->module = runtime::CudaModule::from_cubin(cubin_bytes, k.name, index);
    l->function = l->module.function(k.entry);
  }
  return l;
}

const Loaded& Bundle::State::load(const KernelState& k, DeviceKind device, int index) {
  if (device == DeviceKind::sim)
    return load_sim(k);
  size_t slot = 1 + size_t(index);
  if (const Loaded* l = k.loaded[slot].load(std::memory_order_acquire))
    return *l;
  std::lock_guard lock(mutex);
  if (const Loaded* l = k.loaded[slot].load(std::memory_order_acquire))
    return *l;
  owned.push_back(load_code(k.info, device, index));
  k.loaded[slot].store(owned.back().get(), std::memory_order_release);
  return *owned.back();
}

// The simulated device runs TESSEL_SIM_TARGET's code as the variable is at this launch: slot 0
// holds the target loaded last (a warm launch compares its name: a getenv, no allocation for a
// target's short name, no lock); another target's code, loaded before or now, replaces it there.
const Loaded& Bundle::State::load_sim(const KernelState& k) {
  const std::string target = runtime::sim_target_name();
  if (const Loaded* l = k.loaded[0].load(std::memory_order_acquire); l && l->sim_target == target)
    return *l;
  std::lock_guard lock(mutex);
  const Loaded* found = nullptr;
  for (const auto& l : owned)
    if (l->kernel == &k && l->sim_target == target)
      found = l.get();
  if (!found) {
    owned.push_back(load_code(k.info, DeviceKind::sim, 0));
    owned.back()->kernel = &k;
    owned.back()->sim_target = target;
    found = owned.back().get();
  }
  k.loaded[0].store(found, std::memory_order_release);
  return *found;
}

namespace {

[[noreturn]] void bad_argument(const std::string& dir, const format::Kernel& k,
                               const format::Param& p, const std::string& why) {
  throw Error("AOT bundle " + dir + ": kernel '" + k.name + "': argument '" + p.name + "' " + why);
}

// What the code was compiled to assume about each argument (format::Param), checked on every
// launch: a few compares, so a wrong argument is an error and never wrong results.
void check_arguments(const std::string& dir, const format::Kernel& k, void** params) {
  for (size_t i = 0; i < k.params.size(); ++i) {
    const format::Param& p = k.params[i];
    switch (p.kind) {
    case format::ArgKind::ptr: {
      uintptr_t v = *static_cast<const uintptr_t*>(params[i]);
      if (v == 0)
        bad_argument(dir, k, p, "is a null pointer");
      if (p.alignment == 16 && v % 16 != 0)
        bad_argument(dir, k, p,
                     "is not 16-byte aligned, which the bundle's code assumes; make "
                     "the bundle with -D " +
                         k.name + ":" + p.name + ".align=any");
      break;
    }
    case format::ArgKind::i32: {
      int32_t v = *static_cast<const int32_t*>(params[i]);
      if (p.equals_one && v != 1)
        bad_argument(dir, k, p,
                     "is " + std::to_string(v) +
                         ", but the bundle's code was "
                         "compiled for the value 1; make the bundle with -D " +
                         k.name + ":" + p.name + "=any");
      if (!p.equals_one && p.divisibility == 16 && v % 16 != 0)
        bad_argument(dir, k, p,
                     "is " + std::to_string(v) +
                         ", not divisible by 16 as the "
                         "bundle's code assumes; make the bundle with -D " +
                         k.name + ":" + p.name + "=any");
      break;
    }
    case format::ArgKind::f32:
    case format::ArgKind::f64:
      break; // every value is one the code handles
    }
  }
}

runtime::LaunchDims launch_dims(const std::string& dir, const format::Kernel& k, const Loaded& l,
                                const Grid& g) {
  const int64_t dims[3] = {g.x, g.y, g.z};
  runtime::LaunchDims d = l.dims;
  for (size_t i = 0; i < 3; ++i) {
    if (dims[i] < 1 || dims[i] > int64_t(UINT32_MAX))
      throw Error("AOT bundle " + dir + ": kernel '" + k.name + "': grid (" + std::to_string(g.x) +
                  ", " + std::to_string(g.y) + ", " + std::to_string(g.z) +
                  ") must be positive and below 2^32 in every dimension");
    d.grid[i] = uint32_t(dims[i]);
  }
  return d;
}

} // namespace

Bundle Bundle::load(const std::string& dir) {
  std::string path = dir + "/manifest.tsv";
  bool ok = false;
  std::string text = read_file(path, ok);
  if (!ok)
    throw Error("AOT bundle " + dir + ": cannot read " + path +
                " (is it a directory made by `tessel aot --out`?)");
  format::Manifest m = format::parse(text, path);
  format::check_versions(m, dir);
  Bundle b;
  b.state_ = std::make_shared<State>();
  b.state_->dir = dir;
  for (format::Kernel& k : m.kernels) {
    auto ks = std::make_unique<KernelState>();
    ks->params_text = format::params_text(k);
    ks->info = std::move(k);
    b.state_->kernels.push_back(std::move(ks));
  }
  m.kernels.clear();
  b.state_->manifest = std::move(m);
  return b;
}

const std::string& Bundle::directory() const { return state_->dir; }
const std::string& Bundle::tessel_version() const { return state_->manifest.tessel_version; }

std::vector<std::string> Bundle::kernel_names() const {
  std::vector<std::string> out;
  for (const auto& k : state_->kernels)
    out.push_back(k->info.name);
  return out;
}

std::vector<std::string> Bundle::targets() const {
  std::vector<std::string> out;
  for (const auto& k : state_->kernels)
    for (const std::string& t : state_->target_names(k->info))
      if (std::find(out.begin(), out.end(), t) == out.end())
        out.push_back(t);
  return out;
}

void Bundle::verify() const {
  for (const auto& k : state_->kernels) {
    (void)state_->read_checked(k->info.ir, k->info.name);
    for (const format::TargetCode& t : k->info.targets) {
      (void)state_->read_checked(t.cubin, k->info.name);
      (void)state_->read_checked(t.ptx, k->info.name);
    }
  }
}

std::string Bundle::target_for(DeviceKind device, int device_index) const {
  std::string jit, why;
  DeviceKind d = device == DeviceKind::cpu ? runtime::selected_device() : device;
  std::string t = choose_target(targets(), d, device_index, jit, why);
  return t.empty() ? "jit " + jit : t;
}

void Bundle::launch(const KernelAbi& abi, const Launch& launch, void** params) const {
  State& s = *state_;
  const KernelState& k = s.find(abi);
  DeviceKind device = launch.device == DeviceKind::cpu ? runtime::selected_device() : launch.device;
  if (launch.device_index < 0 || size_t(launch.device_index) >= kMaxCudaDevices)
    throw Error("AOT bundle " + s.dir + ": CUDA device " + std::to_string(launch.device_index) +
                " does not exist");
  if (device == DeviceKind::cuda && launch.stream && launch.stream->device() != launch.device_index)
    throw Error("AOT bundle " + s.dir + ": kernel '" + k.info.name +
                "': the stream is on CUDA "
                "device " +
                std::to_string(launch.stream->device()) +
                " but Launch::device_index "
                "is " +
                std::to_string(launch.device_index) + "; launch on the stream's device");
  check_arguments(s.dir, k.info, params);
  const Loaded& l = s.load(k, device, launch.device_index);
  runtime::LaunchDims dims = launch_dims(s.dir, k.info, l, launch.grid);
  if (l.sim)
    l.sim->launch(dims, params);
  else
    runtime::launch(l.function, dims, params, launch.stream);
}

} // namespace tessel::aot
