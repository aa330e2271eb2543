// Modules from cubins, their functions, and launches through cuLaunchKernelEx.
#include "tessel/runtime/cuda_module.h"

#include "runtime/cuda_api.h"
#include "tessel/error.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/stream.h"

#include <algorithm>
#include <array>
#include <mutex>

namespace tessel::runtime {
namespace {

// Device limits, read once per device (launch checks must not query the driver each time).
const DeviceProperties& cached_properties(int device) {
  constexpr int kMaxDevices = 64;
  static std::array<std::atomic<const DeviceProperties*>, kMaxDevices> cache{};
  static std::mutex mutex;
  TESSEL_ASSERT(device >= 0 && device < kMaxDevices, "device ordinal out of range");
  if (const DeviceProperties* p = cache[size_t(device)].load(std::memory_order_acquire))
    return *p;
  std::lock_guard lock(mutex);
  if (const DeviceProperties* p = cache[size_t(device)].load(std::memory_order_acquire))
    return *p;
  auto* p = new DeviceProperties(Device::get(device).properties()); // lives for the process
  cache[size_t(device)].store(p, std::memory_order_release);
  return *p;
}

std::string dims_text(const std::array<uint32_t, 3>& d) {
  return "(" + std::to_string(d[0]) + ", " + std::to_string(d[1]) + ", " + std::to_string(d[2]) +
         ")";
}

[[noreturn]] void bad_launch(const CudaFunction& fn, const std::string& why) {
  throw Error("cannot launch kernel '" + fn.name() + "' on CUDA device " +
              std::to_string(fn.device()) + ": " + why);
}

void check_dims(const CudaFunction& fn, const LaunchDims& dims, const DeviceProperties& p) {
  uint64_t threads = uint64_t(dims.block[0]) * dims.block[1] * dims.block[2];
  for (int i = 0; i < 3; ++i) {
    if (dims.grid[size_t(i)] == 0 || dims.block[size_t(i)] == 0)
      bad_launch(fn, "grid " + dims_text(dims.grid) + " and block " + dims_text(dims.block) +
                         " must be positive in every dimension");
    if (int64_t(dims.grid[size_t(i)]) > p.max_grid[size_t(i)])
      bad_launch(fn, "grid " + dims_text(dims.grid) + " exceeds the device's maximum of " +
                         std::to_string(p.max_grid[size_t(i)]) + " along " + "xyz"[i]);
    if (int64_t(dims.block[size_t(i)]) > p.max_block[size_t(i)])
      bad_launch(fn, "block " + dims_text(dims.block) + " exceeds the device's maximum of " +
                         std::to_string(p.max_block[size_t(i)]) + " along " + "xyz"[i]);
  }
  if (threads > uint64_t(p.max_threads_per_block))
    bad_launch(fn, "a block of " + std::to_string(threads) + " threads exceeds the device's " +
                       std::to_string(p.max_threads_per_block) + " (use fewer warps)");
  if (int64_t(dims.shared_bytes) > p.max_shared_per_block_optin)
    bad_launch(fn, std::to_string(dims.shared_bytes) +
                       " bytes of dynamic shared memory exceed the "
                       "device's " +
                       std::to_string(p.max_shared_per_block_optin) +
                       " per block (use smaller tiles or fewer stages)");
}

} // namespace

struct CudaModule::Loaded {
  cuda::CUmodule module = nullptr;
  std::string what;
  int device = 0;
  ~Loaded() {
    if (module)
      if (const cuda::Api* a = cuda::try_api()) {
        cuda::make_current(device);
        a->cuModuleUnload(module);
      }
  }
};

CudaModule CudaModule::from_cubin(std::string_view cubin, std::string_view what, int device) {
  std::string doing = "loading the cubin of kernel '" + std::string(what) + "'";
  const cuda::Api& a = cuda::api(doing);
  // A cubin is an ELF image; a fatbin (several cubins) starts with 0xBA55ED50 (little endian).
  bool elf = cubin.size() >= 4 && cubin.substr(0, 4) == std::string_view("\x7f"
                                                                         "ELF",
                                                                         4);
  bool fatbin = cubin.size() >= 4 && cubin.substr(0, 4) == std::string_view("\x50\xed\x55\xba", 4);
  if (!elf && !fatbin)
    throw Error("cannot load kernel '" + std::string(what) +
                "': its image is neither a cubin "
                "(ELF) nor a fatbin (" +
                std::to_string(cubin.size()) + " bytes)");
  cuda::make_current(device);
  CudaModule m;
  m.loaded_ = std::make_shared<Loaded>();
  m.loaded_->what = what;
  m.loaded_->device = device;
  // The driver reads the image in place; keep an aligned copy alive only for the call.
  std::string image(cubin);
  cuda::check(a.cuModuleLoadData(&m.loaded_->module, image.data()), "cuModuleLoadData", doing);
  return m;
}

CudaModule CudaModule::from_ptx(const std::string& ptx, std::string_view what, int device) {
  std::string doing = "loading the PTX of kernel '" + std::string(what) + "'";
  const cuda::Api& a = cuda::api(doing);
  cuda::make_current(device);
  CudaModule m;
  m.loaded_ = std::make_shared<Loaded>();
  m.loaded_->what = what;
  m.loaded_->device = device;
  cuda::check(a.cuModuleLoadData(&m.loaded_->module, ptx.c_str()), "cuModuleLoadData", doing);
  return m;
}

void* CudaModule::handle() const { return loaded_ ? loaded_->module : nullptr; }

CudaFunction CudaModule::function(const std::string& entry) const {
  TESSEL_ASSERT(loaded_, "CudaModule::function on an empty module");
  std::string doing = "finding entry '" + entry + "' of kernel '" + loaded_->what + "'";
  const cuda::Api& a = cuda::api(doing);
  cuda::make_current(loaded_->device);
  cuda::CUfunction f = nullptr;
  cuda::check(a.cuModuleGetFunction(&f, loaded_->module, entry.c_str()), "cuModuleGetFunction",
              doing);
  CudaFunction fn;
  fn.handle_ = f;
  fn.state_ = std::make_shared<CudaFunction::State>();
  fn.state_->name = entry;
  fn.state_->device = loaded_->device;
  return fn;
}

int CudaFunction::num_registers() const {
  int v = 0;
  cuda::check(
      cuda::api("querying a kernel")
          .cuFuncGetAttribute(&v, cuda::kFuncNumRegs, static_cast<cuda::CUfunction>(handle_)),
      "cuFuncGetAttribute", "querying the registers of kernel '" + name() + "'");
  return v;
}

int CudaFunction::static_shared_bytes() const {
  int v = 0;
  cuda::check(cuda::api("querying a kernel")
                  .cuFuncGetAttribute(&v, cuda::kFuncSharedSizeBytes,
                                      static_cast<cuda::CUfunction>(handle_)),
              "cuFuncGetAttribute", "querying the shared memory of kernel '" + name() + "'");
  return v;
}

void launch(const CudaFunction& fn, const LaunchDims& dims, void** params, const Stream* stream) {
  TESSEL_ASSERT(fn.handle_ && fn.state_, "launch of an empty CudaFunction");
  const cuda::Api* api = cuda::try_api();
  if (!api)
    cuda::api("launching kernel '" + fn.name() + "'"); // throws, naming the kernel
  const cuda::Api& a = *api;
  CudaFunction::State& st = *fn.state_;
  const DeviceProperties& props = cached_properties(st.device);
  check_dims(fn, dims, props);
  cuda::make_current(st.device);
  auto* f = static_cast<cuda::CUfunction>(fn.handle_);
  if (dims.shared_bytes > st.dynamic_shared_limit.load(std::memory_order_relaxed)) {
    cuda::check(
        a.cuFuncSetAttribute(f, cuda::kFuncMaxDynamicSharedSizeBytes, int(dims.shared_bytes)),
        "cuFuncSetAttribute",
        "enabling " + std::to_string(dims.shared_bytes) +
            " bytes of dynamic shared memory for kernel '" + fn.name() + "'");
    st.dynamic_shared_limit.store(dims.shared_bytes, std::memory_order_relaxed);
  }
  cuda::LaunchAttribute attrs[1] = {};
  cuda::LaunchConfig config{};
  config.grid_x = dims.grid[0];
  config.grid_y = dims.grid[1];
  config.grid_z = dims.grid[2];
  config.block_x = dims.block[0];
  config.block_y = dims.block[1];
  config.block_z = dims.block[2];
  config.shared_bytes = dims.shared_bytes;
  config.stream = stream ? static_cast<cuda::CUstream>(stream->handle()) : nullptr;
  if (dims.cluster[0] != 0) {
    attrs[0].id = cuda::kLaunchAttributeClusterDimension;
    attrs[0].value.cluster_dim = {dims.cluster[0], std::max(1u, dims.cluster[1]),
                                  std::max(1u, dims.cluster[2])};
    config.attrs = attrs;
    config.num_attrs = 1;
  }
  if (cuda::CUresult r = a.cuLaunchKernelEx(&config, f, params, nullptr); r != cuda::CUDA_SUCCESS)
    cuda::fail(r, "cuLaunchKernelEx",
               "launching kernel '" + fn.name() + "' with grid " + dims_text(dims.grid) +
                   ", block " + dims_text(dims.block) + ", " + std::to_string(dims.shared_bytes) +
                   " bytes of dynamic shared memory");
}

} // namespace tessel::runtime
