// Device memory as an RAII buffer, with host<->device copies (synchronous, or asynchronous on a
// stream) and a TensorView of its contents for kernel launches.
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
  // Throws tessel::Error without a driver or when the device is out of memory.
  static DeviceBuffer allocate(size_t bytes, int device = 0);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return reinterpret_cast<void*>(ptr_); }
  uint64_t device_address() const { return ptr_; }
  size_t size() const { return bytes_; }
  int device() const { return device_; }

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
};

} // namespace tessel::runtime
