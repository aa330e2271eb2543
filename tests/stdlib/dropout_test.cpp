// ops::dropout / dropout_backward and the fusable ops::dsl::dropout against a reference written
// here from the definition (tests/support/philox_reference.h gives rand's bits): the exact bits on
// the CPU in f32/f16/bf16 at several shapes with padded rows, the fraction of dropped elements,
// determinism per (seed, offset), counters past 2^32, p = 0 and p = 1, in place, the simulated
// device's bits equal to the CPU's, the mask fused into another kernel, bad input, and the PTX.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "support/expect_error.h"
#include "support/philox_reference.h"
#include "tessel/ops.h"

#include <bit>
#include <cstring>

namespace tessel::testing {
namespace {

// The kept elements scaled by 1 / (1 - p) (f32, as the kernel), the others 0, rounded to `t`.
std::vector<double> dropout_reference(const std::vector<double>& x, DType t,
                                      const ops::DropoutOptions& o) {
  const float scale = 1.0f / (1.0f - o.p);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const uint64_t g = o.offset + i; // element g: word g % 4 of counter g / 4
    const float u = uniform_reference(randint4x_reference(int64_t(o.seed), g / 4)[g % 4]);
    y[i] = u >= o.p ? round_to_dtype(double(float(x[i]) * scale), t) : 0.0;
  }
  return y;
}

// Bit-exact up to NaN (a kept NaN stays NaN).
void expect_same(const std::vector<double>& got, const std::vector<double>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      ASSERT_TRUE(std::isnan(got[i])) << what << ": element " << i;
      continue;
    }
    ASSERT_EQ(got[i], want[i]) << what << ": element " << i;
  }
}

void check_forward(DeviceKind dev, DType t, std::vector<int64_t> shape, int64_t pad,
                   const ops::DropoutOptions& o) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  std::vector<double> x = rounded(random_values(size_t(n), uint32_t(n) + 1), t);
  TestTensor xt(dev, t, shape, x, pad);
  TestTensor yt = TestTensor::poisoned(dev, t, shape, pad);
  ops::dropout(xt.view(), yt.view(), o);
  const std::string what =
      std::string(dtype_name(t)) + " " + std::to_string(n) + " p " + std::to_string(o.p);
  expect_same(yt.values(), dropout_reference(x, t, o), what);
  EXPECT_TRUE(yt.padding_untouched()) << what;
}

TEST(Dropout, CpuBitsAreTheReferencesInEveryDtype) {
  const ops::DropoutOptions o{.p = 0.3f, .seed = 1234, .offset = 77};
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {7, 1000}, {3, 4096}, {2, 5000}})
      check_forward(DeviceKind::cpu, t, {rows, cols}, cols > 1 ? 3 : 0, o);
}

TEST(Dropout, SimulatedDeviceHasTheCpusBits) {
  TESSEL_REQUIRE_SIM_DEVICE();
  const ops::DropoutOptions o{.p = 0.25f, .seed = 0xfedcba9876543210ull, .offset = 5};
  for (DType t : {DType::f32, DType::bf16}) {
    std::vector<double> x = rounded(random_values(3 * 300, 9), t);
    TestTensor xc(DeviceKind::cpu, t, {3, 300}, x, 4), xs(DeviceKind::sim, t, {3, 300}, x, 4);
    TestTensor yc = TestTensor::poisoned(DeviceKind::cpu, t, {3, 300}, 4);
    TestTensor ys = TestTensor::poisoned(DeviceKind::sim, t, {3, 300}, 4);
    ops::dropout(xc.view(), yc.view(), o);
    ops::dropout(xs.view(), ys.view(), o);
    expect_same(ys.values(), yc.values(), dtype_name(t));
    expect_same(ys.values(), dropout_reference(x, t, o), dtype_name(t));
    EXPECT_TRUE(ys.padding_untouched());
  }
  // The ALIGNED kernel (offset and row length multiples of 4), rows of several programs.
  check_forward(DeviceKind::sim, DType::f32, {2, 2048 + 64}, 4,
                {.p = 0.5f, .seed = 3, .offset = 8});
  check_forward(DeviceKind::sim, DType::f16, {3, 37}, 0, {.p = 0.5f, .seed = 3, .offset = 2});
}

// 2^16 elements: the dropped fraction is p within 0.01 (~5 standard errors at p = 0.5).
// dropout_backward on the simulated device: the forward's mask on dy, the CPU's bits.
TEST(Dropout, BackwardOnTheSimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  const ops::DropoutOptions o{.p = 0.4f, .seed = 99, .offset = 13};
  std::vector<double> dy = rounded(random_values(3 * 50, 21), DType::f32);
  TestTensor dyt(DeviceKind::sim, DType::f32, {3, 50}, dy, 2);
  TestTensor dx = TestTensor::poisoned(DeviceKind::sim, DType::f32, {3, 50}, 2);
  ops::dropout_backward(dyt.view(), dx.view(), o);
  expect_same(dx.values(), dropout_reference(dy, DType::f32, o), "backward, simulated device");
  EXPECT_TRUE(dx.padding_untouched());
}

