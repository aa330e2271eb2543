// ops::quantize / ops::dequantize against a reference written here: scales = amax / qmax in f32
// (1 for an all-zero group), q = x / scale in f32 converted — int8 by clamping to [-127, 127] and
// rounding to nearest even (NaN -> 0), fp8 by tessel's host conversion (dtype.h, itself checked
// against an independent reference over every code and ~10^5 values in tests/device/fp8_test.cpp)
// — and y = q * scale rounded once to y's dtype. The quantized bits must match exactly, on the CPU
// and in the simulator, for every granularity, with computed and given scales; outputs poisoned
// and rows padded. Then the kernels' PTX (no spills) and one test per diagnostic.
#include "stdlib/ops_test_util.h"
#include "stdlib/quantize/quantize_kernels.h"
#include "support/expect_error.h"
#include "tessel/ops/quantize.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace {

using namespace tessel;
using tessel::ops::QuantGranularity;
using tessel::testing::expect_error;
using tessel::testing::TestTensor;

double qmax_of(DType t) { return t == DType::i8 ? 127 : t == DType::f8e4m3 ? 448 : 57344; }

float reference_quantize_value(float v, DType t, bool saturate) {
  if (t == DType::i8) {
    if (std::isnan(v))
      return 0;
    return std::nearbyint(std::fmax(-127.0f, std::fmin(127.0f, v))); // ties to even
  }
  return t == DType::f8e4m3 ? f8e4m3_to_float(float_to_f8e4m3(v, saturate))
                            : f8e5m2_to_float(float_to_f8e5m2(v, saturate));
}

int64_t group_of(QuantGranularity g, int64_t r, int64_t c) {
  return g == QuantGranularity::per_tensor ? 0 : g == QuantGranularity::per_token ? r : c;
}

std::vector<float> reference_scales(const std::vector<double>& x, int64_t rows, int64_t cols,
                                    QuantGranularity g, DType t) {
  const int64_t groups = g == QuantGranularity::per_tensor  ? 1
                         : g == QuantGranularity::per_token ? rows
                                                            : cols;
  std::vector<float> amax(size_t(groups), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const double v = std::fabs(x[size_t(r * cols + c)]);
      float& a = amax[size_t(group_of(g, r, c))];
      if (!std::isnan(v) && float(v) > a)
        a = float(v);
    }
  std::vector<float> s;
  for (float a : amax)
    s.push_back(a > 0 ? a / float(qmax_of(t)) : 1.0f);
  return s;
}

struct Case {
  int64_t rows, cols;
  DType in, q;
  QuantGranularity g;
};

