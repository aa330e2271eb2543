// ops::topk against a reference written here (a stable sort of each row, NaN above every
// number): rows of 1, 7, 1000, 4096 and 32768 columns, k from 1 to 64 (and 200), blocks of 16 for
// many blocks on short rows, values with many ties (the lower column must come first, across
// blocks too), largest and smallest, f32/f16/bf16, i32 and i64 indices, padded rows; NaN, -0 and
// infinities; the simulated device; bad input; zero rows and k = 0; PTX unspilled.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "support/expect_error.h"
#include "tessel/ops.h"

#include <algorithm>
#include <numeric>

namespace tessel::testing {
namespace {

// The first k columns of each row in topk's order: by value (NaN the largest), then by column.
std::vector<double> reference_indices(const std::vector<double>& x, int64_t rows, int64_t cols,
                                      int64_t k, bool largest) {
  std::vector<double> out;
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = &x[r * cols];
    // a before b: NaN above every number, then by value (a stable sort keeps column order).
    auto before = [&](int64_t a, int64_t b) {
      bool na = std::isnan(row[a]), nb = std::isnan(row[b]);
      if (na || nb)
        return largest ? na && !nb : nb && !na;
      return largest ? row[a] > row[b] : row[a] < row[b];
    };
    std::vector<int64_t> order(static_cast<size_t>(cols));
    std::iota(order.begin(), order.end(), int64_t(0));
    std::stable_sort(order.begin(), order.end(), before);
    for (int64_t j = 0; j < k; ++j)
      out.push_back(double(order[j]));
  }
  return out;
}

// values[r, j] = x[r, indices[r, j]], NaN compared as NaN.
void expect_values_at(const std::vector<double>& x, const std::vector<double>& values,
                      const std::vector<double>& idx, int64_t cols, int64_t k,
                      const std::string& what) {
  for (size_t i = 0; i < values.size(); ++i) {
    double want = x[(i / k) * cols + int64_t(idx[i])];
    if (std::isnan(want))
      EXPECT_TRUE(std::isnan(values[i])) << what << " element " << i;
    else
      EXPECT_EQ(values[i], want) << what << " element " << i;
  }
}

struct Case {
  int64_t rows, cols, k;
  int block;
  int64_t pad;
};

void check_topk(DeviceKind dev, DType t, const Case& c, bool largest, bool ties) {
  auto x0 = random_values(size_t(c.rows * c.cols), uint32_t(c.cols * 31 + c.k), -20, 20);
  if (ties)
    for (double& v : x0)
      v = std::round(v); // 41 distinct values: ties everywhere, exact in every dtype
  TestTensor x(dev, t, {c.rows, c.cols}, x0, c.pad);
  std::vector<double> seen = x.values(); // x as the kernel sees it (rounded to t)
  auto values = TestTensor::poisoned(dev, t, {c.rows, c.k}, /*pad=*/1);
  auto idx = TestTensor::poisoned(dev, DType::i32, {c.rows, c.k});
  ops::topk(x.view(), values.view(), idx.view(), c.k, {.largest = largest, .block_cols = c.block});
  std::string what = std::string("topk ") + dtype_name(t) + " " + std::to_string(c.rows) + "x" +
                     std::to_string(c.cols) + " k " + std::to_string(c.k) + " block " +
                     std::to_string(c.block) + (largest ? " largest" : " smallest") +
                     (ties ? " ties" : "");
  // The reference sorts x as the kernel sees it, so even ties made by rounding are exact.
  auto want = reference_indices(seen, c.rows, c.cols, c.k, largest);
  EXPECT_EQ(idx.values(), want) << what;
  expect_values_at(seen, values.values(), want, c.cols, c.k, what);
  EXPECT_TRUE(values.padding_untouched()) << what;
}

TEST(Topk, Cpu) {
  const std::vector<Case> cases = {{1, 1, 1, 0, 0},      {3, 7, 7, 0, 0},     {4, 7, 3, 0, 2},
                                   {6, 1000, 64, 0, 3},  {3, 1000, 1, 0, 0},  {2, 4096, 17, 0, 0},
                                   {1, 32768, 64, 0, 0}, {5, 100, 20, 16, 1}, {2, 300, 200, 0, 0}};
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    for (const Case& c : cases)
      for (bool largest : {true, false})
        check_topk(DeviceKind::cpu, t, c, largest, /*ties=*/true);
  for (const Case& c : cases)
    check_topk(DeviceKind::cpu, DType::f32, c, /*largest=*/true, /*ties=*/false);
}

TEST(Topk, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (DType t : {DType::f32, DType::bf16})
    for (bool largest : {true, false})
      check_topk(DeviceKind::sim, t, {3, 70, 5, 16, 2}, largest, /*ties=*/true);
  // A 1024-column block: the path that narrows the block to its best groups of 16 first.
  check_topk(DeviceKind::sim, DType::f32, {2, 1000, 5, 0, 1}, /*largest=*/true, /*ties=*/true);
}

// The grouped path (blocks of 1024 and 4096 columns narrowed to their k best groups of 16) with
// NaN, -inf and +inf scattered over groups, and a row of only NaN and -inf: the same order as
// the stable-sort reference (NaN largest, first by column), also when k takes every NaN and more.
TEST(Topk, GroupedBlocksWithNaNAndInfinities) {
  const double nan = std::nan(""), inf = INFINITY;
  for (int64_t cols : {int64_t(1024), int64_t(3000), int64_t(4096)})
    for (bool largest : {true, false}) {
      auto x0 = random_values(size_t(2 * cols), uint32_t(cols), -4, 4);
      for (size_t i = 0; i < x0.size(); i += 37)
        x0[i] = std::round(x0[i]); // ties
      for (int64_t c : {int64_t(5), int64_t(17), cols - 1})
        x0[size_t(c)] = nan;
      x0[300] = inf;
      x0[301] = -inf;
      for (int64_t c = 0; c < cols; ++c) // row 1: -inf, and NaN every 100 columns
        x0[size_t(cols + c)] = c % 100 == 99 ? nan : -inf;
      TestTensor x(DeviceKind::cpu, DType::f32, {2, cols}, x0);
      for (int64_t k : {int64_t(1), int64_t(3), int64_t(20)}) {
        auto values = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, k});
        auto idx = TestTensor::poisoned(DeviceKind::cpu, DType::i32, {2, k});
        ops::topk(x.view(), values.view(), idx.view(), k, {.largest = largest});
        const std::string what = std::to_string(cols) + " columns k " + std::to_string(k) +
                                 (largest ? " largest" : " smallest");
        EXPECT_EQ(idx.values(), reference_indices(x0, 2, cols, k, largest)) << what;
      }
    }
}

