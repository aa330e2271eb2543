// Helpers of the issue-14 device tests (mem_hints_test.cpp, unsigned_ops_test.cpp,
// arg_types_test.cpp): the backends a test runs on — the CPU always, the simulated device where
// tessel has the simulator and the CUDA toolkit — and buffers of T on either, read back after a
// launch.
#pragma once

#include "tessel/codegen/gpu.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <filesystem>
#include <optional>
#include <vector>

namespace tessel::testing {

inline const std::vector<DeviceKind>& cpu_and_sim() {
  static const std::vector<DeviceKind> kinds = [] {
    std::vector<DeviceKind> out{DeviceKind::cpu};
    if (runtime::sim_available() && std::filesystem::exists(codegen::gpu::libdevice_path()) &&
        std::filesystem::exists(codegen::gpu::nvjitlink_path()))
      out.push_back(DeviceKind::sim);
    return out;
  }();
  return kinds;
}

template <class T> struct Buffer {
  DeviceKind where;
  std::vector<T> host;
  std::optional<runtime::DeviceBuffer> device;

  Buffer(DeviceKind w, std::vector<T> init) : where(w), host(std::move(init)) {
    if (where != DeviceKind::sim)
      return;
    device = runtime::DeviceBuffer::allocate_on(where, host.size() * sizeof(T));
    device->copy_from_host(host.data(), host.size() * sizeof(T));
  }
  TensorView view() {
    const int64_t n = int64_t(host.size());
    return device ? device->view(dtype_of_v<T>, {n}) : TensorView(host.data(), dtype_of_v<T>, {n});
  }
  std::vector<T> read() {
    if (device)
      device->copy_to_host(host.data(), host.size() * sizeof(T));
    return host;
  }
};

inline LaunchOptions on(DeviceKind where, int num_warps = 4) {
  LaunchOptions o;
  o.device = where;
  o.num_warps = num_warps;
  return o;
}

} // namespace tessel::testing