void run_case(DeviceKind dev, const Case& k, bool compute, uint32_t seed) {
  const std::string what = std::string(dtype_name(k.in)) + "->" + dtype_name(k.q) + " " +
                           std::to_string(k.rows) + "x" + std::to_string(k.cols) + " gran " +
                           std::to_string(int(k.g)) + (compute ? " computed" : " given") +
                           (dev == DeviceKind::cpu ? " cpu" : " sim");
  SCOPED_TRACE(what);
  std::vector<double> raw = tessel::testing::random_values(size_t(k.rows * k.cols), seed, -3, 3);
  for (size_t i = 0; i < raw.size(); i += 97) // a few larger values, so that groups differ
    raw[i] *= 40;
  if (k.rows > 2) // an all-zero row: scale 1
    for (int64_t c = 0; c < k.cols; ++c)
      raw[size_t(k.cols + c)] = 0;
  const std::vector<double> xv = tessel::testing::rounded(raw, k.in); // what the kernel reads
  std::vector<float> want_s = reference_scales(xv, k.rows, k.cols, k.g, k.q);
  if (!compute) // the caller's scales: deliberately small, so that values saturate
    for (float& s : want_s)
      s *= 0.25f;
  const int64_t groups = int64_t(want_s.size());
  TestTensor x(dev, k.in, {k.rows, k.cols}, xv, /*pad=*/3);
  TestTensor q = TestTensor::poisoned(dev, k.q, {k.rows, k.cols}, /*pad=*/5);
  TestTensor s = compute ? TestTensor::poisoned(dev, DType::f32, {groups})
                         : TestTensor(dev, DType::f32, {groups},
                                      std::vector<double>(want_s.begin(), want_s.end()));
  ops::QuantizeOptions o{.dtype = k.q, .granularity = k.g, .compute_scales = compute};
  ops::quantize(x.view(), q.view(), s.view(), o);
  const std::vector<double> got_s = s.values(), got_q = q.values();
  for (int64_t i = 0; i < groups; ++i)
    ASSERT_EQ(float(got_s[size_t(i)]), want_s[size_t(i)]) << "scale " << i;
  for (int64_t r = 0; r < k.rows; ++r)
    for (int64_t c = 0; c < k.cols; ++c) {
      const size_t i = size_t(r * k.cols + c);
      const float want = reference_quantize_value(
          float(xv[i]) / want_s[size_t(group_of(k.g, r, c))], k.q, /*saturate=*/true);
      ASSERT_EQ(float(got_q[i]), want) << "q[" << r << ", " << c << "] of x " << xv[i];
    }
  if (k.q != DType::i8) { // i8's poison (-128) is not NaN: the padding check reads NaN
    EXPECT_TRUE(q.padding_untouched());
  }
  // Back: y = q * scale, rounded once to the input's dtype.
  TestTensor y = TestTensor::poisoned(dev, k.in, {k.rows, k.cols}, /*pad=*/2);
  ops::dequantize(q.view(), s.view(), y.view(), {.granularity = k.g});
  const std::vector<double> got_y = y.values();
  for (int64_t r = 0; r < k.rows; ++r)
    for (int64_t c = 0; c < k.cols; ++c) {
      const size_t i = size_t(r * k.cols + c);
      const float prod = float(got_q[i]) * want_s[size_t(group_of(k.g, r, c))];
      const double want = tessel::testing::rounded({double(prod)}, k.in)[0];
      ASSERT_EQ(got_y[i], want) << "y[" << r << ", " << c << "]";
    }
  EXPECT_TRUE(y.padding_untouched());
}

constexpr QuantGranularity kAll[] = {QuantGranularity::per_tensor, QuantGranularity::per_channel,
                                     QuantGranularity::per_token};

TEST(Quantize, MatchesTheReferenceOnTheCpu) {
  uint32_t seed = 12;
  for (DType q : {DType::i8, DType::f8e4m3, DType::f8e5m2})
    for (QuantGranularity g : kAll)
      for (Case k : {Case{1, 7, DType::f32, q, g}, Case{5, 1000, DType::bf16, q, g},
                     Case{3, 4096, DType::f32, q, g}, Case{4, 2100, DType::f16, q, g}})
        for (bool compute : {true, false})
          run_case(DeviceKind::cpu, k, compute, seed++);
}

TEST(Quantize, MatchesTheReferenceInTheSimulator) {
  TESSEL_REQUIRE_SIM_DEVICE();
  uint32_t seed = 40;
  for (DType q : {DType::i8, DType::f8e4m3, DType::f8e5m2})
    for (QuantGranularity g : kAll)
      run_case(DeviceKind::sim, Case{3, 70, q == DType::i8 ? DType::f32 : DType::bf16, q, g},
               /*compute=*/true, seed++);
  run_case(DeviceKind::sim, Case{2, 33, DType::f16, DType::i8, QuantGranularity::per_token},
           /*compute=*/false, seed++);
}

