// codegen/gpu/byte_transpose.h, element by element: (1) a dot whose 8-bit B and accumulator are in
// the paired column order still computes C = A B (every instruction's A, B and C fragment
// positions, from the PTX ISA's m16n8k32 tables written out here, name consistent elements of the
// tiles); (2) ldmatrix.x4.trans and prmt.b32, emulated here from the ISA's definitions, deliver to
// each lane and register the byte the operand layout says it holds, for a row-major and a
// chunk-swizzled buffer; (3) the rows the swizzle search is given are those ldmatrix reads.
#include "codegen/gpu/byte_transpose.h"
#include "codegen/gpu/mma_layout.h"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <tuple>
#include <vector>

namespace tessel::codegen::gpu {
namespace {

using Coord = std::vector<int32_t>;

// The ISA's m16n8k32 fragments (8-bit: s8, u8, e4m3, e5m2), element i of `lane`.
Coord isa_a(int lane, int i) {
  const int g = lane / 4, t = lane % 4;
  return {(i < 4 || (i >= 8 && i < 12)) ? g : g + 8, t * 4 + (i & 3) + (i >= 8 ? 16 : 0)};
}
Coord isa_b(int lane, int i) { return {(lane % 4) * 4 + (i & 3) + (i >= 4 ? 16 : 0), lane / 4}; }
Coord isa_c(int lane, int i) { return {lane / 4 + (i >= 2 ? 8 : 0), (lane % 4) * 2 + (i & 1)}; }

struct Tile {
  int32_t m, n, k;
  int warps;
};
// The matmul tiles of the int8/fp8 tests and fp8 attention's PV shapes; 16 x 8 x 32 on one warp
// (one n8 per warp) cannot be paired.
const Tile kTiles[] = {{64, 64, 64, 4},  {32, 32, 32, 4}, {16, 32, 64, 2}, {64, 128, 32, 8},
                       {128, 64, 64, 4}, {32, 64, 32, 4}, {16, 8, 32, 1}};

const MmaInfo& s8() { return mma_info(MmaInstr::S8_S32); }

std::array<int32_t, 2> warps_of(const Tile& t) { return mma_warps(t.m, t.n, t.warps, s8()); }

LinearLayout b_of(const Tile& t) {
  return mma_operand_layout(s8(), 1, {t.k, t.n}, warps_of(t), t.warps);
}

TEST(ByteTranspose, PairsOnlyWithTwoN8PerWarp) {
  int paired = 0;
  for (const Tile& t : kTiles) {
    const bool can = can_pair_columns(b_of(t));
    EXPECT_EQ(can, t.n / warps_of(t)[1] >= 16) << t.m << "x" << t.n;
    EXPECT_FALSE(is_paired_b(b_of(t)));
    if (can) {
      EXPECT_TRUE(is_paired_b(pair_columns(b_of(t))));
    }
    paired += can;
  }
  EXPECT_EQ(paired, 6);
}

// Every mma.sync of the dot (warp, mi, ni, ki; registers indexed as lower_mma.cpp packs them):
// A's (row, kk), B's (kk, col) and C's (row, col) positions of the instruction name tile elements
// with A's k = B's k, C = (A's m, B's n), and the warp's C covers each of its elements once.
TEST(ByteTranspose, PairedDotComputesTheProduct) {
  for (const Tile& t : kTiles) {
    const LinearLayout b0 = b_of(t);
    if (!can_pair_columns(b0))
      continue;
    const auto w = warps_of(t);
    const LinearLayout a = mma_operand_layout(s8(), 0, {t.m, t.k}, w, t.warps);
    const LinearLayout b = pair_columns(b0);
    const LinearLayout c0 = mma_acc_layout(s8(), t.m, t.n, w, t.warps);
    const LinearLayout c = pair_accumulator(c0);
    EXPECT_EQ(c.contiguous_registers(1), 4) << "a thread's 4 columns, consecutive registers";
    EXPECT_TRUE(b.is_surjective());
    EXPECT_TRUE(c.is_surjective());
    const int32_t reps_m = t.m / w[0] / 16, reps_n = t.n / w[1] / 8, reps_k = t.k / 32;
    for (int warp = 0; warp < t.warps; ++warp) {
      std::set<Coord> covered;
      for (int32_t mi = 0; mi < reps_m; ++mi)
        for (int32_t ni = 0; ni < reps_n; ++ni)
          for (int32_t ki = 0; ki < reps_k; ++ki) {
            std::array<std::array<Coord, 32>, 16> ta; // [row][kk] -> (m, k)
            std::array<std::array<Coord, 8>, 32> tb;  // [kk][col] -> (k, n)
            for (int lane = 0; lane < 32; ++lane) {
              for (int i = 0; i < 16; ++i) {
                const Coord p = isa_a(lane, i);
                ta[p[0]][p[1]] = a.apply(16 * (ki + reps_k * mi) + i, lane, warp);
              }
              for (int i = 0; i < 8; ++i) {
                const Coord p = isa_b(lane, i);
                tb[p[0]][p[1]] = b.apply(8 * (ki + reps_k * ni) + i, lane, warp);
              }
            }
            for (int lane = 0; lane < 32; ++lane)
              for (int i = 0; i < 4; ++i) {
                const Coord p = isa_c(lane, i);
                const Coord tc =
                    c.apply(paired_register(c0, 4 * (ni + reps_n * mi) + i), lane, warp);
                if (ki == 0) {
                  EXPECT_TRUE(covered.insert(tc).second) << "C twice in warp " << warp;
                }
                for (int kk = 0; kk < 32; ++kk) {
                  ASSERT_EQ(ta[p[0]][kk][1], tb[kk][p[1]][0]) << t.m << "x" << t.n << " k";
                  ASSERT_EQ(tc, (Coord{ta[p[0]][kk][0], tb[kk][p[1]][1]}))
                      << t.m << "x" << t.n << "x" << t.k << " warp " << warp << " lane " << lane
                      << " c" << i;
                }
              }
          }
      EXPECT_EQ(covered.size(), size_t(t.m / w[0]) * (t.n / w[1]));
    }
  }
}

// A row-major K x N byte buffer: position bits -> (k, n).
LinearLayout row_major(int32_t k, int32_t n) {
  std::array<std::vector<LinearLayout::Basis>, kNumInDims> bases;
  for (int32_t i = 1; i < n; i *= 2)
    bases[0].push_back({0, i});
  for (int32_t i = 1; i < k; i *= 2)
    bases[0].push_back({i, 0});
  return LinearLayout(std::move(bases), {k, n});
}

using Word = std::array<int64_t, 4>; // the buffer positions of a 32-bit register's bytes 0..3

// prmt.b32 d, a, b, c (default mode): d's byte i is byte c[4i+3 : 4i] (0..7) of {b, a}, a the low
// four.
Word prmt(const Word& a, const Word& b, uint32_t c) {
  Word d;
  for (int i = 0; i < 4; ++i) {
    const uint32_t s = c >> (4 * i) & 7;
    d[i] = s < 4 ? a[s] : b[s - 4];
  }
  return d;
}

TEST(ByteTranspose, LdmatrixTransAndPrmtDeliverTheOperandsBytes) {
  for (const Tile& t : kTiles) {
    if (!can_pair_columns(b_of(t)))
      continue;
    const LinearLayout b = pair_columns(b_of(t));
    for (const LinearLayout& shared : {row_major(t.k, t.n), mma_shared_layout({t.k, t.n}, 1, 1)}) {
      const LinearLayout offsets = buffer_offsets(b, shared);
      const std::optional<ByteTranspose> bt = plan_byte_transpose(offsets);
      ASSERT_TRUE(bt) << t.m << "x" << t.n;
      ASSERT_EQ(bt->plan.num, 4);
      ASSERT_TRUE(bt->plan.trans);
      ASSERT_EQ(bt->num_regs, b.in_size(InDim::Register));
      const int32_t groups = bt->plan.address.in_size(InDim::Register);
      ASSERT_EQ(groups * 16, bt->num_regs); // 4 words of 4 bytes per call
      for (int warp = 0; warp < t.warps; ++warp) {
        // ldmatrix.x4.trans: lane 8 m + i supplies row i of matrix m (16-byte aligned); lane
        // (g, t) receives, per matrix, elements [2t][g] and [2t + 1][g] (b16) as one word.
        std::vector<std::array<std::array<Word, 4>, 32>> words(groups);
        for (int32_t q = 0; q < groups; ++q)
          for (int lane = 0; lane < 32; ++lane) {
            const int g = lane / 4, tt = lane % 4;
            for (int m = 0; m < 4; ++m)
              for (int e = 0; e < 2; ++e) {
                const int64_t row = 2 * bt->plan.address.apply_linear(q, 8 * m + 2 * tt + e, warp);
                ASSERT_EQ(row % 16, 0);
                for (int h = 0; h < 2; ++h)
                  words[q][lane][m][2 * e + h] = row + 2 * g + h;
              }
          }
        for (int lane = 0; lane < 32; ++lane)
          for (int32_t r = 0; r < bt->num_regs; r += 4) { // as lower_mma.cpp assembles them
            const ByteTranspose::Source s = bt->source(r);
            const int j = s.matrix >> 1;
            const Word d = prmt(words[s.group][lane][2 * j], words[s.group][lane][2 * j + 1],
                                pair_selector(s.byte & 1));
            for (int x = 0; x < 4; ++x)
              ASSERT_EQ(d[x], offsets.apply_linear(r + x, lane, warp))
                  << t.m << "x" << t.n << "x" << t.k << " warp " << warp << " lane " << lane
                  << " register " << r + x;
          }
      }
    }
  }
}

// Lane l's 16 registers of group q in byte_transpose_rows are the row ldmatrix reads at
// 2 address(q, l): the search of the buffer's swizzle sees the reads that happen.
TEST(ByteTranspose, RowsAreTheLdmatrixRows) {
  for (const Tile& t : kTiles) {
    if (!can_pair_columns(b_of(t)))
      continue;
    const LinearLayout b = pair_columns(b_of(t));
    const LinearLayout rows = byte_transpose_rows(b);
    const LinearLayout shared = mma_shared_layout({t.k, t.n}, 1, 1);
    const LinearLayout position = shared.invert();
    const std::optional<ByteTranspose> bt = plan_byte_transpose(buffer_offsets(b, shared));
    ASSERT_TRUE(bt);
    ASSERT_EQ(rows.in_size(InDim::Register), bt->num_regs);
    for (int warp = 0; warp < t.warps; ++warp)
      for (int lane = 0; lane < 32; ++lane)
        for (int32_t r = 0; r < bt->num_regs; ++r) {
          const Coord e = rows.apply(r, lane, warp);
          EXPECT_EQ(position.apply_linear(e[0] * t.n + e[1], 0, 0),
                    2 * bt->plan.address.apply_linear(r / 16, lane, warp) + r % 16)
              << t.m << "x" << t.n << " lane " << lane << " register " << r;
        }
  }
}

// Layouts that are not paired are left to the other reads.
TEST(ByteTranspose, NoPlanForUnpairedLayouts) {
  const Tile t{64, 64, 64, 4};
  const LinearLayout shared = row_major(t.k, t.n);
  EXPECT_FALSE(plan_byte_transpose(buffer_offsets(b_of(t), shared)));
  const LinearLayout k_major = mma_shared_layout({t.k, t.n}, 0, 1);
  EXPECT_FALSE(plan_byte_transpose(buffer_offsets(b_of(t), k_major)));
  EXPECT_FALSE(plan_byte_transpose(buffer_offsets(pair_columns(b_of(t)), k_major)));
}

} // namespace
} // namespace tessel::codegen::gpu
