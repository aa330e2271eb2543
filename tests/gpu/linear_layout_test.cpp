// Tests of codegen/gpu/linear_layout: hand-worked examples (the header's table among them) and
// properties checked over many random layouts with fixed seeds.
#include "codegen/gpu/linear_layout.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace tessel::codegen::gpu {
namespace {

using Shape = std::vector<int32_t>;
using Coord = std::vector<int32_t>;

// The header's example: tensor<16>, 2 elements per thread, 4 lanes, 2 warps.
TEST(LinearLayout, HeaderExample) {
  LinearLayout l = LinearLayout::blocked({16}, {2}, {4}, {2}, {0});
  EXPECT_EQ(l.str(), "register=[[1]] lane=[[2],[4]] warp=[[8]] shape=[16]");
  // (r=1, l=3, w=1) -> 1^2^4^8 = 15.
  EXPECT_EQ(l.apply(1, 3, 1), Coord{15});
  // Lane 1 of warp 0 owns elements 2 and 3; lane 2 of warp 1 owns 12 and 13.
  EXPECT_EQ(l.elements_of(1, 0), (std::vector<Coord>{{2}, {3}}));
  EXPECT_EQ(l.elements_of(2, 1), (std::vector<Coord>{{12}, {13}}));
  EXPECT_TRUE(l.is_bijective());
  EXPECT_EQ(l.contiguous_registers(0), 2);
}

// Shape 8: the warp bit has nowhere to go, so both warps hold the same elements.
TEST(LinearLayout, SmallerShapeReplicates) {
  LinearLayout l = LinearLayout::blocked({8}, {2}, {4}, {2}, {0});
  EXPECT_EQ(l.basis(InDim::Warp, 0), Coord{0});
  EXPECT_TRUE(l.is_surjective());
  EXPECT_FALSE(l.is_injective());
  EXPECT_EQ(l.replication(), 2);
  EXPECT_EQ(l.apply(1, 3, 1), Coord{7});
}

// Shape 32: a second register basis (16) repeats the tile: lane 0 of warp 0 holds 0, 1, 16, 17.
TEST(LinearLayout, LargerShapeRepeatsInRegisters) {
  LinearLayout l = LinearLayout::blocked({32}, {2}, {4}, {2}, {0});
  EXPECT_EQ(l.in_size(InDim::Register), 4);
  EXPECT_EQ(l.elements_of(0, 0), (std::vector<Coord>{{0}, {1}, {16}, {17}}));
  // Only the first two registers are consecutive.
  EXPECT_EQ(l.contiguous_registers(0), 2);
}

// A 2-D blocked layout, row-major order: 4 consecutive columns per thread, 16 lanes along columns,
// 2 along rows, 4 warps along rows. Thread (lane 17, warp 1): lane bits 0..3 -> column 1*4,
// lane bit 4 -> row 1, warp bit 0 -> row 2: rows 3 (+8, +16... repeats), columns 4..7.
TEST(LinearLayout, Blocked2D) {
  LinearLayout l = LinearLayout::blocked({16, 64}, {1, 4}, {2, 16}, {4, 1}, {1, 0});
  EXPECT_EQ(l.contiguous_registers(1), 4);
  EXPECT_EQ(l.contiguous_registers(0), 1);
  EXPECT_EQ(l.apply(0, 17, 1), (Coord{3, 4}));
  EXPECT_EQ(l.apply(3, 17, 1), (Coord{3, 7}));
  // 16 rows / (2 lanes * 4 warps) = 2 repeats along rows: register bit 2 moves 8 rows.
  EXPECT_EQ(l.apply(4, 17, 1), (Coord{11, 4}));
  EXPECT_TRUE(l.is_bijective());
  EXPECT_TRUE(l.is_dim_separable());
  EXPECT_EQ(l.bits_along(InDim::Lane, 1), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(l.bits_along(InDim::Lane, 0), (std::vector<int>{4}));
}

// Slicing away the columns: each thread keeps one copy per row it holds; the 16 lanes that
// spread columns now hold the same rows (zero lane bases).
TEST(LinearLayout, SliceDropsTheDimension) {
  LinearLayout l = LinearLayout::blocked({16, 64}, {1, 4}, {2, 16}, {4, 1}, {1, 0});
  LinearLayout s = l.slice(1);
  EXPECT_EQ(s.out_shape(), Shape{16});
  EXPECT_EQ(s.str(), "register=[[8]] lane=[[0],[0],[0],[0],[1]] warp=[[2],[4]] shape=[16]");
  EXPECT_EQ(s.elements_of(17, 1), (std::vector<Coord>{{3}, {11}}));
  // expand_dims puts back a size-1 dim; broadcasting it back to 64 columns is register-only
  // (the parent's lanes along columns hold the same row).
  LinearLayout e = s.expand_dims(1);
  EXPECT_EQ(e.out_shape(), (Shape{16, 1}));
  EXPECT_EQ(l.unbroadcast({16, 1}), e);
}

TEST(LinearLayout, PermuteAndReshape) {
  LinearLayout l = LinearLayout::blocked({4, 8}, {1, 2}, {4, 4}, {1, 2}, {1, 0});
  LinearLayout t = l.permute({1, 0});
  EXPECT_EQ(t.out_shape(), (Shape{8, 4}));
  for (int32_t r = 0; r < l.in_size(InDim::Register); ++r)
    for (int32_t lane = 0; lane < 16; ++lane)
      for (int32_t w = 0; w < 2; ++w) {
        Coord a = l.apply(r, lane, w), b = t.apply(r, lane, w);
        EXPECT_EQ(a[0], b[1]);
        EXPECT_EQ(a[1], b[0]);
      }
  // A reshape keeps the row-major index.
  LinearLayout flat = l.reshape({32});
  for (int32_t lane = 0; lane < 16; ++lane)
    EXPECT_EQ(flat.apply_linear(1, lane, 1), l.apply_linear(1, lane, 1));
}

TEST(LinearLayout, ClassifyConversions) {
  LinearLayout a = LinearLayout::blocked({128}, {4}, {32}, {1}, {0});
  EXPECT_EQ(classify_conversion(a, a), ConversionKind::None);
  // One warp covers everything: 4-per-thread -> 1-per-thread stays within the warp.
  LinearLayout b = LinearLayout::blocked({128}, {1}, {32}, {1}, {0});
  EXPECT_EQ(classify_conversion(a, b), ConversionKind::WarpShuffle);
  // With two warps, element 32 moves from warp 0 to warp 1: shared memory.
  LinearLayout c = LinearLayout::blocked({256}, {4}, {32}, {2}, {0});
  LinearLayout d = LinearLayout::blocked({256}, {1}, {32}, {2}, {0});
  EXPECT_EQ(classify_conversion(c, d), ConversionKind::SharedMemory);
  // Register bases swapped: a renaming of registers.
  LinearLayout e({{{{1}, {64}}, {{2}, {4}, {8}, {16}, {32}}, {}, {}}}, {128});
  LinearLayout f({{{{64}, {1}}, {{2}, {4}, {8}, {16}, {32}}, {}, {}}}, {128});
  EXPECT_EQ(classify_conversion(e, f), ConversionKind::Registers);
  // To a layout that replicates over warps: each warp already holds everything.
  LinearLayout g({{{{1}, {64}}, {{2}, {4}, {8}, {16}, {32}}, {{0}}, {}}}, {128});
  LinearLayout h({{{{64}, {1}}, {{2}, {4}, {8}, {16}, {32}}, {{0}}, {}}}, {128});
  EXPECT_EQ(classify_conversion(g, h), ConversionKind::Registers);
}

// ---- randomized properties ----

// A random layout with `out_bits` output bits over `rank` dims: every output bit is produced by
// some input bit (surjective); `extra` additional input bits are zero or sums of others.
LinearLayout random_layout(std::mt19937& rng, const Shape& shape, int lane_bits, int warp_bits,
                           int extra) {
  LinearLayout shape_only = LinearLayout::empty(shape);
  int n = shape_only.total_out_bits();
  std::vector<uint64_t> cols;
  for (int b = 0; b < n; ++b)
    cols.push_back(uint64_t(1) << b);
  std::shuffle(cols.begin(), cols.end(), rng);
  // Random elementary operations keep the columns independent.
  for (int k = 0; k < 3 * n; ++k) {
    size_t i = rng() % n, j = rng() % n;
    if (i != j)
      cols[i] ^= cols[j];
  }
  for (int k = 0; k < extra; ++k) {
    uint64_t c = 0;
    for (int b = 0; b < n; ++b)
      if (rng() % 3 == 0)
        c ^= cols[b];
    cols.insert(cols.begin() + rng() % (cols.size() + 1), c);
  }
  int total = static_cast<int>(cols.size());
  int lanes = std::min(lane_bits, total);
  int warps = std::min(warp_bits, total - lanes);
  return LinearLayout::from_columns(cols, {total - lanes - warps, lanes, warps, 0}, shape);
}

const Shape kShapes[] = {{64}, {8, 16}, {4, 2, 8}, {32, 4}, {2, 128}};

TEST(LinearLayoutProperty, ComposeWithInverseIsIdentity) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 200; ++trial) {
    const Shape& shape = kShapes[trial % 5];
    LinearLayout l = random_layout(rng, shape, 3, 1, 0);
    ASSERT_TRUE(l.is_bijective()) << l.str();
    LinearLayout id = l.compose(l.invert());
    for (int j = 0; j < l.total_in_bits(); ++j)
      EXPECT_EQ(id.columns()[j], uint64_t(1) << j) << l.str();
    // And the other way round: hardware coordinate -> element -> hardware coordinate.
    LinearLayout inv = l.invert();
    for (int32_t r = 0; r < l.in_size(InDim::Register); r += 3)
      for (int32_t lane = 0; lane < l.in_size(InDim::Lane); ++lane) {
        int64_t x = l.apply_linear(r, lane, 1 % l.in_size(InDim::Warp));
        int64_t flat = inv.apply_linear(static_cast<int32_t>(x), 0, 0);
        HwCoord hw = split_in_bits(l, static_cast<uint64_t>(flat));
        EXPECT_EQ(hw, (HwCoord{r, lane, 1 % l.in_size(InDim::Warp), 0}));
      }
  }
}