// per_tensor scales are a parallel reduction: up to kTensorAmaxPrograms programs, each a strip
// of rows (r, r + P, ...), folded by an atomic max. More rows than programs, so strips hold
// several rows, with the largest value in the last row (of the last strip), on the CPU and in
// the simulator: the scale and every q bit as the reference's, twice (the same bits each run).
TEST(Quantize, PerTensorScaleOverManyRowStrips) {
  const int64_t rows = ops::detail::kTensorAmaxPrograms * 2 + 3;
  for (DType q : {DType::i8, DType::f8e4m3})
    run_case(DeviceKind::cpu, Case{rows, 33, DType::f32, q, QuantGranularity::per_tensor},
             /*compute=*/true, 90);
  std::vector<double> xv(size_t(rows) * 8, 0.5);
  xv.back() = -9; // amax in the last row
  xv[3] = NAN;    // ignored by the scale
  TestTensor x(DeviceKind::cpu, DType::f32, {rows, 8}, xv);
  for (int run = 0; run < 2; ++run) {
    TestTensor q = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {rows, 8});
    TestTensor s = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {1});
    ops::quantize(x.view(), q.view(), s.view(), {.granularity = QuantGranularity::per_tensor});
    EXPECT_EQ(float(s.values()[0]), 9.0f / 127.0f);
    EXPECT_EQ(q.values().back(), -127);
    EXPECT_EQ(q.values()[3], 0);
  }
}

TEST(Quantize, PerTensorScaleInTheSimulator) {
  TESSEL_REQUIRE_SIM_DEVICE();
  run_case(DeviceKind::sim,
           Case{ops::detail::kTensorAmaxPrograms + 5, 20, DType::bf16, DType::i8,
                QuantGranularity::per_tensor},
           /*compute=*/true, 91);
}

// An all-NaN or all-zero tensor has amax 0 and scale 1 (NaN quantizes to 0).
TEST(Quantize, PerTensorScaleOfNanOrZeroTensorIsOne) {
  for (double v : {double(NAN), 0.0}) {
    TestTensor x(DeviceKind::cpu, DType::f32, {300, 5}, std::vector<double>(1500, v));
    TestTensor q = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {300, 5});
    TestTensor s = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {1});
    ops::quantize(x.view(), q.view(), s.view(), {.granularity = QuantGranularity::per_tensor});
    EXPECT_EQ(s.values()[0], 1.0) << v;
    EXPECT_EQ(q.values(), std::vector<double>(1500, 0.0)) << v;
  }
}

// Without saturation fp8 overflows to NaN (e4m3) / inf (e5m2); int8 always clamps.
TEST(Quantize, NonSaturatingFp8Overflows) {
  std::vector<double> xv = {1, 2, 3, 1000};
  for (DType t : {DType::f8e4m3, DType::f8e5m2}) {
    TestTensor x(DeviceKind::cpu, DType::f32, {1, 4}, xv);
    TestTensor q = TestTensor::poisoned(DeviceKind::cpu, t, {1, 4});
    TestTensor s(DeviceKind::cpu, DType::f32, {1}, {0.0078125}); // 1000 / s = 128000
    ops::quantize(x.view(), q.view(), s.view(),
                  {.dtype = t,
                   .granularity = QuantGranularity::per_tensor,
                   .compute_scales = false,
                   .saturate = false});
    const double last = q.values()[3];
    if (t == DType::f8e4m3)
      EXPECT_TRUE(std::isnan(last));
    else
      EXPECT_EQ(last, INFINITY);
    EXPECT_EQ(q.values()[0], 128);
  }
}

// NaN inputs: int8 gives 0 and the scale ignores them; an all-zero row has scale 1; 2.5 is a tie
// and rounds to the even 2.
TEST(Quantize, NanAndZeroInputs) {
  TestTensor x(DeviceKind::cpu, DType::f32, {2, 3}, {NAN, 2.5, -127, 0, 0, 0});
  TestTensor q = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {2, 3});
  TestTensor s = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2});
  ops::quantize(x.view(), q.view(), s.view());
  EXPECT_EQ(s.values(), (std::vector<double>{1.0, 1.0}));
  EXPECT_EQ(q.values(), (std::vector<double>{0, 2, -127, 0, 0, 0}));
}

TEST(Quantize, ZeroSizedIsANoOp) {
  TestTensor x(DeviceKind::cpu, DType::f32, {0, 8}, {});
  TestTensor q = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {0, 8});
  TestTensor s = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {0});
  ops::quantize(x.view(), q.view(), s.view());
  ops::dequantize(q.view(), s.view(), x.view());
}

