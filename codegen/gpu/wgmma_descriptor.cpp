// The wgmma matrix descriptor's bit packing (wgmma_descriptor.h).
#include "codegen/gpu/wgmma_descriptor.h"

#include "tessel/error.h"

namespace tessel::codegen::gpu {

namespace {

// A 14-bit field holding `bytes >> 4`.
uint64_t field14(uint32_t bytes) {
  TESSEL_ASSERT(bytes % 16 == 0 && bytes < (1u << 18),
                "a wgmma descriptor address or offset must be a multiple of 16 below 2^18");
  return (bytes >> 4) & 0x3FFF;
}

} // namespace

WgmmaSwizzle wgmma_swizzle_of_width(int32_t bytes) {
  switch (bytes) {
  case 128:
    return WgmmaSwizzle::B128;
  case 64:
    return WgmmaSwizzle::B64;
  case 32:
    return WgmmaSwizzle::B32;
  }
  TESSEL_UNREACHABLE("a wgmma swizzle is 32, 64 or 128 bytes wide");
}

uint64_t encode_wgmma_descriptor(const WgmmaDescriptor& d) {
  TESSEL_ASSERT(d.base_offset < 8, "the wgmma descriptor's base offset has 3 bits");
  return field14(d.start_address) | field14(d.leading_byte_offset) << 16 |
         field14(d.stride_byte_offset) << 32 | uint64_t(d.base_offset) << 49 |
         uint64_t(static_cast<uint8_t>(d.swizzle)) << 62;
}

} // namespace tessel::codegen::gpu