TEST(Dropout, DropsAFractionPOfTheElements) {
  const int64_t n = 1 << 16;
  std::vector<float> x(n, 1.0f), y(n);
  for (float p : {0.1f, 0.5f, 0.9f}) {
    ops::dropout(TensorView(x.data(), {n}), TensorView(y.data(), {n}), {.p = p, .seed = 8});
    int64_t dropped = 0;
    for (float v : y) {
      dropped += v == 0.0f;
      ASSERT_TRUE(v == 0.0f || v == 1.0f / (1.0f - p)) << v;
    }
    EXPECT_NEAR(double(dropped) / n, p, 0.01) << "p " << p;
  }
}

TEST(Dropout, DeterministicPerSeedAndOffset) {
  const int64_t n = 4096;
  std::vector<float> x(n + 100, 1.0f), a(n), b(n), c(n), shifted(n + 100);
  auto run = [&](std::vector<float>& out, int64_t count, uint64_t seed, uint64_t offset) {
    ops::dropout(TensorView(x.data(), {count}), TensorView(out.data(), {count}),
                 {.p = 0.5f, .seed = seed, .offset = offset});
  };
  run(a, n, 42, 100);
  run(b, n, 42, 100);
  EXPECT_EQ(a, b) << "the same (seed, offset) gives the same mask";
  run(c, n, 43, 100);
  EXPECT_NE(a, c) << "another seed gives another mask";
  // Element i uses counter offset + i (word (offset + i) % 4 of Philox counter (offset + i) / 4):
  // offset 100 is offset 0 shifted by 100 elements.
  run(shifted, n + 100, 42, 0);
  EXPECT_TRUE(std::equal(a.begin(), a.end(), shifted.begin() + 100));
}

// Counters past 2^63 and wrapping at 2^64: the group counter (offset + i) / 4 is a logical shift,
// in rows whose first counter is a multiple of 4 (the ALIGNED kernel) and in rows that are not.
TEST(Dropout, CountersPastTwoToThe63AndWrapping) {
  for (uint64_t offset : {uint64_t(1) << 63, (uint64_t(1) << 63) - 6, ~uint64_t(0) - 37})
    for (int64_t cols : {64, 33})
      check_forward(DeviceKind::cpu, DType::f32, {3, cols}, 1,
                    {.p = 0.5f, .seed = 11, .offset = offset});
}

// A row of 1 to 9 elements at every offset modulo 4: groups of four split across rows.
TEST(Dropout, ShortRowsAtEveryShift) {
  for (int64_t cols = 1; cols <= 9; ++cols)
    for (uint64_t offset = 0; offset < 4; ++offset)
      check_forward(DeviceKind::cpu, DType::bf16, {5, cols}, 0,
                    {.p = 0.5f, .seed = 2, .offset = offset});
}

TEST(Dropout, CountersCrossIntoTheHighWord) {
  // offset + i passes 2^32: the counter's second word becomes 1.
  check_forward(DeviceKind::cpu, DType::f32, {2, 16}, 0,
                {.p = 0.5f, .seed = 3, .offset = (uint64_t(1) << 32) - 20});
}

TEST(Dropout, POfZeroIsTheIdentityAndPOfOneGivesZeros) {
  std::vector<double> x = random_values(1000, 4);
  x[3] = std::nan("");
  TestTensor xt(DeviceKind::cpu, DType::f32, {1000}, x);
  TestTensor y0 = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {1000});
  TestTensor y1 = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {1000});
  ops::dropout(xt.view(), y0.view(), {.p = 0.0f, .seed = 1});
  ops::dropout(xt.view(), y1.view(), {.p = 1.0f, .seed = 1});
  expect_same(y0.values(), rounded(x, DType::f32), "p = 0");
  expect_same(y1.values(), std::vector<double>(1000, 0.0), "p = 1 (a dropped NaN is 0 too)");
}

TEST(Dropout, BackwardAppliesTheForwardsMask) {
  const ops::DropoutOptions o{.p = 0.4f, .seed = 99, .offset = 12};
  for (DType t : {DType::f32, DType::f16}) {
    std::vector<double> dy = rounded(random_values(5 * 333, 21), t);
    TestTensor dyt(DeviceKind::cpu, t, {5, 333}, dy, 2);
    TestTensor dx = TestTensor::poisoned(DeviceKind::cpu, t, {5, 333}, 2);
    ops::dropout_backward(dyt.view(), dx.view(), o);
    expect_same(dx.values(), dropout_reference(dy, t, o), dtype_name(t));
    // The forward on all-ones keeps exactly the elements whose gradient passes.
    std::vector<double> ones(5 * 333, 1.0);
    TestTensor xt(DeviceKind::cpu, t, {5, 333}, ones, 2);
    TestTensor y = TestTensor::poisoned(DeviceKind::cpu, t, {5, 333}, 2);
    ops::dropout(xt.view(), y.view(), o);
    std::vector<double> yv = y.values(), dxv = dx.values();
    for (size_t i = 0; i < yv.size(); ++i)
      ASSERT_EQ(yv[i] == 0, dxv[i] == 0 && dy[i] != 0) << i;
  }
}