TEST(Quantize, KernelsCompileWithoutSpills) {
  TESSEL_REQUIRE_SIM_DEVICE();
  std::vector<uint8_t> buf(64);
  for (const char* target : {"sm_80", "sm_90a"})
    for (DType q : {DType::i8, DType::f8e4m3, DType::f8e5m2})
      for (int gran : {0, 1, 2}) {
        const int code = q == DType::i8 ? 0 : q == DType::f8e4m3 ? 1 : 2;
        auto check = [&](const CompileResult& r, const char* which) {
          const std::string what = std::string(target) + " " + which + " " + dtype_name(q) +
                                   " gran " + std::to_string(gran);
          EXPECT_TRUE(r.resources.parsed) << what << ": " << r.info_log;
          EXPECT_EQ(r.resources.spill_stores, 0) << what;
          EXPECT_EQ(r.resources.spill_loads, 0) << what;
        };
        TensorView f(buf.data(), DType::f32, {8}), qv(buf.data(), q, {8});
        const Target t = Target::parse(target);
        check(ops::detail::quant_scales_kernel().compile(
                  t, Signature::from_args(f, f, 4096, 4096, 4096, gran, code, 1024)),
              "quant_scales");
        check(ops::detail::quantize_kernel().compile(
                  t, Signature::from_args(qv, f, f, 4096, 4096, 4096, gran, code, 1, 1024)),
              "quantize");
        check(ops::detail::quant_tensor_scale_kernel().compile(
                  t, Signature::from_args(f, code, gran == 0 ? 0 : 1)),
              "quant_tensor_scale");
        check(ops::detail::dequantize_kernel().compile(
                  t, Signature::from_args(f, qv, f, 4096, 4096, 4096, gran, 1024)),
              "dequantize");
      }
}

// ---- diagnostics
// ---------------------------------------------------------------------------------

TEST(QuantizeErrors, ScalesOfTheWrongShape) {
  TestTensor x(DeviceKind::cpu, DType::f32, {5, 7}, std::vector<double>(35, 1));
  TestTensor q = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {5, 7});
  TestTensor s = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {1});
  const int line = __LINE__ + 1;
  expect_error([&] { ops::quantize(x.view(), q.view(), s.view()); },
               {std::string(__FILE__) + ":" + std::to_string(line), "quantize",
                "scales has shape [1]", "per_token scales of x [5, 7]", "5 elements"});
}

TEST(QuantizeErrors, UnsupportedDtype) {
  TestTensor x(DeviceKind::cpu, DType::f32, {2, 4}, std::vector<double>(8, 1));
  TestTensor q = TestTensor::poisoned(DeviceKind::cpu, DType::i32, {2, 4});
  TestTensor s = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2});
  expect_error([&] { ops::quantize(x.view(), q.view(), s.view(), {.dtype = DType::i32}); },
               {"quantize", "the quantized dtype is i32", "i8, f8e4m3 and f8e5m2"});
}

TEST(QuantizeErrors, QOfAnotherDtypeThanTheOptions) {
  TestTensor x(DeviceKind::cpu, DType::f32, {2, 4}, std::vector<double>(8, 1));
  TestTensor q = TestTensor::poisoned(DeviceKind::cpu, DType::f8e4m3, {2, 4});
  TestTensor s = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2});
  expect_error([&] { ops::quantize(x.view(), q.view(), s.view()); },
               {"quantize", "q is f8e4m3 but options.dtype is i8"});
}

TEST(QuantizeErrors, DequantizeIntoAnIntegerTensor) {
  TestTensor q = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {2, 4});
  TestTensor y = TestTensor::poisoned(DeviceKind::cpu, DType::i32, {2, 4});
  TestTensor s = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2});
  expect_error([&] { ops::dequantize(q.view(), s.view(), y.view()); }, {"dequantize", "y"});
}

} // namespace
