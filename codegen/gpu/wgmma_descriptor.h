// The 64-bit shared-memory matrix descriptor of wgmma.mma_async (sm_90a): how an A or B operand
// tile is laid out in shared memory, which the instruction reads through the async proxy.
//
// PTX ISA, "Matrix Descriptor Format" (Asynchronous Warpgroup Level Matrix Shared Memory Layout):
//
//     bits  0-13  matrix start address >> 4        (matrix-descriptor-encode(x) = (x & 0x3FFFF) >>
//     4) bits 16-29  leading dimension byte offset >> 4 bits 32-45  stride dimension byte offset >>
//     4 bits 49-51  matrix base offset (0 when each swizzle pattern starts at its repeat boundary)
//     bits 62-63  swizzle mode: 0 none (interleave), 1 128-byte, 2 64-byte, 3 32-byte
//     other bits  zero
//
// The operand is made of core matrices of 8 rows x 16 bytes. With a swizzle of W bytes (32, 64
// or 128), rows of W bytes run along the operand's contiguous dimension and 8 of them form one
// swizzle atom of 8 W bytes, in which 16-byte chunk c of row r sits at chunk c ^ (r / (128 / W)) %
// (W / 16) (wgmma_layout.h writes that map as a linear layout). What the two offsets mean
// depends on which dimension is contiguous:
//   - K-major (A row-major M x K, B stored N x K): stride = from one 8-row group (along M or N) to
//     the next, 8 W when the rows are packed; leading = unused for swizzled layouts, encoded 1.
//   - MN-major (A stored K x M, B row-major K x N; wgmma's imm-trans-a / imm-trans-b = 1):
//     stride = from one group of 8 K rows to the next (8 W packed); leading = from one W-byte
//     column of atoms along M or N to the next.
#pragma once

#include <cstdint>

namespace tessel::codegen::gpu {

// The descriptor's swizzle-mode field (bits 62-63), by its encoding.
enum class WgmmaSwizzle : uint8_t { None = 0, B128 = 1, B64 = 2, B32 = 3 };

// The swizzle mode of rows of `bytes` (32, 64 or 128) bytes.
WgmmaSwizzle wgmma_swizzle_of_width(int32_t bytes);

// The descriptor's fields, in bytes (start, offsets) as the ISA defines them.
struct WgmmaDescriptor {
  uint32_t start_address = 0;       // shared-window address of the first element; multiple of 16
  uint32_t leading_byte_offset = 0; // multiple of 16
  uint32_t stride_byte_offset = 0;  // multiple of 16
  uint32_t base_offset = 0;         // 0..7
  WgmmaSwizzle swizzle = WgmmaSwizzle::None;
};

// The 64-bit descriptor. Requires: addresses and offsets multiples of 16 and below 2^18,
// base_offset < 8 (TESSEL_ASSERT: codegen builds these, never a user).
uint64_t encode_wgmma_descriptor(const WgmmaDescriptor& d);

} // namespace tessel::codegen::gpu
