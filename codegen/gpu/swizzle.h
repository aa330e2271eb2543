// Private to codegen/gpu: bank-conflict-free shared-memory layouts for the buffers through which
// layout conversions and cross-warp reductions exchange registers.
//
// A buffer holds a tensor row-major (flat index i, a power of two in size). Element i lives at
// `Swizzle::apply(i)`: i XOR a GF(2)-linear function of its "row" bits (the bits above one
// 128-byte line) placed in its bank bits (the bits that pick the 4-byte word within the line,
// above the `vec_bits` of an access's run) — the column's vector index is XORed with row bits, as
// in Triton's swizzled shared layouts, with one free mask per row bit. The low `vec_bits` stay
// put, so a thread's run of contiguous elements stays contiguous and aligned and moves with one
// 8- or 16-byte access; the row bits are unchanged, so the map is a bijection on [0, numel).
//
// The swizzle and each side's access width are computed from the two distributed layouts
// (linear layouts): every warp-wide access the lowering will emit is enumerated (one per group of
// `vec` contiguous registers and warp; writes by owners of replicated copies only, reads by every
// lane), its 32 lanes' byte offsets computed, and wavefronts counted by the ISA's rules (accesses
// of 4 bytes or less: one phase of 32 lanes; 8 bytes: two phases of 16 lanes; 16 bytes: four
// phases of 8 lanes; a phase needs as many wavefronts as the most distinct 4-byte words any bank
// must serve). The masks are searched greedily, one row bit at a time, until every access needs
// one wavefront per phase; narrower accesses are tried only when the widest cannot get there.
#pragma once

#include "codegen/gpu/linear_layout.h"
#include "tessel/codegen/gpu.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tessel::codegen::gpu::detail {

struct Swizzle {
  int vec_bits = 0;                           // elements per unswizzled run: 2^vec_bits
  std::vector<std::pair<int, int64_t>> masks; // (row bit, value XORed into i when it is set)

  int64_t apply(int64_t i) const {
    for (const auto& [bit, mask] : masks)
      if (i >> bit & 1)
        i ^= mask;
    return i;
  }
};

// How one side (writer or reader) of a buffer accesses it.
struct AccessSide {
  const LinearLayout* layout;
  int vec = 1; // contiguous registers per access (a power of two)
  bool store = false;
  bool owners_only = false;     // writers: one copy of each element
  std::vector<int> ignore_warp; // warp bits that are not replication (reduction groups)
  // Readers of integer and pointer tensors: those mostly feed vectorized global accesses, which
  // use only the first element of each run, and LLVM then narrows the shared load to that
  // element; the swizzle must keep those narrowed loads conflict-free too.
  bool narrowable = false;
};

// Elements per access for `l`: its contiguous registers along the last dimension, at most 16
// bytes.
int access_vector(const LinearLayout& l, int64_t elem_bytes);

// Every warp-wide access of `side` to a buffer swizzled by `s`, with byte offsets per lane.
// With `first_only`, just the first (all the others are it with every offset XORed by one
// constant, which moves no two words into or out of one bank: the layout and the swizzle are
// linear, so their costs are equal).
std::vector<SharedAccess> enumerate_accesses(const AccessSide& side, const Swizzle& s,
                                             int64_t elem_bytes, const std::string& what,
                                             bool first_only = false);

// Wavefronts one access needs, and the conflict-free minimum (its active phases).
int64_t access_wavefronts(const SharedAccess& a);
int64_t access_phases(const SharedAccess& a);

// The swizzle minimising the bank conflicts, then wavefronts, then accesses of both sides; sets
// `write.vec` and `read.vec` (at most their initial values) to the access widths it assumes.
// `numel` is the buffer's element count (a power of two).
Swizzle choose_swizzle(AccessSide& write, AccessSide& read, int64_t numel, int64_t elem_bytes);

} // namespace tessel::codegen::gpu::detail
