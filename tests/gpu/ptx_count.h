// How often a piece of PTX text occurs in a kernel (an exact instruction form, e.g.
// "ld.shared.u8" or "ldmatrix.sync.aligned.m8n8.x4.shared.b16"), for tests that need finer
// counts than ptx_stats' per-opcode buckets.
#pragma once

#include <cstddef>
#include <string>

namespace tessel::codegen::gpu {

inline size_t count_in_ptx(const std::string& ptx, const std::string& what) {
  size_t n = 0;
  for (size_t at = ptx.find(what); at != std::string::npos; at = ptx.find(what, at + 1))
    ++n;
  return n;
}

} // namespace tessel::codegen::gpu
