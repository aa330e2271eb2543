// Tensor maps for the simulated Tensor Memory Accelerator (cp.async.bulk.tensor): the host
// builds one from the same inputs as the CUDA driver's cuTensorMapEncodeTiled, validated by
// the same rules, and passes its 128 bytes to a kernel as a `.param .align 64 .b8 [128]`
// argument (a __grid_constant__ CUtensorMap) or in global memory. The runtime's simulated
// device calls encode_tensor_map_tiled where the real one calls the driver.
#pragma once

#include <tessel/sim/error.h>

#include <cstdint>

namespace tessel::sim {

// CUtensorMapDataType's tiled-mode types the simulator copies (by element size).
enum class TensorMapDtype : uint8_t { u8, u16, u32, s32, u64, s64, f16, f32, f64, bf16, tf32 };
// CUtensorMapSwizzle: the shared-memory pattern of the box (16-byte chunks XOR-permuted within
// each 32/64/128-byte span, by address bits 7..9).
enum class TensorMapSwizzle : uint8_t { none, b32, b64, b128 };

struct TensorMapSpec {
  TensorMapDtype dtype = TensorMapDtype::f32;
  uint32_t rank = 1;               // 1..5
  uint64_t global_address = 0;     // 16-byte aligned device address
  uint64_t global_dim[5] = {};     // elements, innermost first, 1..2^32
  uint64_t global_strides[4] = {}; // bytes of dims 1..rank-1: multiples of 16, < 2^40
  uint32_t box_dim[5] = {};        // 1..256; box_dim[0] * element size a multiple of 16
  uint32_t element_strides[5] = {1, 1, 1, 1, 1}; // 1..8 (the simulator copies stride 1 only)
  TensorMapSwizzle swizzle = TensorMapSwizzle::none;
};

// The opaque 128-byte object a kernel receives (same size and alignment as CUtensorMap).
struct alignas(64) TensorMap {
  uint8_t bytes[128] = {};
};

// Validates `spec` by cuTensorMapEncodeTiled's rules; the error names the rule and the field.
Result<TensorMap> encode_tensor_map_tiled(const TensorMapSpec& spec);

// Bytes of one element of `dtype`.
uint32_t tensor_map_element_size(TensorMapDtype dtype);

} // namespace tessel::sim
