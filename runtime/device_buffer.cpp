// Device memory: allocation, copies, views.
#include "tessel/runtime/device_buffer.h"

#include "runtime/cuda_api.h"
#include "runtime/sim_device.h"
#include "tessel/error.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/stream.h"

#include <string>
#include <utility>

namespace tessel::runtime {
namespace {

void check_range(const DeviceBuffer& b, size_t bytes, size_t offset, const char* what) {
  if (offset > b.size() || bytes > b.size() - offset)
    throw Error(std::string(what) + ": " + std::to_string(bytes) + " bytes at offset " +
                std::to_string(offset) + " do not fit in a device buffer of " +
                std::to_string(b.size()) + " bytes");
}

cuda::CUstream stream_of(const Stream& s) { return static_cast<cuda::CUstream>(s.handle()); }

} // namespace

DeviceBuffer DeviceBuffer::allocate(size_t bytes, int device) {
  return allocate_on(selected_device(), bytes, device);
}

DeviceBuffer DeviceBuffer::allocate_on(DeviceKind kind, size_t bytes, int device) {
  if (kind == DeviceKind::cpu)
    throw Error("DeviceBuffer::allocate_on: DeviceKind::cpu is not a device; use host memory");
  if (kind == DeviceKind::sim) {
    DeviceBuffer b;
    b.kind_ = DeviceKind::sim;
    b.bytes_ = bytes;
    b.ptr_ = simdev::allocate(bytes);
    return b;
  }
  std::string doing =
      "allocating " + std::to_string(bytes) + " bytes on CUDA device " + std::to_string(device);
  const cuda::Api& a = cuda::api(doing);
  cuda::make_current(device);
  DeviceBuffer b;
  b.device_ = device;
  b.bytes_ = bytes;
  if (bytes > 0) {
    cuda::CUdeviceptr p = 0;
    cuda::check(a.cuMemAlloc(&p, bytes), "cuMemAlloc", doing);
    b.ptr_ = p;
  }
  return b;
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ && kind_ == DeviceKind::sim)
    simdev::release(ptr_);
  else if (ptr_)
    if (const cuda::Api* a = cuda::try_api()) {
      cuda::make_current(device_);
      a->cuMemFree(ptr_);
    }
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : ptr_(std::exchange(o.ptr_, 0)), bytes_(std::exchange(o.bytes_, 0)), device_(o.device_),
      kind_(o.kind_) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    DeviceBuffer dead(std::move(*this));
    ptr_ = std::exchange(o.ptr_, 0);
    bytes_ = std::exchange(o.bytes_, 0);
    device_ = o.device_;
    kind_ = o.kind_;
  }
  return *this;
}

void DeviceBuffer::copy_from_host(const void* src, size_t bytes, size_t offset) {
  check_range(*this, bytes, offset, "copy to the device");
  if (kind_ == DeviceKind::sim)
    return simdev::copy_to_device(ptr_ + offset, src, bytes);
  const cuda::Api& a = cuda::api("copying to the device");
  cuda::make_current(device_);
  cuda::check(a.cuMemcpyHtoD(ptr_ + offset, src, bytes), "cuMemcpyHtoD", "copying to the device");
}

void DeviceBuffer::copy_to_host(void* dst, size_t bytes, size_t offset) const {
  check_range(*this, bytes, offset, "copy from the device");
  if (kind_ == DeviceKind::sim)
    return simdev::copy_to_host(dst, ptr_ + offset, bytes);
  const cuda::Api& a = cuda::api("copying from the device");
  cuda::make_current(device_);
  cuda::check(a.cuMemcpyDtoH(dst, ptr_ + offset, bytes), "cuMemcpyDtoH", "copying from the device");
}

void DeviceBuffer::copy_from_host_async(const void* src, size_t bytes, const Stream& stream,
                                        size_t offset) {
  check_range(*this, bytes, offset, "copy to the device");
  if (kind_ == DeviceKind::sim)
    return simdev::copy_to_device(ptr_ + offset, src, bytes); // the simulator is synchronous
  const cuda::Api& a = cuda::api("copying to the device");
  cuda::make_current(device_);
  cuda::check(a.cuMemcpyHtoDAsync(ptr_ + offset, src, bytes, stream_of(stream)),
              "cuMemcpyHtoDAsync", "copying to the device");
}

void DeviceBuffer::copy_to_host_async(void* dst, size_t bytes, const Stream& stream,
                                      size_t offset) const {
  check_range(*this, bytes, offset, "copy from the device");
  if (kind_ == DeviceKind::sim)
    return simdev::copy_to_host(dst, ptr_ + offset, bytes);
  const cuda::Api& a = cuda::api("copying from the device");
  cuda::make_current(device_);
  cuda::check(a.cuMemcpyDtoHAsync(dst, ptr_ + offset, bytes, stream_of(stream)),
              "cuMemcpyDtoHAsync", "copying from the device");
}

void DeviceBuffer::copy_from_device(const DeviceBuffer& src, size_t bytes) {
  check_range(*this, bytes, 0, "device-to-device copy");
  check_range(src, bytes, 0, "device-to-device copy");
  if (kind_ != src.kind_)
    throw Error(std::string("device-to-device copy between a ") + device_kind_name(src.kind_) +
                " buffer and a " + device_kind_name(kind_) +
                " buffer: copy through host memory instead");
  if (kind_ == DeviceKind::sim)
    return simdev::copy_on_device(ptr_, src.ptr_, bytes);
  const cuda::Api& a = cuda::api("copying on the device");
  cuda::make_current(device_);
  cuda::check(a.cuMemcpyDtoD(ptr_, src.ptr_, bytes), "cuMemcpyDtoD", "copying on the device");
}

void DeviceBuffer::fill_bytes(unsigned char value) {
  if (kind_ == DeviceKind::sim)
    return simdev::fill(ptr_, value, bytes_);
  const cuda::Api& a = cuda::api("filling device memory");
  cuda::make_current(device_);
  cuda::check(a.cuMemsetD8(ptr_, value, bytes_), "cuMemsetD8", "filling device memory");
}

TensorView DeviceBuffer::view(DType dtype, std::initializer_list<int64_t> shape) const {
  TensorView v(data(), dtype, shape, kind_);
  v.device_index = device_;
  if (uint64_t(v.numel()) * dtype_bytes(dtype) > bytes_)
    throw Error("DeviceBuffer::view: " + std::to_string(v.numel()) + " elements of " +
                dtype_name(dtype) + " do not fit in " + std::to_string(bytes_) + " bytes");
  return v;
}

} // namespace tessel::runtime
