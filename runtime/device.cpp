// CUDA devices and their properties; which device a pointer belongs to.
#include "tessel/runtime/device.h"

#include "runtime/cuda_api.h"
#include "tessel/error.h"

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

DeviceKind pointer_device_if_loaded(const void* p) {
  return cuda::already_loaded() ? pointer_device(p) : DeviceKind::cpu;
}

} // namespace tessel::runtime