TEST(LinearLayoutProperty, PseudoInverseIsARightInverse) {
  std::mt19937 rng(99);
  for (int trial = 0; trial < 200; ++trial) {
    const Shape& shape = kShapes[trial % 5];
    LinearLayout l = random_layout(rng, shape, 3, 2, 1 + trial % 3);
    ASSERT_TRUE(l.is_surjective());
    std::vector<uint64_t> inv = l.pseudo_inverse_columns();
    int64_t n = int64_t(1) << l.total_out_bits();
    for (int64_t x = 0; x < n; x += 7) {
      uint64_t hw_bits = 0;
      for (int b = 0; b < l.total_out_bits(); ++b)
        if (x >> b & 1)
          hw_bits ^= inv[b];
      HwCoord hw = split_in_bits(l, hw_bits);
      EXPECT_EQ(l.apply_linear(hw.reg, hw.lane, hw.warp), x) << l.str();
    }
  }
}

// classify_conversion agrees with brute force: for every dst thread and register, look for the
// element among the src registers of the same thread (Registers) or the same warp (WarpShuffle).
TEST(LinearLayoutProperty, ClassificationMatchesEnumeration) {
  std::mt19937 rng(7);
  int seen[4] = {};
  for (int trial = 0; trial < 300; ++trial) {
    const Shape& shape = kShapes[trial % 5];
    LinearLayout src = random_layout(rng, shape, 2, 1, trial % 2);
    LinearLayout dst = random_layout(rng, shape, 2, 1, (trial / 2) % 2);
    if (trial % 7 == 0)
      dst = src;
    if (trial % 7 == 1) { // the same elements per thread, registers renamed
      std::vector<uint64_t> cols = src.columns();
      std::reverse(cols.begin(), cols.begin() + src.in_bits(InDim::Register));
      dst = LinearLayout::from_columns(
          cols,
          {src.in_bits(InDim::Register), src.in_bits(InDim::Lane), src.in_bits(InDim::Warp), 0},
          src.out_shape());
    }
    if (src.in_bits(InDim::Lane) != dst.in_bits(InDim::Lane) ||
        src.in_bits(InDim::Warp) != dst.in_bits(InDim::Warp))
      continue;
    bool in_thread = true, in_warp = true;
    for (int32_t w = 0; w < dst.in_size(InDim::Warp); ++w)
      for (int32_t lane = 0; lane < dst.in_size(InDim::Lane); ++lane) {
        std::set<int64_t> own, warp;
        for (int32_t r = 0; r < src.in_size(InDim::Register); ++r) {
          own.insert(src.apply_linear(r, lane, w));
          for (int32_t l2 = 0; l2 < src.in_size(InDim::Lane); ++l2)
            warp.insert(src.apply_linear(r, l2, w));
        }
        for (int32_t r = 0; r < dst.in_size(InDim::Register); ++r) {
          int64_t x = dst.apply_linear(r, lane, w);
          in_thread = in_thread && own.count(x);
          in_warp = in_warp && warp.count(x);
        }
      }
    ConversionKind want = src == dst  ? ConversionKind::None
                          : in_thread ? ConversionKind::Registers
                          : in_warp   ? ConversionKind::WarpShuffle
                                      : ConversionKind::SharedMemory;
    EXPECT_EQ(classify_conversion(src, dst), want) << src.str() << "\n" << dst.str();
    ++seen[static_cast<int>(want)];
  }
  // The generator exercises every outcome.
  for (int k = 0; k < 4; ++k)
    EXPECT_GT(seen[k], 0) << conversion_kind_name(static_cast<ConversionKind>(k));
}

TEST(LinearLayoutProperty, SliceKeepsEveryElementOnce) {
  std::mt19937 rng(42);
  for (int trial = 0; trial < 100; ++trial) {
    const Shape& shape = kShapes[1 + trial % 4];
    LinearLayout l = random_layout(rng, shape, 3, 1, 0);
    int dim = static_cast<int>(rng() % shape.size());
    LinearLayout s = l.slice(dim);
    EXPECT_TRUE(s.is_surjective()) << l.str();
    // Each thread's registers hold distinct elements.
    for (int32_t lane = 0; lane < s.in_size(InDim::Lane); ++lane) {
      auto els = s.elements_of(lane, 0);
      std::set<std::vector<int32_t>> distinct(els.begin(), els.end());
      EXPECT_EQ(distinct.size(), els.size()) << s.str();
    }
  }
}

} // namespace
} // namespace tessel::codegen::gpu