TEST(Dropout, InPlace) {
  const ops::DropoutOptions o{.p = 0.5f, .seed = 7};
  std::vector<double> x = random_values(2048, 5);
  TestTensor xt(DeviceKind::cpu, DType::f32, {2, 1024}, x);
  ops::dropout(xt.view(), xt.view(), o);
  expect_same(xt.values(), dropout_reference(rounded(x, DType::f32), DType::f32, o), "in place");
}

TEST(Dropout, ZeroSizedIsANoOp) {
  float* none = nullptr;
  ops::dropout(TensorView(none, {0, 8}), TensorView(none, {0, 8}));
  SUCCEED();
}

TEST(DropoutErrors, POutsideZeroToOne) {
  std::vector<float> x(8), y(8);
  TensorView xv(x.data(), {8}), yv(y.data(), {8});
  expect_error([&] { ops::dropout(xv, yv, {.p = 1.5f}); },
               {"dropout_test.cpp", "dropout: p is 1.5; expected a probability in [0, 1]"});
  expect_error([&] { ops::dropout_backward(xv, yv, {.p = -0.25f}); },
               {"dropout_backward: p is -0.25; expected a probability in [0, 1]"});
  expect_error([&] { ops::dropout(xv, yv, {.p = NAN}); },
               {"dropout: p is nan; expected a probability in [0, 1]"});
}

TEST(DropoutErrors, OutputShape) {
  std::vector<float> x(8), y(8);
  expect_error(
      [&] {
        ops::dropout(TensorView(x.data(), {8}), TensorView(y.data(), {2, 4}));
      },
      {"dropout: y has shape [2, 4] but x has shape [8]"});
}

TEST(DropoutErrors, NonContiguousRows) {
  std::vector<float> x(8), y(8);
  TensorView xt(x.data(), {4, 2});
  xt.strides = {1, 4};
  expect_error(
      [&] {
        ops::dropout(xt, TensorView(y.data(), {4, 2}));
      },
      {"dropout: x's last dimension has stride 4; the last dimension must be contiguous"});
}

TEST(DropoutErrors, IntegerInput) {
  std::vector<int32_t> x(8);
  std::vector<float> y(8);
  expect_error(
      [&] { ops::dropout(TensorView(x.data(), DType::i32, {8}), TensorView(y.data(), {8})); },
      {"dropout: x has dtype i32; expected f32, f16 or bf16"});
}

// A kernel of the user's that fuses dropout after a bias add: the bits of add then ops::dropout.
TEST(DropoutDsl, FusedIntoAnotherKernelGivesTheOpsBits) {
  namespace tl = tessel::lang;
  static const Kernel fused = tl::kernel("test_bias_dropout", "y, x, bias, n, seed, p, BLOCK",
                                         [](tl::Ptr y, tl::Ptr x, tl::Ptr bias, tl::Int n,
                                            tl::Int seed, tl::Float p, tl::Const<int> BLOCK) {
                                           auto i =
                                               tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                                           auto m = i < n;
                                           auto h = tl::load(x + i, m) + tl::load(bias + i, m);
                                           tl::store(y + i, ops::dsl::dropout(h, seed, i, p), m);
                                         });
  const int n = 1000;
  std::vector<float> x(n), bias(n), h(n), want(n), got(n, NAN);
  std::vector<double> xv = random_values(n, 1), bv = random_values(n, 2);
  for (int i = 0; i < n; ++i) {
    x[i] = float(xv[i]);
    bias[i] = float(bv[i]);
    h[i] = x[i] + bias[i];
  }
  ops::dropout(TensorView(h.data(), {n}), TensorView(want.data(), {n}), {.p = 0.2f, .seed = 5});
  LaunchOptions cpu;
  cpu.device = DeviceKind::cpu;
  fused.launch({(n + 255) / 256}, cpu, got.data(), x.data(), bias.data(), n, 5, 0.2f, 256);
  EXPECT_EQ(got, want);
}

TEST(DropoutPtx, NoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (int64_t block : {1024, 4096})
    for (const char* target : {"sm_80", "sm_90a"}) {
      auto module = trace_dsl(ops::detail::dropout_kernel(), {/*ALIGNED=*/1, block}, DType::bf16);
      expect_lean_ptx(*module, target, ops::detail::num_warps_for(int(block)),
                      std::string("dropout ") + target + " BLOCK " + std::to_string(block));
    }
}

} // namespace
} // namespace tessel::testing
