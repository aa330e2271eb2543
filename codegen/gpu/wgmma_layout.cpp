// The wgmma accumulator, shared-operand and instruction-start layouts (wgmma_layout.h).
#include "codegen/gpu/wgmma_layout.h"

#include "tessel/error.h"

#include <algorithm>

namespace tessel::codegen::gpu {

namespace {

using Basis = LinearLayout::Basis;
using Bases = std::array<std::vector<Basis>, kNumInDims>;

constexpr int kReg = static_cast<int>(InDim::Register);
constexpr int kLane = static_cast<int>(InDim::Lane);
constexpr int kWarp = static_cast<int>(InDim::Warp);

Basis at(int32_t row, int32_t col) { return Basis{row, col}; }

// Steps of `step`, 2 step, ... below `extent` along rows or columns.
void repeat(std::vector<Basis>& out, int32_t step, int32_t extent, bool along_rows) {
  for (int32_t s = step; s < extent; s *= 2)
    out.push_back(along_rows ? at(s, 0) : at(0, s));
}

// The warpgroup grid's warp bases after the warpgroup's own two: M bits, then N bits; `keep_m`
// and `keep_n` zero the other dimension's (an operand is shared by the warpgroups of one row).
void grid_bases(std::vector<Basis>& out, const WgmmaShape& s, bool keep_m, bool keep_n) {
  for (int32_t g = 1; g < s.warpgroups[0]; g *= 2)
    out.push_back(keep_m ? at(s.wg_m() * g, 0) : at(0, 0));
  for (int32_t g = 1; g < s.warpgroups[1]; g *= 2)
    out.push_back(keep_n ? at(0, s.wg_n() * g) : at(0, 0));
}

} // namespace

std::optional<std::array<int32_t, 2>> wgmma_warpgroups(int32_t m, int32_t n, int num_warps) {
  if (num_warps % kWarpgroupWarps != 0 || m < kWgmmaM || n < 8)
    return std::nullopt;
  std::array<int32_t, 2> g{1, 1};
  for (int placed = 1; placed < num_warps / kWarpgroupWarps; placed *= 2) {
    const int32_t tile_m = m / g[0], tile_n = n / g[1];
    const bool can_m = tile_m >= 2 * kWgmmaM, can_n = tile_n >= 16;
    if (can_m && (tile_m >= tile_n || !can_n))
      g[0] *= 2;
    else if (can_n)
      g[1] *= 2;
    else
      return std::nullopt; // more warpgroups than the tile has 64 x 8 parts
  }
  return g;
}

LinearLayout wgmma_acc_layout(const WgmmaShape& s) {
  Bases b;
  b[kReg] = {at(0, 1), at(8, 0)};
  repeat(b[kReg], 8, s.instr_n, /*along_rows=*/false);        // the instruction's j
  repeat(b[kReg], s.instr_n, s.wg_n(), /*along_rows=*/false); // repetitions along N
  repeat(b[kReg], kWgmmaM, s.wg_m(), /*along_rows=*/true);    // repetitions along M
  b[kLane] = {at(0, 2), at(0, 4), at(1, 0), at(2, 0), at(4, 0)};
  b[kWarp] = {at(16, 0), at(32, 0)};
  grid_bases(b[kWarp], s, /*keep_m=*/true, /*keep_n=*/true);
  return LinearLayout(std::move(b), {s.m, s.n});
}

LinearLayout wgmma_a_register_layout(const WgmmaShape& s) {
  TESSEL_ASSERT(!wgmma_needs_k_major(s.instr), "the A-fragment layout is the 16-bit types' one");
  Bases b;
  b[kReg] = {at(0, 1), at(8, 0), at(0, 8)};
  repeat(b[kReg], kWgmmaK, s.k, /*along_rows=*/false);     // the K steps
  repeat(b[kReg], kWgmmaM, s.wg_m(), /*along_rows=*/true); // repetitions along M
  b[kLane] = {at(0, 2), at(0, 4), at(1, 0), at(2, 0), at(4, 0)};
  b[kWarp] = {at(16, 0), at(32, 0)};
  grid_bases(b[kWarp], s, /*keep_m=*/true, /*keep_n=*/false);
  return LinearLayout(std::move(b), {s.m, s.k});
}

LinearLayout wgmma_shared_layout(const std::vector<int32_t>& shape, int contiguous,
                                 int elem_bytes) {
  TESSEL_ASSERT(shape.size() == 2 && (contiguous == 0 || contiguous == 1), "a 2-d operand tile");
  const int strided = 1 - contiguous;
  const int32_t cols = shape[contiguous], rows = shape[strided];
  TESSEL_ASSERT(cols * elem_bytes >= 32 && rows >= 8,
                "a wgmma operand has rows of 32 bytes or more, 8 rows or more");
  const int32_t width = std::min<int32_t>(128, cols * elem_bytes); // W, bytes
  const int32_t per_row = width / elem_bytes;                      // elements in a W-byte row
  const int32_t vec = 16 / elem_bytes;                             // elements in a 16-byte chunk
  const int32_t max_phase = width / 16, per_phase = 128 / width;
  auto coord = [&](int32_t along_strided, int32_t along_contiguous) {
    Basis c(2, 0);
    c[strided] = along_strided;
    c[contiguous] = along_contiguous;
    return c;
  };
  Bases b;
  for (int32_t c = 1; c < per_row; c *= 2)
    b[kReg].push_back(coord(0, c));
  for (int32_t r = 1; r < rows; r *= 2) {
    // Row bit r moves the chunk by r / per_phase when it is one of the swizzle's phase bits.
    const int32_t phase_bit = r / per_phase;
    const bool swizzles = r >= per_phase && phase_bit < max_phase;
    b[kReg].push_back(coord(r, swizzles ? vec * phase_bit : 0));
  }
  for (int32_t c = per_row; c < cols; c *= 2) // the W-byte columns, one after the other
    b[kReg].push_back(coord(0, c));
  return LinearLayout(std::move(b), shape);
}

std::optional<WgmmaOperand> wgmma_operand_of(const LinearLayout& shared, int elem_bytes) {
  const std::vector<int32_t>& shape = shared.out_shape();
  if (shape.size() != 2)
    return std::nullopt;
  for (int contiguous : {1, 0}) {
    const int32_t cols = shape[contiguous], rows = shape[1 - contiguous];
    if (cols * elem_bytes < 32 || rows < 8)
      continue;
    if (wgmma_shared_layout(shape, contiguous, elem_bytes) == shared)
      return WgmmaOperand{contiguous, std::min<int32_t>(128, cols * elem_bytes), rows};
  }
  return std::nullopt;
}

WgmmaDescriptor wgmma_descriptor_of(const WgmmaOperand& o, int opidx, bool* transposed) {
  // K is A's dimension 1 and B's dimension 0: the operand is K-major when K is contiguous.
  const int k_dim = opidx == 0 ? 1 : 0;
  const bool k_major = o.contiguous == k_dim;
  WgmmaDescriptor d;
  d.swizzle = wgmma_swizzle_of_width(o.swizzle_bytes);
  d.stride_byte_offset = 8 * static_cast<uint32_t>(o.swizzle_bytes); // the next 8 rows
  // K-major: unused by swizzled layouts, encoded 1. MN-major: the next W-byte column of atoms.
  d.leading_byte_offset = k_major ? 16 : static_cast<uint32_t>(o.rows * o.swizzle_bytes);
  if (transposed)
    *transposed = !k_major;
  return d;
}

LinearLayout wgmma_start_layout(const WgmmaShape& s, int opidx) {
  TESSEL_ASSERT(opidx == 0 || opidx == 1, "a wgmma operand is A (0) or B (1)");
  Bases b;
  b[kWarp] = {at(0, 0), at(0, 0)}; // the 4 warps of a warpgroup read one tile
  if (opidx == 0) {                // A: M x K
    repeat(b[kReg], s.instr_k(), s.k, /*along_rows=*/false);
    repeat(b[kReg], kWgmmaM, s.wg_m(), /*along_rows=*/true);
    grid_bases(b[kWarp], s, /*keep_m=*/true, /*keep_n=*/false);
    return LinearLayout(std::move(b), {s.m, s.k});
  }
  repeat(b[kReg], s.instr_k(), s.k, /*along_rows=*/true); // B: K x N
  repeat(b[kReg], s.instr_n, s.wg_n(), /*along_rows=*/false);
  grid_bases(b[kWarp], s, /*keep_m=*/false, /*keep_n=*/true);
  return LinearLayout(std::move(b), {s.k, s.n});
}

} // namespace tessel::codegen::gpu
