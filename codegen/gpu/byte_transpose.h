// Private to codegen/gpu: reading an 8-bit k32 B operand stored along N (row-major K x N, the
// usual weight layout; fp8 attention's V) with ldmatrix.trans and prmt instead of one
// ld.shared.u8 per byte.
//
// The k32 B fragment's register holds 4 consecutive k of one column n = g (lane = 4 g + t), and
// ldmatrix (either form) hands lane g a 2-byte unit of columns 2g, 2g + 1 of a 16-byte row, so in
// the instruction's own column order no lane receives its bytes. The instruction's column order
// is free, though, as long as the accumulator follows it: `pair_columns` renumbers the columns of
// each 16 (n bits 0, 1, 2, 3 <- the instruction's n bits 1, 2, 3 and its second n8 repetition's
// bit), so that lane g's columns of two n8 repetitions are the pair 2g, 2g + 1. Then one
// ldmatrix.x4.trans (matrix rows: k = 4 t + x0 + 2 x1 + 16 j, matrix index x1 + 2 j) gives lane
// (g, t) the words W(x1, j) = [b(4t + 2x1, 2g), b(.., 2g + 1), b(4t + 2x1 + 1, 2g), b(.., 2g + 1)]
// (bytes 0..3, little-endian), and the register of repetition p (0, 1) is
//     prmt.b32 d, W(0, j), W(1, j), p ? 0x7531 : 0x6420
// (bytes p, 2 + p of the first word, then of the second: k = 4t .. 4t + 3 of column 2g + p). Per
// k32 step and pair of n8 repetitions: 1 ldmatrix.x4 and 4 prmt for 16 registers' 64 bytes.
// The accumulator of such a dot is pair_accumulator of the usual one (thread (g, t) then holds
// columns 4t .. 4t + 3 of each 16, as consecutive registers); the layouts stay linear, and
// everything downstream (epilogue conversions, loop carries) follows the layouts it is given.
#pragma once

#include "codegen/gpu/linear_layout.h"
#include "codegen/gpu/mma_layout.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace tessel::codegen::gpu {

// `l` with each basis' column coordinate (dim 1) renumbered: bits 0, 1, 2, 3 -> 1, 2, 3, 0 (higher
// bits kept). Requires: out_shape()[1] >= 16.
LinearLayout pair_columns(const LinearLayout& l);

// The accumulator of a paired dot: pair_columns(acc) with the register bit of its first n8
// repetition (column bit 0 after pairing) moved to register bit 0, so that a thread's 4
// consecutive columns (4t .. 4t + 3 of each 16) are 4 consecutive registers and the epilogue's
// shared and global accesses stay vectors. Requires: acc an mma_acc_layout with a register basis
// (0, 8).
LinearLayout pair_accumulator(const LinearLayout& acc);
// Register `r` of the usual accumulator order (`acc`, as lower_mma.cpp's loops walk it) in
// pair_accumulator(acc)'s order.
int32_t paired_register(const LinearLayout& acc, int32_t r);

// True when an 8-bit B operand layout `b` (mma_operand_layout of a k32 row, K x N) can be read
// paired: it has two n8 repetitions in a warp (a register basis (0, 8)).
bool can_pair_columns(const LinearLayout& b);

// True when `pb` is an 8-bit k32 B operand layout in the paired order (pair_columns of one that
// can_pair_columns).
bool is_paired_b(const LinearLayout& pb);

// The rows one ldmatrix.x4.trans of a paired B layout `pb` (pair_columns of mma_operand_layout)
// reads, as a (register, lane, warp) -> (k, n) layout in which each lane's first 16 registers
// are the 16 bytes of its row (n bits 0..3) and the rest enumerate the instructions: the read side
// of the swizzle search for the buffer.
LinearLayout byte_transpose_rows(const LinearLayout& pb);

// How a paired B operand is read, from its `offsets` (buffer_offsets, in bytes): None unless
// the layout is pair_columns' and every row the ldmatrix reads is 16 whole bytes (the swizzle
// keeps n bits 0..3 in place).
struct ByteTranspose {
  LdMatrix plan;           // .x4.trans in 2-byte units: (group, lane, warp) -> row start
  int pair_bit = -1;       // the register bit of the byte within a pair (the n8 repetition p)
  int num_regs = 0;        // registers of the operand
  std::vector<int> groups; // the register bits that pick the ldmatrix call (group), in order
  // Where register r's byte comes from: group q's matrix m (x1 + 2 j), byte b of lane's word.
  struct Source {
    int32_t group, matrix, byte;
  };
  Source source(int32_t r) const;
};
std::optional<ByteTranspose> plan_byte_transpose(const LinearLayout& offsets);

// The prmt.b32 selector of repetition p's register from W(0, j) (bytes 0..3) and W(1, j) (4..7).
constexpr uint32_t pair_selector(int p) { return p ? 0x7531u : 0x6420u; }

} // namespace tessel::codegen::gpu
