// The CPU backend's full-mask fast path (codegen/cpu/lower_memory.cpp): a masked load or store
// first asks whether its mask holds everywhere, and the column mask `s + arange(start, end) < n`
// answers in closed form (s + end - 1 < n) instead of a loop over the block. These kernels put
// the row's end at every place around the block's last element — all in, the last one out, all
// out, an arange not starting at 0, no offset — and compare every element with a plain
// reference, so a closed form that claimed "all in" one element too early (or too late) fails.
// The same closed form guards the loops that evaluate masks lazily (a reduction of a masked
// select or fused load, a materialised select): their fast copy takes the masks as true.
#include "support/host_array.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

namespace tessel::test {
namespace {

namespace tl = tessel::lang;
using tessel::testing::HostArray;

constexpr int64_t kBlock = 32;

// y[i] = x[s + i] where s + i < n, else -7 (the load's other); z[s + i] = 2 where s + i < n.
const Kernel& offset_mask() {
  static const Kernel k =
      tl::kernel("mask_test_offset",
                 [](tl::Ptr y, tl::Ptr z, tl::Ptr x, tl::Int s, tl::Int n, tl::Const<int> BLOCK) {
                   auto i = tl::arange(0, BLOCK);
                   auto c = s + i;
                   tl::store(y + i, tl::load(x + c, c < n, -7.0));
                   tl::store(z + c, tl::full({BLOCK}, 2.0, DType::f32), c < n);
                 });
  return k;
}

// y[i - 3] = x[i] for i in arange(3, 3 + BLOCK) where i < n (no offset, a non-zero start).
const Kernel& shifted_mask() {
  static const Kernel k =
      tl::kernel("mask_test_shifted", [](tl::Ptr y, tl::Ptr x, tl::Int n, tl::Const<int> BLOCK) {
        auto i = tl::arange(3, 3 + BLOCK);
        tl::store(y + i - 3, tl::load(x + i, i < n, -7.0));
      });
  return k;
}

// With m = s + i < n: sum[0] = sum of 2 x2[s + i] where m; mx[0] = max of x[s + i] where m, else
// -100; y[i] = w * w + w, w = x[s + i] + 1 where m, else 0 (w has two uses: it is materialised).
const Kernel& lazy_masks() {
  static const Kernel k =
      tl::kernel("mask_test_lazy", [](tl::Ptr sum, tl::Ptr mx, tl::Ptr y, tl::Ptr x, tl::Ptr x2,
                                      tl::Int s, tl::Int n, tl::Const<int> BLOCK) {
        auto i = tl::arange(0, BLOCK);
        auto c = s + i;
        auto m = c < n;
        tl::store(sum, tl::sum(tl::where(m, tl::load(x2 + c, m, 0.0) * 2.0, 0.0), 0));
        tl::store(mx, tl::max(tl::where(m, tl::load(x + c, m, 0.0), -100.0), 0));
        auto w = tl::where(m, tl::load(x + c, m, 0.0) + 1.0, 0.0);
        tl::store(y + i, w * w + w);
      });
  return k;
}

// A 2-d tile of x (rows of stride `ld`) at rows r0.., columns c0.., masked by `rows < M & cols <
// N` as a matmul's operand tiles are: y = w * w + w with w the load (two uses: the load is
// stored, so its full-mask check runs, as the and of a [8, 1] and a [1, 16] mask).
constexpr int64_t kRows = 8, kCols = 16;
const Kernel& tile_mask() {
  static const Kernel k =
      tl::kernel("mask_test_tile", [](tl::Ptr y, tl::Ptr x, tl::Int r0, tl::Int c0, tl::Int M,
                                      tl::Int N, tl::Int ld, tl::Const<int> BR, tl::Const<int> BC) {
        auto rows = tl::expand_dims(r0 + tl::arange(0, BR), 1);
        auto cols = tl::expand_dims(c0 + tl::arange(0, BC), 0);
        auto w = tl::load(x + rows * ld + cols, (rows < M) & (cols < N), -7.0);
        tl::store(y + tl::expand_dims(tl::arange(0, BR), 1) * BC +
                      tl::expand_dims(tl::arange(0, BC), 0),
                  w * w + w);
      });
  return k;
}

TEST(CpuMask, LazyMasksInReductionsAndMaterialisedSelects) {
  const int64_t size = 3 * kBlock;
  HostArray x(DType::f32, size), x2(DType::f32, size);
  for (int64_t j = 0; j < size; ++j) {
    x.set(size_t(j), double(j % 7) - 3.0);
    x2.set(size_t(j), double(j) * 0.25);
  }
  for (int64_t s : {int64_t(0), int64_t(5), kBlock})
    for (int64_t n : {s + kBlock + 1, s + kBlock, s + kBlock - 1, s + 1, s}) {
      SCOPED_TRACE(fmt::format("s {} n {}", s, n));
      HostArray sum(DType::f32, 1), mx(DType::f32, 1), y(DType::f32, kBlock);
      sum.poison();
      mx.poison();
      y.poison();
      lazy_masks().launch({1}, {}, sum.arg(), mx.arg(), y.arg(), x.arg(), x2.arg(), s, n,
                          int(kBlock));
      double want_sum = 0, want_max = -100;
      for (int64_t i = 0; i < kBlock; ++i) {
        bool in = s + i < n;
        double w = in ? x.get(size_t(s + i)) + 1 : 0;
        ASSERT_EQ(y.get(size_t(i)), w * w + w) << "y " << i;
        if (in) {
          want_sum += 2 * x2.get(size_t(s + i));
          want_max = std::max(want_max, x.get(size_t(s + i)));
        }
      }
      EXPECT_EQ(sum.get(0), want_sum); // quarters: every partial sum is exact in f32
      EXPECT_EQ(mx.get(0), want_max);
    }
}

TEST(CpuMask, OffsetColumnMaskAtEveryEnd) {
  const int64_t size = 3 * kBlock;
  HostArray x(DType::f32, size);
  for (int64_t j = 0; j < size; ++j)
    x.set(size_t(j), double(j) + 0.5);
  for (int64_t s : {int64_t(0), int64_t(5), kBlock})
    for (int64_t n : {s + kBlock + 1, s + kBlock, s + kBlock - 1, s + 1, s, int64_t(0)}) {
      SCOPED_TRACE(fmt::format("s {} n {}", s, n));
      HostArray y(DType::f32, kBlock), z(DType::f32, size);
      y.poison();
      for (int64_t j = 0; j < size; ++j)
        z.set(size_t(j), -1);
      offset_mask().launch({1}, {}, y.arg(), z.arg(), x.arg(), s, n, int(kBlock));
      for (int64_t i = 0; i < kBlock; ++i)
        ASSERT_EQ(y.get(size_t(i)), s + i < n ? double(s + i) + 0.5 : -7.0) << "y " << i;
      for (int64_t j = 0; j < size; ++j)
        ASSERT_EQ(z.get(size_t(j)), j >= s && j < s + kBlock && j < n ? 2.0 : -1.0) << "z " << j;
    }
}

TEST(CpuMask, ShiftedArangeMask) {
  HostArray x(DType::f32, 2 * kBlock);
  for (int64_t j = 0; j < 2 * kBlock; ++j)
    x.set(size_t(j), double(j));
  for (int64_t n : {3 + kBlock, 2 + kBlock, int64_t(4), int64_t(3)}) {
    SCOPED_TRACE(fmt::format("n {}", n));
    HostArray y(DType::f32, kBlock);
    y.poison();
    shifted_mask().launch({1}, {}, y.arg(), x.arg(), n, int(kBlock));
    for (int64_t i = 0; i < kBlock; ++i)
      ASSERT_EQ(y.get(size_t(i)), i + 3 < n ? double(i + 3) : -7.0) << i;
  }
}

// The tile's row end and column end each at every place around the tile's last row or column,
// one at a time and together: a full-mask check that tested only one side of the `&` (or only
// some rows) would read the unmasked rows past M or columns past N instead of -7.
TEST(CpuMask, TwoDimensionalTileMaskAtEveryEdge) {
  const int64_t ld = 3 * kCols, height = 3 * kRows;
  HostArray x(DType::f32, size_t(height * ld));
  for (int64_t j = 0; j < height * ld; ++j) // quarters: w * w + w is exact in f32
    x.set(size_t(j), double((j * 7) % 29) / 4 - 3.5);
  const int64_t r0 = kRows, c0 = 5; // an interior tile, not column-aligned
  for (int64_t m : {r0 + kRows + 1, r0 + kRows, r0 + kRows - 1, r0 + 1, r0})
    for (int64_t n : {c0 + kCols + 1, c0 + kCols, c0 + kCols - 1, c0 + 1, c0}) {
      SCOPED_TRACE(fmt::format("M {} N {}", m, n));
      HostArray y(DType::f32, size_t(kRows * kCols));
      y.poison();
      tile_mask().launch({1}, {}, y.arg(), x.arg(), r0, c0, m, n, ld, int(kRows), int(kCols));
      for (int64_t i = 0; i < kRows; ++i)
        for (int64_t j = 0; j < kCols; ++j) {
          bool in = r0 + i < m && c0 + j < n;
          double w = in ? x.get(size_t((r0 + i) * ld + c0 + j)) : -7.0;
          ASSERT_EQ(y.get(size_t(i * kCols + j)), w * w + w) << i << "," << j;
        }
    }
}

} // namespace
} // namespace tessel::test
