// 2:4 sparse tensor cores: which mma.sp a `dot_sparse` runs on, and the fragments of
// mma.sp.sync.aligned.m16n8k{16,32}.row.col (f16/bf16 operands) as linear layouts, tiled over warps
// and repetitions as mma_layout.h tiles the dense mma's.
//
// One instruction, lane = 4 g + t (g = lane / 4, t = lane % 4), the PTX ISA's tables ("Matrix
// fragments for mma.sp.m16n8k16 / m16n8k32 with floating point type"):
//
//   A, compressed 16 x K/2   element (g + 8 i, 2 t + x + 8 j)   register bits x, i (and j at k32):
//                            the dense m16n8k8 (k16) or m16n8k16 (k32) A fragment of K/2 columns
//   B, K x 8                 element (2 t + x + 8 j, g)         register bits x, j (j: 1 bit at
//                            k16, 2 at k32): the dense k16 B fragment, twice along K at k32
//   C, D 16 x 8              the dense accumulator (mma_acc_layout)
//   metadata, 16 x K/16 i16  one 32-bit register per thread: word (g, c) in its low half and word
//                            (g + 8, c) in its high half, from the lanes the sparsity selector
//                            names -- k16: one word per row, lane t = selector (0 here); k32: two
//                            words per row, word c from lane t = 2 selector + c.
//
// As a layout of the M x K/16 i16 tile (two registers per instruction, the low and high halves):
// register bases (8, 0) then the repetitions; lane bases, k32: (0, 1) (0, 0) (1, 0) (2, 0) (4, 0)
// (t = 0, 1 hold words 0, 1; t = 2, 3 repeat them and are not read, selector 0), k16: (0, 0) (0, 0)
// (1, 0) (2, 0) (4, 0). The warps are A's (mma_warps' grid; replicated over the warps along N).
// Register bits in the order: the instruction's, the repetitions along K, then along M (A and the
// metadata) or N (B) -- as mma_layout.h's, so a k32 A and B are exactly mma_operand_layout's
// m16n8k16 A of the K/2 columns and B of the K rows (tested).
#pragma once

#include "codegen/gpu/linear_layout.h"
#include "codegen/gpu/mma_layout.h"
#include "tessel/codegen/target.h"
#include "tessel/ir/ir.h"

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace tessel::codegen::gpu {

// The mma.sp a dot_sparse runs on: the dense row of the same types (F16_F32, BF16_F32, F16_F16;
// mma.sp's m and n are its m16n8) and the sparse instruction's k (32: 16 compressed columns).
struct MmaSp {
  MmaInstr dense;
  int k = 32;
};

// The instruction for `dot` (a dot_sparse) on `target`, or nullopt with the reason in `why`:
// the target needs mma.sync (sm_80+), the tile at least 16 x 8 x 32 (M x N x K). K = 16 tiles
// (the m16n8k16 form) are not emitted yet: their layouts are below, the lowering takes k32 only.
std::optional<MmaSp> select_mma_sp(const ir::Op& dot, const Target& target,
                                   std::string* why = nullptr);

// The compressed A (shape M x K/2) of instruction k `k_instr` (16 or 32).
LinearLayout mma_sp_a_layout(int k_instr, const std::vector<int32_t>& shape,
                             std::array<int32_t, 2> warps, int num_warps);
// B (shape K x N).
LinearLayout mma_sp_b_layout(int k_instr, const std::vector<int32_t>& shape,
                             std::array<int32_t, 2> warps, int num_warps);
// The metadata (shape M x K/16, i16), sparsity selector 0.
LinearLayout mma_sp_meta_layout(int k_instr, const std::vector<int32_t>& shape,
                                std::array<int32_t, 2> warps, int num_warps);

} // namespace tessel::codegen::gpu
