// The simulator's layout of a TensorMap's 128 bytes (private: kernels treat them as opaque).
#pragma once

#include <tessel/sim/tensor_map.h>

#include <cstdint>

namespace tessel::sim {

inline constexpr uint32_t kTensorMapMagic = 0x4d545354; // "TSTM"

struct TensorMapLayout {
  uint32_t magic = 0;
  uint8_t rank = 0;
  uint8_t element_size = 0;
  uint8_t swizzle = 0; // TensorMapSwizzle
  uint8_t reserved = 0;
  uint64_t global_address = 0;
  uint64_t global_dim[5] = {};
  uint64_t global_strides[4] = {};
  uint16_t box_dim[5] = {};
  uint8_t element_strides[5] = {};
};

// The byte offset a swizzle mode moves shared byte `offset` to: the 16-byte chunk index
// (bits 4..6) XOR the 128-byte row index (bits 7..9), masked to the span's chunks.
inline uint32_t swizzled_offset(uint32_t offset, uint8_t swizzle) {
  uint32_t chunks = swizzle == 3 ? 7 : swizzle == 2 ? 3 : swizzle == 1 ? 1 : 0;
  return offset ^ (((offset >> 7) & chunks) << 4);
}

} // namespace tessel::sim
