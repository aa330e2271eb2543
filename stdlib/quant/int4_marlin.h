// The Marlin-style int4 layout (Int4Layout::marlin, tessel/ops/quant.h): where weight (k, n) of an
// [K, N] matrix lives in the packed bytes. Host code here; quant_kernels.cpp computes the same map
// in the tile language. Private to stdlib/quant/ and tests/stdlib/.
#pragma once

#include <cstdint>

namespace tessel::ops::detail {

// The byte of weight (k, n) and the nibble in it (0: low, 1: high). Requires K % 16 == 0 and
// N % 64 == 0 (n_cols = N).
//
// Tile (k / 16, n / 64) is 512 contiguous bytes, 16 per lane. In the tile, with kk = k % 16,
// nn = n % 64 and j = nn / 8 the n8 block, the mma.sync.m16n8k16 B fragment puts the weight in
// lane (nn % 8) * 4 + (kk % 8) / 2, as element kk % 2 of register kk / 8. Word j / 2 of the lane
// holds blocks 2i and 2i + 1; its nibble slots (4 bits each, slot s at bit 4s) hold Marlin's
// interleave: slot 0, 4 = block 2i register 0 (elements 0, 1), slot 1, 5 = block 2i register 1,
// slots 2, 6 and 3, 7 = block 2i + 1. So the slot is 2 (j % 2) + kk / 8 + 4 (kk % 2), its byte in
// the word (j % 2) + 2 (kk % 2) and its nibble kk / 8.
struct NibbleAt {
  int64_t byte;
  int nibble;
};

inline NibbleAt marlin_nibble_at(int64_t k, int64_t n, int64_t n_cols) {
  const int64_t kt = k / 16, kk = k % 16, nt = n / 64, nn = n % 64, j = nn / 8;
  const int64_t lane = (nn % 8) * 4 + (kk % 8) / 2;
  const int64_t byte = (j / 2) * 4 + (j % 2) + 2 * (kk % 2);
  return {((kt * (n_cols / 64) + nt) * 32 + lane) * 16 + byte, int(kk / 8)};
}

} // namespace tessel::ops::detail