// NaN is the largest value (first for largest, last for smallest, in column order among
// themselves); -0 ties with +0; infinities are ordinary numbers.
TEST(Topk, NaNZeroAndInfinity) {
  const double nan = std::nan(""), inf = INFINITY;
  std::vector<double> row = {1, nan, -inf, 0.0, -0.0, inf, nan, 3, -inf, 1};
  TestTensor x(DeviceKind::cpu, DType::f32, {1, 10}, row);
  for (bool largest : {true, false}) {
    auto values = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {1, 10});
    auto idx = TestTensor::poisoned(DeviceKind::cpu, DType::i32, {1, 10});
    ops::topk(x.view(), values.view(), idx.view(), 10, {.largest = largest, .block_cols = 16});
    std::vector<double> want = largest ? std::vector<double>{1, 6, 5, 7, 0, 9, 3, 4, 2, 8}
                                       : std::vector<double>{2, 8, 3, 4, 0, 9, 7, 5, 1, 6};
    EXPECT_EQ(idx.values(), want) << (largest ? "largest" : "smallest");
    auto v = values.values();
    EXPECT_TRUE(std::signbit(v[largest ? 7 : 3])) << "-0 comes back as -0";
    EXPECT_TRUE(std::isnan(v[largest ? 0 : 8]));
  }
}

// A row of NaN only, and NaN across blocks: the first NaNs by column.
TEST(Topk, AllNaNRowAcrossBlocks) {
  std::vector<double> v(40, std::nan(""));
  TestTensor x(DeviceKind::cpu, DType::bf16, {1, 40}, v);
  auto values = TestTensor::poisoned(DeviceKind::cpu, DType::bf16, {1, 3});
  auto idx = TestTensor::poisoned(DeviceKind::cpu, DType::i32, {1, 3});
  ops::topk(x.view(), values.view(), idx.view(), 3, {.block_cols = 16});
  EXPECT_EQ(idx.values(), (std::vector<double>{0, 1, 2}));
}

TEST(Topk, I64IndicesBatchShapeAndOtherValueDtype) {
  std::vector<float> x = {1, 5, 5, 2, 9, 0, 7, 7, 3, 3, 8, 1};
  std::vector<int64_t> idx(8, -1);
  std::vector<uint16_t> values(8, 0);
  TensorView xv(x.data(), {2, 2, 3}), iv(idx.data(), {2, 2, 2});
  TensorView vv(values.data(), DType::bf16, {2, 2, 2});
  ops::topk(xv, vv, iv, 2);
  EXPECT_EQ(idx, (std::vector<int64_t>{1, 2, 1, 0, 0, 1, 1, 0}));
  EXPECT_EQ(bfloat16_to_float(values[0]), 5.0f);
  EXPECT_EQ(bfloat16_to_float(values[2]), 9.0f);
}

TEST(Topk, ZeroRowsAndZeroKAreNoOps) {
  TestTensor x(DeviceKind::cpu, DType::f32, {0, 8}, {}), v(DeviceKind::cpu, DType::f32, {0, 2}, {}),
      i(DeviceKind::cpu, DType::i32, {0, 2}, {});
  ops::topk(x.view(), v.view(), i.view(), 2);
  TestTensor x2(DeviceKind::cpu, DType::f32, {3, 8}, random_values(24, 1)),
      v2(DeviceKind::cpu, DType::f32, {3, 0}, {}), i2(DeviceKind::cpu, DType::i32, {3, 0}, {});
  ops::topk(x2.view(), v2.view(), i2.view(), 0);
}

