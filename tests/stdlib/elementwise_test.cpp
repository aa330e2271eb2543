// ops::add and ops::mul with broadcasting against an f64 reference written here: shapes of rank 1
// to 4 broadcasting in every position (the last axis too), rows longer than one block, batch 1,
// mixed input dtypes with a fused cast to a third, strided (transposed) inputs, in-place; the
// simulated device; bad input; PTX for sm_80 / sm_90a unspilled.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "support/expect_error.h"
#include "tessel/ops.h"

namespace tessel::testing {
namespace {

using Shape = std::vector<int64_t>;

int64_t count(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s)
    n *= d;
  return n;
}

std::string str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// NumPy's broadcast of two shapes (the test's own, independent of the op's).
Shape broadcast(Shape a, Shape b) {
  while (a.size() < b.size())
    a.insert(a.begin(), 1);
  while (b.size() < a.size())
    b.insert(b.begin(), 1);
  Shape out(a.size());
  for (size_t i = 0; i < a.size(); ++i)
    out[i] = std::max(a[i], b[i]);
  return out;
}

// The element of `values` (shape `s`, row-major) that output index `idx` (shape `out`) reads.
double at(const std::vector<double>& values, const Shape& s, const Shape& out, int64_t idx) {
  int64_t offset = 0, stride = 1;
  for (int i = int(out.size()) - 1, j = int(s.size()) - 1; j >= 0; --i, --j) {
    int64_t coord = (idx /
                     [&] {
                       int64_t inner = 1;
                       for (int k = i + 1; k < int(out.size()); ++k)
                         inner *= out[k];
                       return inner;
                     }()) %
                    out[i];
    offset += (s[j] == 1 ? 0 : coord) * stride;
    stride *= s[j];
  }
  return values[offset];
}

std::vector<double> reference(bool is_add, const std::vector<double>& a, const Shape& as,
                              const std::vector<double>& b, const Shape& bs) {
  Shape out = broadcast(as, bs);
  std::vector<double> want(size_t(count(out)));
  for (int64_t i = 0; i < count(out); ++i) {
    double x = at(a, as, out, i), y = at(b, bs, out, i);
    want[i] = is_add ? x + y : x * y;
  }
  return want;
}

struct Case {
  Shape a, b;
};

void check_binary(DeviceKind dev, bool is_add, DType at_, DType bt, DType yt, const Case& c,
                  int64_t y_pad = 3) {
  auto a0 = rounded(random_values(size_t(count(c.a)), uint32_t(count(c.a) + 1)), at_);
  auto b0 = rounded(random_values(size_t(count(c.b)), uint32_t(count(c.b) + 7)), bt);
  Shape out = broadcast(c.a, c.b);
  TestTensor a(dev, at_, c.a, a0), b(dev, bt, c.b, b0);
  auto y = TestTensor::poisoned(dev, yt, out, y_pad);
  if (is_add)
    ops::add(a.view(), b.view(), y.view());
  else
    ops::mul(a.view(), b.view(), y.view());
  std::string what = std::string(is_add ? "add " : "mul ") + dtype_name(at_) + "+" +
                     dtype_name(bt) + "->" + dtype_name(yt) + " " + str(c.a) + " " + str(c.b);
  // One rounding of an exact f32 sum or product of rounded inputs: the output dtype's rtol; a sum
  // may cancel to near zero, so the absolute floor is relative to the inputs' scale (3).
  expect_close(y.values(), reference(is_add, a0, c.a, b0, c.b), rtol_for(yt), what,
               rtol_for(yt) * 3e-2);
  EXPECT_TRUE(y.padding_untouched()) << what;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {{1}, {1}},                         // one element
      {{3, 7}, {7}},                      // a bias row
      {{3, 7}, {3, 1}},                   // a per-row scale: b's last axis broadcasts
      {{2, 1, 5, 1000}, {1, 3, 1, 1000}}, // both broadcast, in different positions
      {{1, 4096}, {1, 4096}},             // batch 1, one full block... and four of them
      {{2, 5000}, {5000}},                // rows longer than one block
      {{4, 1, 33}, {2, 1}},               // ranks differ, b broadcasts twice
      {{5}, {2, 3, 5}},                   // a is the smaller one
  };
  return c;
}

TEST(Elementwise, AddCpu) {
  for (const Case& c : cases())
    check_binary(DeviceKind::cpu, true, DType::f32, DType::f32, DType::f32, c);
}

TEST(Elementwise, MulCpu) {
  for (const Case& c : cases())
    check_binary(DeviceKind::cpu, false, DType::f32, DType::f32, DType::f32, c);
}

