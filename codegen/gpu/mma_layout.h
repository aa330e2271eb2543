// Tensor-core layouts: the fragments of mma.sync (which lane and register hold which element of
// the A, B and accumulator tiles of one instruction) as linear layouts, tiled over the warps and
// repeated over the dot's tile; and the swizzled shared-memory layout operands are staged in.
//
// One instruction m16n8kK (K = 256 / operand bits, e = 32 / operand bits elements per 32-bit
// register), lane = 4 g + t (g = lane / 4, t = lane % 4), as the PTX ISA tabulates it:
//
//     A (16 x K)  element (g + 8 i, e t + x + 4 e j)   register bits: x (log2 e bits), i, j
//     B (K x 8)   element (e t + x + 4 e j, g)         register bits: x, j
//     C (16 x 8)  element (g + 8 i, 2 t + x)           register bits: x, i
//
// so every basis is one bit of one coordinate and the maps are linear. E.g. f16 A: register
// bases (0,1) (8,0) (0,8), lane bases (0,2) (0,4) (1,0) (2,0) (4,0): lane 5 (g = 1, t = 1)
// holds (1,2) (1,3) (9,2) (9,3) (1,10) (1,11) (9,10) (9,11) in registers 0..7.
//
// Over a dot's M x N tile the warps form a grid wm x wn (mma_warps: the rule and why are in
// docs/gpu_codegen.md); each warp's M/wm x N/wn part is covered by repeating the instruction,
// register bits in the order: the instruction's, then repetitions along K (operands only), then
// along N (B, C), then along M (A, C). An operand is replicated over the warps of the other
// output dimension (zero warp bases): the warps of one row of the grid read the same A.
// Postcondition of every layout here: surjective; an operand's or accumulator's register count is
// a multiple of the instruction's.
#pragma once

#include "codegen/gpu/linear_layout.h"
#include "tessel/codegen/target.h"

#include <array>
#include <cstdint>
#include <vector>

namespace tessel::codegen::gpu {

enum class MmaInstr : uint8_t {
#define TESSEL_MMA(Id, ...) Id,
#include "codegen/gpu/mma_instrs.def"
#undef TESSEL_MMA
};

// One row of mma_instrs.def.
struct MmaInfo {
  MmaInstr id;
  const char* name; // "F16_F32"
  int m, n, k;
  const char* operand_ptx; // "f16"
  const char* acc_ptx;     // "f32"
  int operand_bits, acc_bits;
  bool (Target::*needs)() const;
  // Operand elements per 32-bit register.
  int per_register() const { return 32 / operand_bits; }
};
const MmaInfo& mma_info(MmaInstr id);

// Warps along M and N (each a power of two, product = num_warps) for an M x N output: start with
// one warp and double, num_warps times, the dimension whose warp tile is larger (in elements; M on
// ties) while that tile still holds more than one instruction along it; warps left over replicate
// (product below num_warps).
// Requires: M >= info.m, N >= info.n, all powers of two.
std::array<int32_t, 2> mma_warps(int32_t m, int32_t n, int num_warps, const MmaInfo& info);

// The accumulator (and dot result) layout of an M x N tile on `warps` (mma_warps) of a kernel of
// `num_warps` warps (the warps beyond warps[0] * warps[1] replicate).
LinearLayout mma_acc_layout(const MmaInfo& info, int32_t m, int32_t n, std::array<int32_t, 2> warps,
                            int num_warps);
// The layout operand `opidx` (0: A of shape M x K, 1: B of shape K x N) is read in.
// Requires: K a multiple of info.k.
LinearLayout mma_operand_layout(const MmaInfo& info, int opidx, const std::vector<int32_t>& shape,
                                std::array<int32_t, 2> warps, int num_warps);

// The shared-memory layout of an operand tile of `shape` (2-D) whose dimension `contiguous` is
// stored contiguously: register bases map the bits of an element's index in the buffer to its
// coordinates. The 16-byte chunks of a row are XOR-swizzled with the row bits: chunk c of row r
// goes to chunk c ^ ((r / per_phase) % max_phase), max_phase = min(8, chunks per row), per_phase =
// max(1, 8 / chunks per row) — the largest swizzle the row's width allows, so that any 8 rows'
// chunk c (one ldmatrix phase) fall into 8 different 16-byte bank groups, and 16-byte writes of
// consecutive chunks stay conflict-free. Requires: powers of two, elem_bytes in 1..8.
LinearLayout mma_shared_layout(const std::vector<int32_t>& shape, int contiguous, int elem_bytes);

// How a warp reads a 16-bit operand in `reg_layout` from a buffer in `shared_layout` with
// ldmatrix: None when it cannot (the fragments' 8-element rows are not 16 contiguous, aligned
// bytes of the buffer), else x1/x2/x4 and whether .trans. `offsets` = reg_layout composed with the
// inverse of shared_layout: (register, lane, warp) -> element index in the buffer.
struct LdMatrix {
  int num = 0; // matrices per instruction: 1, 2 or 4; 0: no ldmatrix
  bool trans = false;
  // (group, lane, warp) -> element index of the row address lane supplies; group q covers
  // registers [2 num q, 2 num (q + 1)).
  LinearLayout address;
};
LdMatrix plan_ldmatrix(const LinearLayout& offsets);

// reg_layout o shared_layout^-1 (see LdMatrix). Requires: shared_layout bijective, same shape.
LinearLayout buffer_offsets(const LinearLayout& reg_layout, const LinearLayout& shared_layout);

// Elements per shared access of `offsets` (a buffer_offsets result): the run of consecutive
// indices register 0 starts, at most 16 bytes, that every other basis keeps aligned.
int shared_access_width(const LinearLayout& offsets, int64_t elem_bytes);

} // namespace tessel::codegen::gpu
