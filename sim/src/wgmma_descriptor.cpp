// The wgmma matrix descriptor, decoded as the PTX ISA defines it, and the canonical
// shared-memory layouts it describes (in units of 16 bytes, T = 16 / element size):
//   K-major,  no swizzle: ((8,m),(T,2)) : ((16 B, SBO), (1, LBO))
//   K-major,  W-byte swizzle (W = 32/64/128): ((8,m),(T,2)) : ((W, SBO), (1, 16 B))
//   MN-major, no swizzle: ((T,m),(8,k)) : ((1, SBO), (16 B, LBO))
//   MN-major, W-byte swizzle: ((T,W/16,m),(8,k)) : ((1, 16 B, LBO), (W, SBO))
// A swizzled address then has its 16-byte chunk bits 4.. XORed with its row bits 7.. (1, 2 or 3
// bits for 32/64/128 B), on the absolute shared address: the same pattern TMA writes
// (exec_tma.cpp), so a tile TMA stored with a swizzle mode is read back by the same mode.
#include "wgmma.h"

#include <fmt/format.h>

namespace tessel::sim {

namespace {

uint32_t field(uint64_t bits, unsigned lo, unsigned width) {
  return static_cast<uint32_t>((bits >> lo) & ((uint64_t(1) << width) - 1));
}

// The swizzle's row width in bytes; 16 (one core-matrix row) without swizzle.
unsigned row_bytes(WgmmaSwizzle s) {
  switch (s) {
  case WgmmaSwizzle::none:
    return 16;
  case WgmmaSwizzle::b32:
    return 32;
  case WgmmaSwizzle::b64:
    return 64;
  case WgmmaSwizzle::b128:
    return 128;
  }
  return 16;
}

// Row bits (from bit 7) that the swizzle XORs into the chunk bits (from bit 4).
uint32_t phase_mask(WgmmaSwizzle s) { return row_bytes(s) / 16 - 1; }

} // namespace

MatrixDescriptor decode_matrix_descriptor(uint64_t bits) {
  MatrixDescriptor d;
  d.start = field(bits, 0, 14) << 4;
  d.leading = field(bits, 16, 14) << 4;
  d.stride = field(bits, 32, 14) << 4;
  d.base_offset = field(bits, 49, 3);
  d.swizzle = static_cast<WgmmaSwizzle>(field(bits, 62, 2));
  return d;
}

const char* swizzle_name(WgmmaSwizzle s) {
  switch (s) {
  case WgmmaSwizzle::none:
    return "no swizzle (interleave)";
  case WgmmaSwizzle::b32:
    return "32B swizzle";
  case WgmmaSwizzle::b64:
    return "64B swizzle";
  case WgmmaSwizzle::b128:
    return "128B swizzle";
  }
  return "?";
}

std::string descriptor_error(const MatrixDescriptor& d) {
  if (d.swizzle == WgmmaSwizzle::none)
    return "";
  const uint32_t mask = phase_mask(d.swizzle);
  const uint32_t phase = (d.start >> 7) & mask;
  if (phase == (d.base_offset & mask))
    return "";
  return fmt::format("the {} pattern repeats every {} bytes, but the start address {:#x} is {} "
                     "bytes past a repeat and the base offset is {}: set the base offset to "
                     "(start >> 7) & 7 = {} or align the tile to {} bytes",
                     swizzle_name(d.swizzle), row_bytes(d.swizzle) * 8, d.start,
                     d.start % (row_bytes(d.swizzle) * 8), d.base_offset, (d.start >> 7) & 7,
                     row_bytes(d.swizzle) * 8);
}

uint32_t descriptor_element_address(const MatrixDescriptor& d, unsigned mn, unsigned k,
                                    unsigned esize, bool mn_major) {
  const uint32_t w = row_bytes(d.swizzle);
  const bool swizzled = d.swizzle != WgmmaSwizzle::none;
  uint32_t a = d.start;
  if (!mn_major) {
    const uint32_t kb = k * esize; // bytes along K (< 32 for one wgmma)
    a += (mn % 8) * w + (mn / 8) * d.stride;
    a += swizzled ? kb : (kb % 16) + (kb / 16) * d.leading;
  } else {
    const uint32_t mb = mn * esize; // bytes along M/N
    if (swizzled)
      a += (mb % w) + (mb / w) * d.leading + (k % 8) * w + (k / 8) * d.stride;
    else
      a += (mb % 16) + (mb / 16) * d.stride + (k % 8) * 16 + (k / 8) * d.leading;
  }
  if (swizzled)
    a ^= ((a >> 7) & phase_mask(d.swizzle)) << 4;
  return a;
}

} // namespace tessel::sim