TEST(Topk, SortedFalseGivesTheSortedResult) {
  TestTensor x(DeviceKind::cpu, DType::f32, {2, 50}, random_values(100, 5));
  auto a = TestTensor::poisoned(DeviceKind::cpu, DType::i32, {2, 9});
  auto b = TestTensor::poisoned(DeviceKind::cpu, DType::i32, {2, 9});
  auto va = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 9});
  auto vb = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 9});
  ops::topk(x.view(), va.view(), a.view(), 9, {.sorted = true});
  ops::topk(x.view(), vb.view(), b.view(), 9, {.sorted = false});
  EXPECT_EQ(a.values(), b.values());
}

struct Args {
  std::vector<float> x = std::vector<float>(14), values = std::vector<float>(6);
  std::vector<int32_t> idx = std::vector<int32_t>(6);
  TensorView xv{x.data(), {2, 7}}, vv{values.data(), {2, 3}}, iv{idx.data(), {2, 3}};
};

TEST(TopkErrors, KLargerThanTheRow) {
  Args a;
  std::vector<float> v(16);
  std::vector<int32_t> i(16);
  const int line = __LINE__ + 3; // the line of the call below
  expect_error(
      [&] {
        ops::topk(a.xv, TensorView(v.data(), {2, 8}), TensorView(i.data(), {2, 8}), 8);
      },
      {"topk_test.cpp:" + std::to_string(line),
       "topk: k is 8 but x's last dimension is 7; expected 0 <= k <= 7"});
}

TEST(TopkErrors, NegativeK) {
  Args a;
  expect_error([&] { ops::topk(a.xv, a.vv, a.iv, -1); },
               {"topk: k is -1 but x's last dimension is 7; expected 0 <= k <= 7"});
}

TEST(TopkErrors, KAboveTheLimit) {
  std::vector<float> x(300), v(257);
  std::vector<int32_t> i(257);
  expect_error(
      [&] {
        ops::topk(TensorView(x.data(), {1, 300}), TensorView(v.data(), {1, 257}),
                  TensorView(i.data(), {1, 257}), 257);
      },
      {"topk: k is 257; expected at most 256"});
}

TEST(TopkErrors, ValuesShape) {
  Args a;
  expect_error(
      [&] {
        ops::topk(a.xv, TensorView(a.values.data(), {3, 2}), a.iv, 3);
      },
      {"topk: values has shape [3, 2] but x has shape [2, 7] and k is 3; expected shape "
       "[2, 3]"});
}

TEST(TopkErrors, IndicesShape) {
  Args a;
  expect_error([&] { ops::topk(a.xv, a.vv, TensorView(a.idx.data(), {6}), 3); },
               {"topk: indices has shape [6] but x has shape [2, 7] and k is 3; expected shape "
                "[2, 3]"});
}

TEST(TopkErrors, XDtype) {
  Args a;
  expect_error(
      [&] {
        ops::topk(TensorView(a.idx.data(), {2, 3}), a.vv, a.iv, 3);
      },
      {"topk: x has dtype i32; expected f32, f16 or bf16"});
}

TEST(TopkErrors, ValuesDtype) {
  Args a;
  expect_error(
      [&] {
        ops::topk(a.xv, TensorView(a.idx.data(), {2, 3}), a.iv, 3);
      },
      {"topk: values has dtype i32; expected f32, f16 or bf16"});
}

TEST(TopkErrors, IndicesDtype) {
  Args a;
  expect_error(
      [&] {
        ops::topk(a.xv, a.vv, TensorView(a.values.data(), {2, 3}), 3);
      },
      {"topk: indices has dtype f32; expected i32 or i64"});
}

TEST(TopkErrors, NonContiguousRows) {
  Args a;
  TensorView xt = a.xv;
  xt.shape = {7, 2};
  xt.strides = {1, 7}; // a transposed view
  expect_error(
      [&] {
        ops::topk(xt, TensorView(a.values.data(), {7, 1}), TensorView(a.idx.data(), {7, 1}), 1);
      },
      {"topk: x's last dimension has stride 7; the last dimension must be contiguous"});
}

TEST(TopkErrors, BlockNotAPowerOfTwo) {
  Args a;
  expect_error([&] { ops::topk(a.xv, a.vv, a.iv, 3, {.block_cols = 24}); },
               {"topk: block_cols is 24; expected 0 (chosen from the shape) or a power of two up "
                "to 4096"});
}

TEST(TopkPtx, NoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (int64_t block : {1024, 4096})
    for (int64_t kb : {16, 64})
      for (const char* target : {"sm_80", "sm_90a"}) {
        auto module =
            trace_dsl(ops::detail::topk_kernel(), {/*LARGEST=*/1, kb, block}, DType::bf16);
        expect_lean_ptx(*module, target, ops::detail::num_warps_for(int(block)),
                        std::string(target) + " BLOCK " + std::to_string(block) + " KB " +
                            std::to_string(kb));
      }
}

} // namespace
} // namespace tessel::testing