TEST(Elementwise, MixedDtypesAndFusedCast) {
  for (const Case& c : cases()) {
    check_binary(DeviceKind::cpu, true, DType::bf16, DType::f32, DType::f16, c);
    check_binary(DeviceKind::cpu, false, DType::f16, DType::bf16, DType::bf16, c);
    check_binary(DeviceKind::cpu, true, DType::f16, DType::f16, DType::f32, c);
  }
}

TEST(Elementwise, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (const Case& c : {Case{{3, 40}, {40}}, Case{{2, 3, 1, 20}, {3, 5, 1}}}) {
    check_binary(DeviceKind::sim, true, DType::f32, DType::bf16, DType::f32, c);
    check_binary(DeviceKind::sim, false, DType::bf16, DType::bf16, DType::bf16, c);
  }
}

// Rows shorter than a block with a, b and y all contiguous run as one row of every element (a
// program per block, not per row); several blocks and a partial last one. A padded y keeps rows.
const Case kShortRows[] = {{{300, 7}, {300, 7}}, {{2, 150, 7}, {2, 150, 7}}};

TEST(Elementwise, ShortContiguousRowsAsOneRowCpu) {
  for (const Case& c : kShortRows)
    for (int64_t pad : {0, 3}) {
      check_binary(DeviceKind::cpu, true, DType::f32, DType::f32, DType::f32, c, pad);
      check_binary(DeviceKind::cpu, false, DType::bf16, DType::bf16, DType::bf16, c, pad);
    }
}

TEST(Elementwise, ShortContiguousRowsAsOneRowSimulated) {
  TESSEL_REQUIRE_SIM_DEVICE();
  check_binary(DeviceKind::sim, true, DType::bf16, DType::f32, DType::bf16, kShortRows[0], 0);
}

// A transposed b (strides [1, 3]): its last axis is read with a run-time stride.
TEST(Elementwise, StridedInput) {
  const int64_t rows = 5, cols = 3;
  auto a0 = random_values(size_t(rows * cols), 3), bt0 = random_values(size_t(rows * cols), 4);
  std::vector<float> a(a0.begin(), a0.end()), bt(bt0.begin(), bt0.end()), y(a.size(), NAN);
  TensorView b(bt.data(), {rows, cols}); // b[r, c] = bt[c * rows + r]
  b.strides = {1, rows};
  ops::mul(TensorView(a.data(), {rows, cols}), b, TensorView(y.data(), {rows, cols}));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      EXPECT_EQ(y[r * cols + c], a[r * cols + c] * bt[c * rows + r]) << r << ", " << c;
}

TEST(Elementwise, InPlace) {
  std::vector<float> x = {1, 2, 3, 4, 5, 6}, bias = {10, 20, 30};
  TensorView xv(x.data(), {2, 3});
  ops::add(xv, TensorView(bias.data(), {3}), xv);
  EXPECT_EQ(x, (std::vector<float>{11, 22, 33, 14, 25, 36}));
}

TEST(Elementwise, ZeroSizedIsANoOp) {
  TestTensor a(DeviceKind::cpu, DType::f32, {0, 8}, {}), b(DeviceKind::cpu, DType::f32, {8}, {});
  TestTensor y(DeviceKind::cpu, DType::f32, {0, 8}, {});
  ops::add(a.view(), b.view(), y.view());
  TestTensor a2(DeviceKind::cpu, DType::f32, {4, 0}, {}),
      y2(DeviceKind::cpu, DType::f32, {4, 0}, {});
  ops::mul(a2.view(), a2.view(), y2.view());
}

TEST(ElementwiseErrors, DoNotBroadcast) {
  TestTensor a(DeviceKind::cpu, DType::f32, {2, 3}, random_values(6, 1));
  TestTensor b(DeviceKind::cpu, DType::f32, {4}, random_values(4, 1));
  auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 3});
  int line = __LINE__ + 1;
  expect_error([&] { ops::add(a.view(), b.view(), y.view()); },
               {"elementwise_test.cpp:" + std::to_string(line),
                "add: a has shape [2, 3] and b has shape [4]: they do not broadcast (3 against 4 "
                "in the same position from the right); expected equal sizes or 1"});
}

TEST(ElementwiseErrors, OutputShape) {
  TestTensor a(DeviceKind::cpu, DType::f32, {2, 1}, random_values(2, 1));
  TestTensor b(DeviceKind::cpu, DType::f32, {3}, random_values(3, 1));
  auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 1});
  expect_error([&] { ops::mul(a.view(), b.view(), y.view()); },
               {"mul: y has shape [2, 1] but a and b broadcast to [2, 3]; expected shape [2, 3]"});
}

