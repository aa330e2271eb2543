// Warpgroup tensor-core layouts (sm_90a): the accumulator of wgmma.mma_async m64nNk16 tiled over
// warpgroups and repetitions, the shared-memory layout its A and B operands are read from (the
// canonical layouts a matrix descriptor describes: wgmma_descriptor.h), and where each
// instruction's operand tile starts in its buffer.
//
// A warpgroup is 4 consecutive warps (128 threads) issuing one wgmma together. One m64nNk16
// instruction (N a multiple of 8 up to 256) leaves in warp w of the warpgroup, lane = 4 g + t,
// registers d[0 .. N/2), as the PTX ISA's figure for the m64nN accumulator D shows:
//
//     d[4 j + 2 i + x] = D(16 w + g + 8 i, 8 j + 2 t + x)      x, i in {0,1}, j in [0, N/8)
//
// so register bases (0,1) (8,0) (0,8) (0,16) ..., lane bases (0,2) (0,4) (1,0) (2,0) (4,0),
// warp bases (16,0) (32,0): per warp the mma.sync m16n8 accumulator repeated along N. E.g. for
// m64n16, lane 5 (g = 1, t = 1) of warp 2 holds (33,2) (33,3) (41,2) (41,3) (33,10) (33,11)
// (41,10) (41,11) in d0..d7 (wgmma_layout_test checks the whole map against this formula).
//
// Over a dot's M x N tile the warpgroups form a grid gm x gn (wgmma_warpgroups); each warpgroup's
// M/gm x N/gn part is covered by instructions of N = min(256, N/gn) repeated along N, then along M
// in steps of 64 rows: register bits in the order the instruction's, then the repetitions along
// N, then along M; warp bits the warpgroup's two, then the grid's M bits, then its N bits.
// Postcondition of the accumulator layout: bijective (no replication: num_warps = 4 gm gn).
#pragma once

