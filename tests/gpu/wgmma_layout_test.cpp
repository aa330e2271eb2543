// The wgmma layouts and descriptors of codegen/gpu/wgmma_layout.h and wgmma_descriptor.h against
// the PTX ISA, written out here from the ISA's text independently of the code: the m64nN
// accumulator figure (warp w of a warpgroup holds rows 16 w .. 16 w + 15; lane 4 g + t holds
// d[4 j + 2 i + x] = D(16 w + g + 8 i, 8 j + 2 t + x)), the swizzle modes as address functions
// (16-byte chunk bits [4, 4 + b) XORed with bits [7, 7 + b), b = log2(W / 16): "128B / 64B / 32B
// swizzling" of the shared memory matrix layout), and the descriptor's bit fields.
#include "codegen/gpu/wgmma_descriptor.h"
#include "codegen/gpu/wgmma_layout.h"

#include <gtest/gtest.h>

#include <bit>
#include <set>
#include <string>

namespace tessel::codegen::gpu {
namespace {

using Coord = std::vector<int32_t>;

WgmmaShape one_warpgroup(int32_t m, int32_t n, int32_t k) {
  WgmmaShape s{MmaInstr::F16_F32, m, n, k, {1, 1}, std::min(n, kWgmmaMaxN)};
  return s;
}

// ---- the accumulator ---------------------------------------------------------------------------

class WgmmaAccumulator : public ::testing::TestWithParam<int32_t> {};

TEST_P(WgmmaAccumulator, MatchesTheIsaFigureForM64nN) {
  const int32_t n = GetParam();
  const LinearLayout acc = wgmma_acc_layout(one_warpgroup(64, n, 16));
  ASSERT_EQ(acc.in_size(InDim::Register), n / 2);
  ASSERT_EQ(acc.in_size(InDim::Lane), 32);
  ASSERT_EQ(acc.in_size(InDim::Warp), 4);
  for (int32_t w = 0; w < 4; ++w)
    for (int32_t lane = 0; lane < 32; ++lane)
      for (int32_t d = 0; d < n / 2; ++d) {
        const int32_t g = lane / 4, t = lane % 4, j = d / 4, i = (d / 2) % 2, x = d % 2;
        EXPECT_EQ(acc.apply(d, lane, w), (Coord{16 * w + g + 8 * i, 8 * j + 2 * t + x}))
            << "n" << n << " warp " << w << " lane " << lane << " d" << d;
      }
}

INSTANTIATE_TEST_SUITE_P(Shapes, WgmmaAccumulator, ::testing::Values(8, 16, 32, 64, 128, 256));

TEST(WgmmaAccumulator, WorkedExampleOfTheHeader) {
  // m64n16: lane 5 (g = 1, t = 1) of warp 2.
  const LinearLayout acc = wgmma_acc_layout(one_warpgroup(64, 16, 16));
  const std::vector<Coord> want = {{33, 2},  {33, 3},  {41, 2},  {41, 3},
                                   {33, 10}, {33, 11}, {41, 10}, {41, 11}};
  for (int32_t d = 0; d < 8; ++d)
    EXPECT_EQ(acc.apply(d, 5, 2), want[d]) << "d" << d;
}

TEST(WgmmaAccumulator, TilesWarpgroupsAndRepetitionsBijectively) {
  // 256 x 512 on 8 warps: 2 warpgroups along N (256 columns each), each 4 x m64n256 along M.
  std::optional<std::array<int32_t, 2>> grid = wgmma_warpgroups(256, 512, 8);
  ASSERT_TRUE(grid);
  EXPECT_EQ(*grid, (std::array<int32_t, 2>{1, 2})); // N's tile is the larger: split N first
  WgmmaShape s{MmaInstr::BF16_F32, 256, 512, 32, *grid, 256};
  EXPECT_EQ(s.reps_m(), 4);
  EXPECT_EQ(s.reps_n(), 1);
  const LinearLayout acc = wgmma_acc_layout(s);
  std::set<Coord> seen;
  for (int32_t w = 0; w < 8; ++w)
    for (int32_t lane = 0; lane < 32; ++lane)
      for (int32_t r = 0; r < acc.in_size(InDim::Register); ++r) {
        const Coord c = acc.apply(r, lane, w);
        ASSERT_TRUE(seen.insert(c).second) << "element held twice";
        // Instruction (register r / 128) of warpgroup w / 4 follows the figure.
        const int32_t d = r % 128, mi = r / 128, wg = w / 4, ww = w % 4;
        const int32_t g = lane / 4, t = lane % 4;
        EXPECT_EQ(c, (Coord{64 * mi + 16 * ww + g + 8 * ((d / 2) % 2),
                            256 * wg + 8 * (d / 4) + 2 * t + d % 2}));
      }
  EXPECT_EQ(seen.size(), 256u * 512u);
}

// ---- A from registers ---------------------------------------------------------------------------

// The ISA's figure for the m64nNk16 A fragment (16-bit elements): warp w of the warpgroup holds
// rows 16 w .. 16 w + 15; lane 4 g + t holds a0..a7, a_{2 i + x} in register i / 2 .. as
// A(16 w + g + 8 (i % 2), 2 t + x + 8 (i / 2)), x in {0, 1}, i in [0, 4), per 16-wide K step.
TEST(WgmmaARegisters, MatchTheIsaFigureOverKStepsAndRepetitions) {
  // 128 x 64 on 8 warps: 2 warpgroups along M (64 rows each), 4 K steps per warpgroup.
  WgmmaShape s{MmaInstr::F16_F32, 128, 32, 64, {2, 1}, 32};
  const LinearLayout a = wgmma_a_register_layout(s);
  ASSERT_EQ(a.in_size(InDim::Register), 32); // 64 rows x 64 columns / 128 threads
  std::set<Coord> seen;
  for (int32_t w = 0; w < 8; ++w)
    for (int32_t lane = 0; lane < 32; ++lane)
      for (int32_t r = 0; r < 32; ++r) {
        const int32_t g = lane / 4, t = lane % 4, e = r % 8, ks = r / 8;
        const int32_t i = e / 2, x = e % 2;
        const Coord want{64 * (w / 4) + 16 * (w % 4) + g + 8 * (i % 2),
                         16 * ks + 2 * t + x + 8 * (i / 2)};
        EXPECT_EQ(a.apply(r, lane, w), want) << "warp " << w << " lane " << lane << " r" << r;
        seen.insert(a.apply(r, lane, w));
      }
  EXPECT_EQ(seen.size(), 128u * 64u); // every element once
}

TEST(WgmmaARegisters, WarpgroupsAlongNHoldTheSameA) {
  // 64 x 64 output on 8 warps: 1 x 2 warpgroups; both hold all 64 rows of A.
  WgmmaShape s{MmaInstr::BF16_F32, 64, 64, 16, {1, 2}, 32};
  const LinearLayout a = wgmma_a_register_layout(s);
  for (int32_t lane = 0; lane < 32; ++lane)
    for (int32_t r = 0; r < 8; ++r)
      for (int32_t w = 0; w < 4; ++w)
        EXPECT_EQ(a.apply(r, lane, w), a.apply(r, lane, w + 4));
}

// FA3's observation, which attention's PV dot relies on: the accumulator of a wgmma whose
// instruction spans the warpgroup's N is, element for element, the A fragment of a wgmma with
// K = that N (so the softmax of the scores is already in the PV dot's A layout).
TEST(WgmmaARegisters, AreTheAccumulatorOfAWgmmaWithNEqualToK) {
  for (int32_t n : {16, 32, 64, 128}) {
    WgmmaShape scores{MmaInstr::F16_F32, 128, n, 64, {2, 1}, n};
    WgmmaShape pv{MmaInstr::F16_F32, 128, 64, n, {2, 1}, 64};
    EXPECT_EQ(wgmma_acc_layout(scores), wgmma_a_register_layout(pv)) << "n " << n;
  }
}

TEST(WgmmaWarpgroups, FollowTheRule) {
  EXPECT_EQ(wgmma_warpgroups(64, 64, 4), (std::array<int32_t, 2>{1, 1}));
  EXPECT_EQ(wgmma_warpgroups(128, 128, 8), (std::array<int32_t, 2>{2, 1})); // M on ties
  EXPECT_EQ(wgmma_warpgroups(64, 128, 8), (std::array<int32_t, 2>{1, 2}));  // M cannot halve
  EXPECT_EQ(wgmma_warpgroups(64, 8, 8), std::nullopt);                      // nothing halves
  EXPECT_EQ(wgmma_warpgroups(32, 64, 4), std::nullopt);                     // M below 64
  EXPECT_EQ(wgmma_warpgroups(64, 64, 2), std::nullopt);                     // not a warpgroup
}

// ---- the shared-memory layouts -----------------------------------------------------------------

// The ISA's swizzle of W-byte rows as a function of the unswizzled byte address.
int64_t isa_swizzle(int64_t addr, int32_t width) {
  const int bits = std::countr_zero(static_cast<uint32_t>(width / 16));
  const int64_t mask = (int64_t(1) << bits) - 1;
  return addr ^ (((addr >> 7) & mask) << 4);
}

struct SharedCase {
  int32_t rows, cols; // strided x contiguous extents
  int contiguous;
  int32_t width; // the swizzle expected
};

class WgmmaShared : public ::testing::TestWithParam<SharedCase> {};

TEST_P(WgmmaShared, IsTheIsaSwizzleOfPackedColumnsOfRows) {
  const SharedCase c = GetParam();
  const int eb = 2;
  std::vector<int32_t> shape(2);
  shape[c.contiguous] = c.cols;
  shape[1 - c.contiguous] = c.rows;
  const LinearLayout l = wgmma_shared_layout(shape, c.contiguous, eb);
  const LinearLayout inv = l.invert();
  const int32_t per_row = c.width / eb;
  for (int32_t r = 0; r < c.rows; ++r)
    for (int32_t k = 0; k < c.cols; ++k) {
      Coord coord(2);
      coord[c.contiguous] = k;
      coord[1 - c.contiguous] = r;
      // Unswizzled: W-byte columns one after the other, rows at W bytes within one.
      const int64_t plain =
          int64_t(k / per_row) * c.rows * c.width + int64_t(r) * c.width + (k % per_row) * eb;
      const int64_t index = inv.apply_linear(coord[0] * shape[1] + coord[1], 0, 0);
      ASSERT_EQ(index * eb, isa_swizzle(plain, c.width)) << "row " << r << " col " << k;
    }
  std::optional<WgmmaOperand> o = wgmma_operand_of(l, eb);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->contiguous, c.contiguous);
  EXPECT_EQ(o->swizzle_bytes, c.width);
  EXPECT_EQ(o->rows, c.rows);
}

INSTANTIATE_TEST_SUITE_P(Modes, WgmmaShared,
                         ::testing::Values(SharedCase{64, 64, 1, 128}, SharedCase{64, 128, 1, 128},
                                           SharedCase{128, 32, 1, 64}, SharedCase{64, 16, 1, 32},
                                           SharedCase{32, 64, 0, 128}, SharedCase{16, 256, 0, 128},
                                           SharedCase{16, 32, 0, 64}, SharedCase{8, 16, 1, 32}),
                         [](const auto& info) {
                           const SharedCase& c = info.param;
                           return "rows" + std::to_string(c.rows) + "_cols" +
                                  std::to_string(c.cols) + "_contiguous" +
                                  std::to_string(c.contiguous) + "_w" + std::to_string(c.width);
                         });

TEST(WgmmaShared, EqualsTheMmaSwizzleUpTo128ByteRows) {
  for (int32_t cols : {16, 32, 64})
    EXPECT_EQ(wgmma_shared_layout({64, cols}, 1, 2), mma_shared_layout({64, cols}, 1, 2)) << cols;
}

TEST(WgmmaShared, OtherLayoutsAreNoOperand) {
  // Plain row-major 64 x 64 (no swizzle) is none of the descriptor's layouts.
  std::array<std::vector<LinearLayout::Basis>, kNumInDims> b;
  for (int32_t c = 1; c < 64; c *= 2)
    b[0].push_back({0, c});
  for (int32_t r = 1; r < 64; r *= 2)
    b[0].push_back({r, 0});
  EXPECT_EQ(wgmma_operand_of(LinearLayout(std::move(b), {64, 64}), 2), std::nullopt);
}

// ---- descriptors -------------------------------------------------------------------------------

TEST(WgmmaDescriptorBits, EachFieldAtItsIsaPosition) {
  auto only = [](auto set) {
    WgmmaDescriptor d;
    set(d);
    return encode_wgmma_descriptor(d);
  };
  EXPECT_EQ(only([](WgmmaDescriptor& d) { d.start_address = 16; }), uint64_t(1) << 0);
  EXPECT_EQ(only([](WgmmaDescriptor& d) { d.leading_byte_offset = 16; }), uint64_t(1) << 16);
  EXPECT_EQ(only([](WgmmaDescriptor& d) { d.stride_byte_offset = 16; }), uint64_t(1) << 32);
  EXPECT_EQ(only([](WgmmaDescriptor& d) { d.base_offset = 1; }), uint64_t(1) << 49);
  EXPECT_EQ(only([](WgmmaDescriptor& d) { d.swizzle = WgmmaSwizzle::B128; }), uint64_t(1) << 62);
  EXPECT_EQ(only([](WgmmaDescriptor& d) { d.swizzle = WgmmaSwizzle::B64; }), uint64_t(2) << 62);
  EXPECT_EQ(only([](WgmmaDescriptor& d) { d.swizzle = WgmmaSwizzle::B32; }), uint64_t(3) << 62);
  // The widest values fill 14 bits each and touch nothing else.
  EXPECT_EQ(only([](WgmmaDescriptor& d) { d.start_address = 0x3FFF0; }), uint64_t(0x3FFF));
  EXPECT_EQ(only([](WgmmaDescriptor& d) { d.leading_byte_offset = 0x3FFF0; }), uint64_t(0x3FFF)
                                                                                   << 16);
  EXPECT_EQ(only([](WgmmaDescriptor& d) { d.stride_byte_offset = 0x3FFF0; }), uint64_t(0x3FFF)
                                                                                  << 32);
  EXPECT_EQ(only([](WgmmaDescriptor& d) { d.base_offset = 7; }), uint64_t(7) << 49);
}

TEST(WgmmaDescriptorBits, KMajor128ByteSwizzle) {
  // A 64 x 64 f16, K contiguous: rows of 128 bytes, 8-row groups 1024 bytes apart, leading
  // offset unused (1), 128-byte swizzle; at 0x400: start field 0x40.
  const LinearLayout l = wgmma_shared_layout({64, 64}, 1, 2);
  bool transposed = true;
  WgmmaDescriptor d = wgmma_descriptor_of(*wgmma_operand_of(l, 2), 0, &transposed);
  EXPECT_FALSE(transposed);
  d.start_address = 0x400;
  EXPECT_EQ(encode_wgmma_descriptor(d), 0x4000004000010040ull);
}

TEST(WgmmaDescriptorBits, NMajorBColumnsOfAtoms) {
  // B 32 x 128 f16, N contiguous: two 128-byte columns of 32 rows; the next 8 K rows 1024 bytes
  // on, the next column 32 * 128 = 4096 bytes on; imm-trans-b = 1.
  const LinearLayout l = wgmma_shared_layout({32, 128}, 1, 2);
  bool transposed = false;
  const WgmmaDescriptor d = wgmma_descriptor_of(*wgmma_operand_of(l, 2), 1, &transposed);
  EXPECT_TRUE(transposed);
  EXPECT_EQ(d.stride_byte_offset, 1024u);
  EXPECT_EQ(d.leading_byte_offset, 4096u);
  EXPECT_EQ(d.swizzle, WgmmaSwizzle::B128);
  EXPECT_EQ(encode_wgmma_descriptor(d), (uint64_t(1) << 62) | (uint64_t(64) << 32) | (256u << 16));
}

// ---- where each instruction starts -------------------------------------------------------------

TEST(WgmmaStarts, StepAlongKThenRepeatAndPerWarpgroup) {
  // 256 x 64 x 64 on 8 warps: warpgroups along M (128 rows each), 2 x m64 each, 4 k-steps.
  WgmmaShape s{MmaInstr::F16_F32, 256, 64, 64, {2, 1}, 64};
  const LinearLayout a = wgmma_start_layout(s, 0);
  const LinearLayout b = wgmma_start_layout(s, 1);
  for (int32_t w = 0; w < 8; ++w)
    for (int32_t mi = 0; mi < 2; ++mi)
      for (int32_t ki = 0; ki < 4; ++ki) {
        EXPECT_EQ(a.apply(ki + 4 * mi, 0, w), (Coord{128 * (w / 4) + 64 * mi, 16 * ki}));
        EXPECT_EQ(b.apply(ki, 0, w), (Coord{16 * ki, 0}));
      }
}

// tf32 (m64nNk8) and the 8-bit types (m64nNk32): one instruction covers 32 bytes of K, so the
// k-steps are 8 or 32 elements apart, and in a K-major buffer (128-byte swizzle: a row holds 32
// tf32 or 128 bytes) step ki starts 32 ki bytes into row 0 -- the descriptor's start advance of
// the 16-bit types -- until the row ends and the next W-byte column (rows x 128 bytes on) begins.
TEST(WgmmaStarts, Tf32And8BitStepsAre32BytesOfAKMajorRow) {
  struct Row {
    MmaInstr instr;
    int32_t k, elem_bytes;
  };
  for (const Row& r : {Row{MmaInstr::TF32_F32, 64, 4}, Row{MmaInstr::S8_S32, 256, 1},
                       Row{MmaInstr::E4M3_F32, 256, 1}, Row{MmaInstr::U8_S32, 64, 1}}) {
    WgmmaShape s{r.instr, 64, 64, r.k, {1, 1}, 64};
    const int32_t step = 32 / r.elem_bytes;
    EXPECT_EQ(s.instr_k(), step);
    EXPECT_EQ(s.reps_k(), r.k / step);
    EXPECT_TRUE(wgmma_needs_k_major(r.instr));
    const LinearLayout a = wgmma_start_layout(s, 0), b = wgmma_start_layout(s, 1);
    const LinearLayout a_buf = wgmma_shared_layout({64, r.k}, 1, r.elem_bytes);
    const LinearLayout b_buf = wgmma_shared_layout({r.k, 64}, 0, r.elem_bytes);
    const LinearLayout a_at = buffer_offsets(a, a_buf), b_at = buffer_offsets(b, b_buf);
    const int32_t row_elems = std::min(r.k, 128 / r.elem_bytes);
    for (int32_t ki = 0; ki < s.reps_k(); ++ki) {
      EXPECT_EQ(a.apply(ki, 0, 0), (Coord{0, step * ki}));
      EXPECT_EQ(b.apply(ki, 0, 0), (Coord{step * ki, 0}));
      const int32_t col = step * ki / row_elems, within = step * ki % row_elems;
      const int32_t bytes = (col * 64 * row_elems + within) * r.elem_bytes;
      EXPECT_EQ(a_at.apply(ki, 0, 0)[0] * r.elem_bytes, bytes) << "A k-step " << ki;
      EXPECT_EQ(b_at.apply(ki, 0, 0)[0] * r.elem_bytes, bytes) << "B k-step " << ki;
    }
  }
  EXPECT_FALSE(wgmma_needs_k_major(MmaInstr::F16_F32));
  EXPECT_FALSE(wgmma_needs_k_major(MmaInstr::BF16_F32));
}

} // namespace
} // namespace tessel::codegen::gpu
