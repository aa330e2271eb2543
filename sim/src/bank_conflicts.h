// Shared-memory bank-conflict accounting. Shared memory has 32 banks of 4 bytes; word w
// (byte offset / 4) lives in bank w % 32. A warp-wide access is split into phases of 128
// bytes of requests: all 32 lanes for accesses of up to 4 bytes, half-warps (16 lanes) for
// 8-byte accesses, quarter-warps (8 lanes) for 16-byte accesses. Each phase needs as many
// wavefronts as the largest number of *distinct* words any one bank must deliver (lanes
// reading the same word share it: broadcast). The ideal is one wavefront per phase that has
// an active lane. ldmatrix is accounted as one 8-lane, 16-byte phase per 8x8 matrix.
#pragma once

#include <cstdint>

namespace tessel::sim {

// `offsets[l]` is lane l's byte offset, `bytes` its access size; lanes outside `mask` are
// ignored. Returns the wavefronts and sets `*ideal`.
uint32_t shared_wavefronts(const uint32_t* offsets, uint32_t mask, uint32_t bytes, uint32_t* ideal);

} // namespace tessel::sim