#include "codegen/gpu/linear_layout.h"
#include "codegen/gpu/mma_layout.h"
#include "codegen/gpu/wgmma_descriptor.h"

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace tessel::codegen::gpu {

constexpr int kWarpgroupWarps = 4;
constexpr int32_t kWgmmaM = 64;
constexpr int32_t kWgmmaK = 16; // f16 and bf16 operands; tf32 has k8, the 8-bit types k32
constexpr int32_t kWgmmaMaxN = 256;

// The K of one wgmma instruction for the row's operand type: 32 bytes of a K-major row for every
// dtype (k16 x 2 B = k8 x 4 B (tf32) = k32 x 1 B (s8, u8, e4m3, e5m2)), mma.sync's k as well.
inline int32_t wgmma_k(MmaInstr instr) { return mma_info(instr).k; }

// True when wgmma reads this row's operands from shared memory K-major only: the PTX ISA allows
// the transposed (MN-major) layouts, imm-trans-a/b, for 16-bit types alone; tf32 and the 8-bit
// types take no transpose immediates.
inline bool wgmma_needs_k_major(MmaInstr instr) { return mma_info(instr).operand_bits != 16; }

// How one dot runs on wgmma.
struct WgmmaShape {
  MmaInstr instr;                    // mma_instrs.def's row for the types (select_wgmma's list)
  int32_t m = 0, n = 0, k = 0;       // the dot's tile
  std::array<int32_t, 2> warpgroups; // along M and N
  int32_t instr_n = 0;               // the instruction's N: min(256, n / warpgroups[1])
  int32_t wg_m() const { return m / warpgroups[0]; }
  int32_t wg_n() const { return n / warpgroups[1]; }
  int32_t reps_m() const { return wg_m() / kWgmmaM; }
  int32_t reps_n() const { return wg_n() / instr_n; }
  int32_t instr_k() const { return wgmma_k(instr); }
  int32_t reps_k() const { return k / instr_k(); }
};

// Warpgroups along M and N (powers of two, product num_warps / 4) for an M x N output: starting
// from one, double num_warps / 4 times the dimension whose warpgroup tile is larger (M on ties)
// while halving it leaves at least 64 rows or 8 columns; nullopt when the warpgroups do not fit
// (num_warps not a multiple of 4, M below 64, N below 8, or too many warpgroups for the tile).
// Requires: M, N powers of two.
std::optional<std::array<int32_t, 2>> wgmma_warpgroups(int32_t m, int32_t n, int num_warps);

// The accumulator (and dot result) layout of `s` (see the file comment).
LinearLayout wgmma_acc_layout(const WgmmaShape& s);

// The register layout of A (M x K, 16-bit elements) for the wgmma form that reads A from
// registers (FA3's P operand): per warp of a warpgroup, instruction register i = 0..3 of lane
// 4 g + t holds the two elements (16 w + g + 8 (i & 1), 2 t + 8 (i >> 1) + {0, 1}) of each 16-wide
// K step, as the PTX ISA's figure for the m64nNk16 A fragment shows (the mma.sync m16n8k16 A
// fragment per warp). Register bases (0,1) (8,0) (0,8), then the K steps (0,16) .., then the
// repetitions along M (64,0) ..; lane bases (0,2) (0,4) (1,0) (2,0) (4,0); warp bases (16,0)
// (32,0), the grid's M bits, and zeros for its N bits (the warpgroups of one row of the grid
// hold the same A). With K = the N of a wgmma whose instruction covers the warpgroup's columns
// (instr_n = N, one warpgroup along N) this is that wgmma's accumulator layout exactly, so a
// softmax of a score tile can be handed to the next wgmma without moving an element.
LinearLayout wgmma_a_register_layout(const WgmmaShape& s);

// The shared-memory layout of a wgmma operand tile of `shape` (2-D) whose dimension `contiguous`
// is stored contiguously, in the canonical swizzled layout of the widest mode the tile allows:
// W = min(128, shape[contiguous] * elem_bytes) bytes per row; the tile is cut along its contiguous
// dimension into columns of W bytes, stored one after the other, each holding every row of the
// other dimension at a stride of W bytes; chunk c of row r at chunk c ^ (r / (128 / W)) % (W / 16)
// (for W <= 128 this is exactly mma_shared_layout). Register bases map the bits of an element's
// index in the buffer to its coordinates.
// Requires: powers of two, shape[contiguous] * elem_bytes >= 32, the other dimension >= 8.
LinearLayout wgmma_shared_layout(const std::vector<int32_t>& shape, int contiguous, int elem_bytes);

// What a wgmma reads from a buffer in a wgmma_shared_layout.
struct WgmmaOperand {
  int contiguous = 1;        // the buffer's contiguous dimension
  int32_t swizzle_bytes = 0; // W: 32, 64 or 128
  int32_t rows = 0;          // the extent of the other dimension
};
// The operand description of a buffer laid out `shared`, or nullopt when `shared` is no
// wgmma_shared_layout (the emission then refuses the dot: prepare-dot-operands did not run).
std::optional<WgmmaOperand> wgmma_operand_of(const LinearLayout& shared, int elem_bytes);

// The descriptor of operand `opidx` (0: A, M x K; 1: B, K x N) in a buffer `o`, start address 0
// (the emission adds each instruction's); true in `transposed` when the operand is MN-major
// (wgmma's imm-trans-a / imm-trans-b).
WgmmaDescriptor wgmma_descriptor_of(const WgmmaOperand& o, int opidx, bool* transposed);

// (register, warp) -> the coordinate of the first element of each instruction's operand tile:
// register bits the instr_k-element (32-byte) steps along K, then the repetitions along M (A) or N
// (B); warp bits as the accumulator's (the warpgroup's own two replicate: every warp of a warpgroup
// names the same tile). Compose with the buffer's layout (buffer_offsets) for element indices.
LinearLayout wgmma_start_layout(const WgmmaShape& s, int opidx);

} // namespace tessel::codegen::gpu
