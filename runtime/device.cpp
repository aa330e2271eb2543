// CUDA devices and their properties; which device a pointer belongs to.
#include "tessel/runtime/device.h"

#include "runtime/cuda_api.h"
#include "runtime/sim_device.h"
#include "tessel/error.h"

#include <atomic>
#include <cstdlib>
#include <string_view>

namespace tessel::runtime {

DriverInfo driver_info() {
  DriverInfo info;
  const cuda::Api* a = cuda::try_api(&info.error);
  if (!a)
    return info;
  info.available = true;
  info.library = a->library;
  a->cuDriverGetVersion(&info.version);
  return info;
}

bool cuda_available() { return cuda::try_api() != nullptr; }

int Device::count() {
  const cuda::Api* a = cuda::try_api();
  int n = 0;
  if (!a || a->cuDeviceGetCount(&n) != cuda::CUDA_SUCCESS)
    return 0;
  return n;
}

Device Device::get(int ordinal) {
  const cuda::Api& a = cuda::api("looking for CUDA device " + std::to_string(ordinal));
  int n = 0;
  cuda::check(a.cuDeviceGetCount(&n), "cuDeviceGetCount", "counting CUDA devices");
  if (ordinal < 0 || ordinal >= n)
    throw Error("CUDA device " + std::to_string(ordinal) + " does not exist: the driver (" +
                a.library + ") sees " + std::to_string(n) + " device" + (n == 1 ? "" : "s"));
  std::string doing = "querying CUDA device " + std::to_string(ordinal);
  cuda::CUdevice dev = 0;
  cuda::check(a.cuDeviceGet(&dev, ordinal), "cuDeviceGet", doing);
  Device d;
  d.ordinal_ = ordinal;
  DeviceProperties& p = d.properties_;
  char name[256] = {};
  cuda::check(a.cuDeviceGetName(name, sizeof name - 1, dev), "cuDeviceGetName", doing);
  p.name = name;
  auto attr = [&](int which) {
    int v = 0;
    cuda::check(a.cuDeviceGetAttribute(&v, which, dev), "cuDeviceGetAttribute", doing);
    return v;
  };
  p.major = attr(cuda::kComputeCapabilityMajor);
  p.minor = attr(cuda::kComputeCapabilityMinor);
  p.sm_count = attr(cuda::kMultiprocessorCount);
  p.max_shared_per_block = attr(cuda::kMaxSharedMemoryPerBlock);
  p.max_shared_per_block_optin = attr(cuda::kMaxSharedMemoryPerBlockOptin);
  p.max_shared_per_sm = attr(cuda::kMaxSharedMemoryPerMultiprocessor);
  p.max_threads_per_block = attr(cuda::kMaxThreadsPerBlock);
  p.max_registers_per_block = attr(cuda::kMaxRegistersPerBlock);
  p.warp_size = attr(cuda::kWarpSize);
  p.max_grid = {attr(cuda::kMaxGridDimX), attr(cuda::kMaxGridDimY), attr(cuda::kMaxGridDimZ)};
  p.max_block = {attr(cuda::kMaxBlockDimX), attr(cuda::kMaxBlockDimY), attr(cuda::kMaxBlockDimZ)};
  size_t total = 0;
  cuda::check(a.cuDeviceTotalMem(&total, dev), "cuDeviceTotalMem", doing);
  p.total_memory = int64_t(total);
  return d;
}

void Device::synchronize() const {
  const cuda::Api& a = cuda::api("synchronizing a CUDA device");
  cuda::make_current(ordinal_);
  cuda::check(a.cuCtxSynchronize(), "cuCtxSynchronize",
              "waiting for CUDA device " + std::to_string(ordinal_));
}

DeviceKind pointer_device(const void* p) {
  const cuda::Api* a = cuda::try_api();
  if (!a || !p)
    return DeviceKind::cpu;
  unsigned type = 0;
  // Memory the driver does not know (plain host memory) fails with CUDA_ERROR_INVALID_VALUE.
  if (a->cuPointerGetAttribute(&type, cuda::kPointerAttributeMemoryType,
                               reinterpret_cast<cuda::CUdeviceptr>(p)) != cuda::CUDA_SUCCESS)
    return DeviceKind::cpu;
  return type == cuda::kMemoryTypeDevice || type == cuda::kMemoryTypeUnified ? DeviceKind::cuda
                                                                             : DeviceKind::cpu;
}

namespace {

// 0: not chosen yet; otherwise 1 + DeviceKind.
std::atomic<int> g_selected{0};

DeviceKind device_from_env() {
  const char* env = std::getenv("TESSEL_DEVICE");
  std::string_view v = env ? env : "";
  if (v.empty() || v == "cuda")
    return DeviceKind::cuda;
  if (v == "sim") {
    if (!simdev::available())
      throw Error("TESSEL_DEVICE=sim, but this tessel was built without the PTX simulator "
                  "(configure with -DTESSEL_BUILD_SIM=ON)");
    return DeviceKind::sim;
  }
  throw Error("TESSEL_DEVICE='" + std::string(v) +
              "' is not a device: use 'cuda' (a real GPU, the default) or 'sim' (the PTX "
              "simulator)");
}

} // namespace

DeviceKind selected_device() {
  int v = g_selected.load(std::memory_order_acquire);
  if (v != 0)
    return DeviceKind(v - 1);
  DeviceKind k = device_from_env();
  int expected = 0;
  g_selected.compare_exchange_strong(expected, int(k) + 1, std::memory_order_acq_rel);
  return DeviceKind(g_selected.load(std::memory_order_acquire) - 1);
}

void select_device(DeviceKind kind) {
  if (kind == DeviceKind::cpu)
    throw Error("select_device: the CPU is not a GPU device; choose DeviceKind::cuda or "
                "DeviceKind::sim (CPU launches take host memory and need no selection)");
  if (kind == DeviceKind::sim && !simdev::available())
    throw Error("select_device(sim): this tessel was built without the PTX simulator "
                "(configure with -DTESSEL_BUILD_SIM=ON)");
  g_selected.store(int(kind) + 1, std::memory_order_release);
}

bool sim_available() { return simdev::available(); }

std::string sim_target_name() {
  const char* env = std::getenv("TESSEL_SIM_TARGET");
  return env && *env ? std::string(env) : std::string("sm_80");
}

DeviceKind pointer_device_if_loaded(const void* p) {
  return cuda::already_loaded() ? pointer_device(p) : DeviceKind::cpu;
}

} // namespace tessel::runtime
