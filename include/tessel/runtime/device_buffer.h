// Device memory as an RAII buffer, with host<->device copies (synchronous, or asynchronous on a
// stream) and a TensorView of its contents for kernel launches. The memory is on the process's
// GPU device (runtime::selected_device()): a CUDA GPU, or the PTX simulator's device under
// TESSEL_DEVICE=sim, where copies are synchronous (also the _async ones) and views carry
// DeviceKind::sim.
//
//   auto buf = tessel::runtime::DeviceBuffer::allocate(n * sizeof(float));
//   buf.copy_from_host(host.data(), n * sizeof(float));
//   kernel.launch({blocks}, {}, buf.view(tessel::f32, {n}), ...);
//   buf.copy_to_host(host.data(), n * sizeof(float));
#pragma once

#include "tessel/runtime/tensor_view.h"

#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace tessel::runtime {

class Stream;

class DeviceBuffer {
public:
  DeviceBuffer() = default;
  // On the selected device (TESSEL_DEVICE). Throws tessel::Error without a driver (for cuda) or
  // when the device is out of memory.
  static DeviceBuffer allocate(size_t bytes, int device = 0);
  // On `kind` (cuda or sim) whatever is selected.
  static DeviceBuffer allocate_on(DeviceKind kind, size_t bytes, int device = 0);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return reinterpret_cast<void*>(ptr_); }
  uint64_t device_address() const { return ptr_; }
  size_t size() const { return bytes_; }
  int device() const { return device_; }    // the CUDA ordinal (0 on the simulated device)
  DeviceKind kind() const { return kind_; } // cuda or sim

  // Copies; `bytes` (and `offset`) must stay within the buffer. With a stream, asynchronous (the
  // host memory must stay alive, and unchanged, until the stream reaches the copy).
  void copy_from_host(const void* src, size_t bytes, size_t offset = 0);
  void copy_to_host(void* dst, size_t bytes, size_t offset = 0) const;
  void copy_from_host_async(const void* src, size_t bytes, const Stream& stream, size_t offset = 0);
  void copy_to_host_async(void* dst, size_t bytes, const Stream& stream, size_t offset = 0) const;
  void copy_from_device(const DeviceBuffer& src, size_t bytes);
  void fill_bytes(unsigned char value);

  // A contiguous view of the buffer as `shape` elements of `dtype` (checked against the size).
  TensorView view(DType dtype, std::initializer_list<int64_t> shape) const;

private:
  uint64_t ptr_ = 0;
  size_t bytes_ = 0;
  int device_ = 0;
  DeviceKind kind_ = DeviceKind::cuda;
};

} // namespace tessel::runtime
