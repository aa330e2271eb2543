// CUDA devices, found through the driver that runtime/ loads with dlopen on first use: a machine
// without the NVIDIA driver builds and runs tessel (CPU backend) and sees zero devices here.
//
//   if (tessel::runtime::Device::count() > 0) {
//     tessel::runtime::Device gpu = tessel::runtime::Device::get(0);
//     gpu.properties().sm_version();   // 90 on an H100
//   }
#pragma once

#include "tessel/runtime/tensor_view.h"

#include <array>
#include <cstdint>
#include <string>

namespace tessel::runtime {

// What the dlopen of the driver found. Never throws.
struct DriverInfo {
  bool available = false;
  std::string library; // the loaded file, e.g. /usr/lib/x86_64-linux-gnu/libcuda.so.1
  int version = 0;     // cuDriverGetVersion: 13000 for CUDA 13.0
  std::string error;   // why it is not available
};
DriverInfo driver_info();
bool cuda_available();

struct DeviceProperties {
  std::string name;
  int major = 0, minor = 0; // compute capability
  int sm_count = 0;
  int64_t total_memory = 0;
  int64_t max_shared_per_block = 0;       // without opting in (48 KiB)
  int64_t max_shared_per_block_optin = 0; // with cuFuncSetAttribute (e.g. 227 KiB on sm_90)
  int64_t max_shared_per_sm = 0;
  int max_threads_per_block = 0;
  int max_registers_per_block = 0;
  int warp_size = 32;
  std::array<int64_t, 3> max_grid{};
  std::array<int, 3> max_block{};

  // The SM version the code generator targets: 80, 86, 89, 90...
  int sm_version() const { return major * 10 + minor; }
};

class Device {
public:
  // Number of CUDA devices; 0 without a driver or a GPU. Never throws.
  static int count();
  // Throws tessel::Error when there is no such device (naming why: no driver, no GPU, ordinal).
  static Device get(int ordinal = 0);

  int ordinal() const { return ordinal_; }
  const DeviceProperties& properties() const { return properties_; }
  // Waits for all work on this device.
  void synchronize() const;

private:
  int ordinal_ = 0;
  DeviceProperties properties_;
};

// The GPU device of this process: where DeviceBuffer::allocate puts memory (and so where kernel
// launches on that memory run). DeviceKind::cuda, the default, is the real GPU through the
// driver; DeviceKind::sim is the PTX simulator (sim/): memory in the simulator's address space,
// kernels compiled to PTX and executed on the CPU with memcheck and racecheck, so the GPU path
// runs in CI without a GPU. Chosen by TESSEL_DEVICE ("cuda" or "sim"; unset or empty: cuda), read
// once; an unknown value is a tessel::Error naming the valid ones.
DeviceKind selected_device();
// Overrides TESSEL_DEVICE for the rest of the process (buffers already allocated keep their
// device). Throws tessel::Error for DeviceKind::cpu, and for sim when it is not available.
void select_device(DeviceKind kind);
// Whether this build has the simulated device (built with the PTX simulator). Never throws.
bool sim_available();
// The NVPTX target GPU kernels are compiled for on the simulated device: sm_80, or
// TESSEL_SIM_TARGET (e.g. "sm_90"; checked by parse_target when a kernel is compiled).
std::string sim_target_name();

// Where `p` points: DeviceKind::cuda for device or managed memory the driver knows, cpu for
// anything else (always cpu without a driver).
DeviceKind pointer_device(const void* p);
// The same, but without loading the driver: cpu unless this process has already loaded it (so
// that CPU-only programs never pay for loading libcuda).
DeviceKind pointer_device_if_loaded(const void* p);

} // namespace tessel::runtime