TEST(ElementwiseErrors, RankAboveFour) {
  std::vector<float> buf(32);
  TensorView a(buf.data(), {2, 2, 2, 2, 2});
  expect_error([&] { ops::add(a, a, a); },
               {"add: a has shape [2, 2, 2, 2, 2] (rank 5); expected rank 1 to 4"});
}

TEST(ElementwiseErrors, Dtype) {
  std::vector<int32_t> i(4);
  std::vector<float> f(4);
  expect_error(
      [&] {
        ops::add(TensorView(f.data(), {4}), TensorView(i.data(), {4}), TensorView(f.data(), {4}));
      },
      {"add: b has dtype i32; expected f32, f16 or bf16"});
}

TEST(ElementwiseErrors, NonContiguousOutput) {
  std::vector<float> a(8), y(16);
  TensorView yv(y.data(), {8});
  yv.strides = {2};
  expect_error([&] { ops::add(TensorView(a.data(), {8}), TensorView(a.data(), {8}), yv); },
               {"add: y's last dimension has stride 2; the last dimension must be contiguous"});
}

TEST(ElementwiseErrors, BroadcastOutput) {
  std::vector<float> a(8), y(4);
  TensorView yv(y.data(), {2, 4});
  yv.strides = {0, 1};
  expect_error(
      [&] {
        ops::mul(TensorView(a.data(), {2, 4}), TensorView(a.data(), {2, 4}), yv);
      },
      {"mul: y has stride 0 in a dimension of size > 1; an output may not broadcast"});
}

TEST(ElementwiseErrors, NegativeStride) {
  std::vector<float> a(8), y(8);
  TensorView av(a.data() + 7, {8});
  av.strides = {-1};
  expect_error([&] { ops::add(av, TensorView(a.data(), {8}), TensorView(y.data(), {8})); },
               {"add: a, b or y has more than 2^31 - 1 rows, columns or elements between "
                "neighbours, or a negative stride; the kernel takes 32-bit non-negative sizes and "
                "strides"});
}

TEST(ElementwiseErrors, NullData) {
  std::vector<float> y(8);
  expect_error(
      [&] {
        ops::mul(TensorView(static_cast<float*>(nullptr), {8}), TensorView(y.data(), {8}),
                 TensorView(y.data(), {8}));
      },
      {"mul: a has shape [8] but a null data pointer"});
}

TEST(ElementwiseErrors, Device) {
  TESSEL_REQUIRE_SIM_DEVICE();
  TestTensor a(DeviceKind::sim, DType::f32, {4}, random_values(4, 1));
  std::vector<float> b(4), y(4);
  expect_error([&] { ops::add(a.view(), TensorView(b.data(), {4}), TensorView(y.data(), {4})); },
               {"add: b is on device cpu:0 but a is on ", "; pass tensors on one device"});
}

TEST(ElementwisePtx, NoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  using ops::detail::LastAxis;
  const int kc = int(LastAxis::contiguous);
  for (std::vector<int64_t> consts : {std::vector<int64_t>{0, kc, kc, 1024},
                                      {1, kc, int(LastAxis::broadcast), 1024},
                                      {0, int(LastAxis::strided), kc, 1024}})
    for (const char* target : {"sm_80", "sm_90a"}) {
      auto module = trace_dsl(ops::detail::broadcast_binary_kernel(), consts, DType::bf16);
      codegen::gpu::CompileOptions opts;
      opts.num_warps = ops::detail::num_warps_for(1024);
      auto out =
          codegen::gpu::compile(*module->functions.front(), codegen::parse_target(target), opts);
      std::string what = std::string(target) + " A_LAST " + std::to_string(consts[1]) + " B_LAST " +
                         std::to_string(consts[2]);
      EXPECT_TRUE(out.resources.parsed) << out.info_log;
      EXPECT_EQ(out.resources.spill_stores, 0) << what;
      EXPECT_EQ(out.resources.spill_loads, 0) << what;
      EXPECT_EQ(codegen::gpu::ptx_stats(out.ptx).get("local"), 0) << what;
      // Contiguous bf16 operands with 16-byte aligned pointers and strides: 16-byte accesses.
      if (consts[1] == kc) {
        EXPECT_GT(codegen::gpu::ptx_stats(out.ptx).get("ld.global.v4"), 0) << what;
      }
    }
}

} // namespace
} // namespace tessel::testing
