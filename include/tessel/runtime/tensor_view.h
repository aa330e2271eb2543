// TensorView: a non-owning view of a buffer (pointer, element type, shape, strides, device) that
// kernels take as a pointer argument. DLPack import/export and device buffers come with the
// runtime work; on the CPU a TensorView is a host pointer with its dtype checked at launch.
#pragma once

#include "tessel/dtype.h"

#include <array>
#include <cstdint>
#include <initializer_list>

namespace tessel {

// Where memory lives and where a launch runs: the host, a CUDA GPU, or the PTX simulator's
// device (sim/, selected with TESSEL_DEVICE=sim; see runtime/device.h).
enum class DeviceKind : uint8_t { cpu, cuda, sim };
const char* device_kind_name(DeviceKind kind); // "cpu", "cuda", "sim"

struct TensorView {
  static constexpr int kMaxRank = 8;

  void* data = nullptr;
  DType dtype = DType::f32;
  int rank = 0;
  std::array<int64_t, kMaxRank> shape{};
  std::array<int64_t, kMaxRank> strides{}; // in elements
  DeviceKind device = DeviceKind::cpu;
  int device_index = 0;

  TensorView() = default;
  // A contiguous (row-major) view.
  TensorView(void* data, DType dtype, std::initializer_list<int64_t> shape,
             DeviceKind device = DeviceKind::cpu);
  template <Element T>
  TensorView(T* p, std::initializer_list<int64_t> shape)
      : TensorView(const_cast<std::remove_const_t<T>*>(p), dtype_of_v<T>, shape) {}

  int64_t numel() const;
};

} // namespace tessel
