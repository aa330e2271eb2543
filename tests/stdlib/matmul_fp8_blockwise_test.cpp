// fp8 with block scales (tessel/ops/fp8_blockwise.h) against references written here:
// quantize_fp8_blockwise's scales (amax / qmax per 1 x 128 or 128 x 128 block in f32, 1 for an
// all-zero block) and q (x / scale in f32, rounded once to nearest even and saturated: tessel's
// host conversion, itself checked against an independent reference in tests/device/fp8_test.cpp)
// bit for bit; matmul_fp8_blockwise against the f64 sum over K blocks of a_s * b_s * the block's
// product, on the CPU and on the simulated device at sm_89 (mma.sync .e4m3/.e5m2; memcheck and
// racecheck on, no bank conflicts), ragged shapes, M = 1 and larger, several K and N blocks,
// transposed weights, BK 32 and the defaults, epilogues; then quantize-then-run against the
// float product, the errors, and the PTX (sm_89, sm_90a).
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/quant/fp8_blockwise_kernels.h"
#include "support/expect_error.h"
#include "support/scoped_env.h"
#include "tessel/jit/registry.h"
#include "tessel/ops.h"
#include "tessel/ops/registry.h"

#include <fmt/format.h>

#include <cmath>
#include <string>
#include <vector>

namespace tessel::testing {
namespace {

using ops::Fp8Blocks;
constexpr int64_t B = ops::kFp8ScaleBlock;
constexpr DType e4 = DType::f8e4m3, e5 = DType::f8e5m2;

int64_t blocks(int64_t n) { return (n + B - 1) / B; }

std::vector<DeviceKind> devices() {
  std::vector<DeviceKind> d{DeviceKind::cpu};
  if (sim_device_ready())
    d.push_back(DeviceKind::sim);
  return d;
}

// ---- quantize_fp8_blockwise
// -----------------------------------------------------------------

struct QuantRef {
  std::vector<double> q, scales;
};

QuantRef reference_quantize(const std::vector<double>& x, int64_t rows, int64_t cols,
                            Fp8Blocks blocks_of, DType t) {
  const bool weight = blocks_of == Fp8Blocks::block_128x128;
  const int64_t srows = weight ? blocks(rows) : rows, scols = blocks(cols);
  auto block_of = [&](int64_t r, int64_t c) {
    return size_t((weight ? r / B : r) * scols + c / B);
  };
  std::vector<float> amax(size_t(srows * scols), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float v = std::fabs(float(x[size_t(r * cols + c)]));
      if (!std::isnan(v))
        amax[block_of(r, c)] = std::max(amax[block_of(r, c)], v);
    }
  const float qmax = t == e4 ? 448.0f : 57344.0f;
  QuantRef ref;
  for (float a : amax)
    ref.scales.push_back(a > 0 ? a / qmax : 1.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float v = float(x[size_t(r * cols + c)]) / float(ref.scales[block_of(r, c)]);
      ref.q.push_back(t == e4 ? f8e4m3_to_float(float_to_f8e4m3(v, /*saturate=*/true))
                              : f8e5m2_to_float(float_to_f8e5m2(v, /*saturate=*/true)));
    }
  return ref;
}

// Equal, NaN included (a NaN input stays NaN).
void expect_same(const std::vector<double>& got, const std::vector<double>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_TRUE(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i])))
        << what << ": element " << i << " is " << got[i] << ", expected " << want[i];
}

void check_quantize(DeviceKind dev, DType xt, DType qt, int64_t rows, int64_t cols,
                    Fp8Blocks blocks_of) {
  const bool weight = blocks_of == Fp8Blocks::block_128x128;
  const std::string what =
      fmt::format("{} {} -> {} {}x{} {}", device_kind_name(dev), dtype_name(xt), dtype_name(qt),
                  rows, cols, weight ? "128x128" : "1x128");
  // Values over several orders of magnitude (some blocks tiny, some large), an all-zero block
  // and a NaN where the shape has room.
  auto xv = random_values(size_t(rows * cols), uint32_t(rows * 7 + cols), -1, 1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      xv[size_t(r * cols + c)] *= std::pow(10.0, double((r / 3 + c / B) % 5) - 2);
  if (cols > B)
    for (int64_t r = 0; r < std::min<int64_t>(rows, B); ++r)
      for (int64_t c = 0; c < B; ++c)
        xv[size_t(r * cols + c)] = 0; // the first column block of the first rows: zero
  if (rows * cols > 3)
    xv[size_t(rows * cols - 2)] = std::nan("");
  xv = rounded(xv, xt);
  const int64_t srows = weight ? blocks(rows) : rows;
  TestTensor x(dev, xt, {rows, cols}, xv, /*pad=*/3);
  TestTensor q = TestTensor::poisoned(dev, qt, {rows, cols}, /*pad=*/5);
  TestTensor s = TestTensor::poisoned(dev, DType::f32, {srows, blocks(cols)}, /*pad=*/1);
  ops::quantize_fp8_blockwise(x.view(), q.view(), s.view(), blocks_of);
  QuantRef want = reference_quantize(xv, rows, cols, blocks_of, qt);
  expect_same(s.values(), want.scales, what + " scales");
  expect_same(q.values(), want.q, what + " q");
  EXPECT_TRUE(q.padding_untouched()) << what;
  EXPECT_TRUE(s.padding_untouched()) << what;
}

TEST(QuantizeFp8Blockwise, ScalesAndBitsMatchReference) {
  for (DeviceKind dev : devices())
    for (Fp8Blocks b : {Fp8Blocks::token_1x128, Fp8Blocks::block_128x128})
      for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {5, 300}, {130, 257}}) {
        check_quantize(dev, DType::f32, e4, rows, cols, b);
        check_quantize(dev, DType::bf16, e4, rows, cols, b);
      }
}

TEST(QuantizeFp8Blockwise, E5m2AndF16) {
  for (DeviceKind dev : devices()) {
    check_quantize(dev, DType::f16, e5, 17, 129, Fp8Blocks::token_1x128);
    check_quantize(dev, DType::f16, e5, 129, 130, Fp8Blocks::block_128x128);
  }
}

// ---- matmul_fp8_blockwise
// -------------------------------------------------------------------

struct BlockRun {
  int64_t m, n, k;
  DType a = e4, b = e4, out = DType::f32;
  bool b_transposed = false; // b an [N, K] row-major weight, its scales [N / 128, K / 128]
  int block_k = 0;           // 0: the default (128)
  bool epilogue = false;     // bias then gelu
};

std::string run_str(DeviceKind dev, const BlockRun& r) {
  return fmt::format("{} {} x {} -> {} {}x{}x{}{}{}{}", device_kind_name(dev), dtype_name(r.a),
                     dtype_name(r.b), dtype_name(r.out), r.m, r.n, r.k,
                     r.b_transposed ? " b^T" : "",
                     r.block_k ? fmt::format(" BK {}", r.block_k) : std::string(),
                     r.epilogue ? " + bias, gelu" : "");
}

// A [rows, cols] view of a [cols, rows] row-major tensor.
TensorView transposed(TensorView v) {
  std::swap(v.shape[0], v.shape[1]);
  std::swap(v.strides[0], v.strides[1]);
  return v;
}

double gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }

void check_matmul(DeviceKind dev, const BlockRun& r) {
  const std::string what = run_str(dev, r);
  const int64_t kb = blocks(r.k), nb = blocks(r.n);
  const auto av = rounded(random_values(size_t(r.m * r.k), uint32_t(r.m * 31 + r.k), -8, 8), r.a);
  // b as [K, N] values (the reference's layout), stored transposed when asked.
  const auto bv = rounded(random_values(size_t(r.k * r.n), uint32_t(r.n * 17 + r.k), -8, 8), r.b);
  const auto asv = rounded(random_values(size_t(r.m * kb), 3, 0.01, 2), DType::f32);
  const auto bsv = rounded(random_values(size_t(kb * nb), 4, 0.01, 2), DType::f32);
  const auto biasv = rounded(random_values(size_t(r.n), 5, -2, 2), DType::f32);
  std::vector<double> bt(bv.size()), bst(bsv.size());
  for (int64_t i = 0; i < r.k; ++i)
    for (int64_t j = 0; j < r.n; ++j)
      bt[size_t(j * r.k + i)] = bv[size_t(i * r.n + j)];
  for (int64_t i = 0; i < kb; ++i)
    for (int64_t j = 0; j < nb; ++j)
      bst[size_t(j * kb + i)] = bsv[size_t(i * nb + j)];
  TestTensor a(dev, r.a, {r.m, r.k}, av, /*pad=*/16);
  TestTensor as(dev, DType::f32, {r.m, kb}, asv);
  TestTensor b =
      r.b_transposed ? TestTensor(dev, r.b, {r.n, r.k}, bt) : TestTensor(dev, r.b, {r.k, r.n}, bv);
  TestTensor bs = r.b_transposed ? TestTensor(dev, DType::f32, {nb, kb}, bst)
                                 : TestTensor(dev, DType::f32, {kb, nb}, bsv);
  TestTensor bias(dev, DType::f32, {r.n}, biasv);
  TestTensor out = TestTensor::poisoned(dev, r.out, {r.m, r.n}, /*pad=*/3);
  ops::Fp8BlockwiseOptions o;
  if (r.epilogue)
    o.epilogue = {ops::bias(bias.view()), ops::gelu()};
  if (r.block_k) {
    o.config = ops::MatmulConfig{};
    o.config->block_m = dev == DeviceKind::cpu ? 8 : 16;
    o.config->block_n = 32;
    o.config->block_k = r.block_k;
  }
  ops::matmul_fp8_blockwise(a.view(), as.view(), r.b_transposed ? transposed(b.view()) : b.view(),
                            r.b_transposed ? transposed(bs.view()) : bs.view(), out.view(), o);
  const std::vector<double> got = out.values();
  EXPECT_TRUE(out.padding_untouched()) << what;
  const double rel = r.out == DType::f16 ? 1e-3 : r.out == DType::bf16 ? 8e-3 : 2e-6;
  for (int64_t i = 0; i < r.m; ++i)
    for (int64_t j = 0; j < r.n; ++j) {
      double sum = 0, mag = 0;
      for (int64_t blk = 0; blk < kb; ++blk) {
        double part = 0, part_mag = 0;
        for (int64_t k = blk * B; k < std::min(r.k, (blk + 1) * B); ++k) {
          const double p = av[size_t(i * r.k + k)] * bv[size_t(k * r.n + j)];
          part += p;
          part_mag += std::fabs(p);
        }
        const double s = asv[size_t(i * kb + blk)] * bsv[size_t(blk * nb + j / B)];
        sum += s * part;
        mag += s * part_mag;
      }
      double want = sum, slope = 1;
      if (r.epilogue) {
        // gelu's slope is at most ~1.13: the accumulator's error passes through scaled by it.
        want = gelu(sum + biasv[size_t(j)]);
        slope = 1.2;
      }
      // fp8 products are exact in f32, summed and scaled in f32 (~K * 2^-24 of the magnitude),
      // then one rounding to out's dtype.
      const double tol = slope * 1e-5 * (mag + 1) + rel * std::fabs(want);
      ASSERT_LE(std::fabs(got[size_t(i * r.n + j)] - want), tol)
          << what << ": element (" << i << ", " << j << ") is " << got[size_t(i * r.n + j)]
          << ", expected " << want;
    }
}

const std::vector<BlockRun>& runs() {
  static const std::vector<BlockRun> r = {
      {1, 1, 1},
      {1, 300, 384},                                    // decode: batch 1, 3 N blocks
      {17, 33, 65},                                     // one ragged K block
      {70, 129, 260, e4, e4, DType::bf16},              // 3 K blocks, the last of 4
      {33, 140, 200, e4, e5, DType::f16, true},         // b^T, mixed pair
      {20, 70, 300, e4, e4, DType::f32, false, 32},     // BK 32: four steps per scale block
      {9, 130, 256, e4, e4, DType::bf16, true, 0, true} // epilogue
  };
  return r;
}

TEST(MatmulFp8Blockwise, AgainstBlockScaledReferenceOnTheCpu) {
  for (const BlockRun& r : runs())
    check_matmul(DeviceKind::cpu, r);
}

TEST(MatmulFp8Blockwise, AgainstBlockScaledReferenceOnTheSimulatedDeviceSm89) {
  TESSEL_REQUIRE_SIM_DEVICE();
  ScopedEnv target("TESSEL_SIM_TARGET", "sm_89");
  SimBankConflicts banks;
  for (const BlockRun& r : runs())
    if (r.m * r.n * r.k <= 200000) // the simulator is slow; the CPU covers the rest
      check_matmul(DeviceKind::sim, r);
  banks.expect_none("fp8 blockwise matmul on sm_89");
}

// On the simulated sm_90a device the BM = 64 tiles (M > 16) multiply on wgmma m64nNk32 (issue
// 15), each K block's dot waited for before its scales apply.
TEST(MatmulFp8Blockwise, AgainstBlockScaledReferenceOnTheSimulatedDeviceSm90a) {
  TESSEL_REQUIRE_SIM_DEVICE();
  ScopedEnv target("TESSEL_SIM_TARGET", "sm_90a");
  SimBankConflicts banks;
  // Shapes of their own (N, K multiples of 16, M not): the sm_89 test's specializations would be
  // reused in this process otherwise (the in-memory key holds no simulated target).
  for (const BlockRun& r : {BlockRun{17, 48, 256}, BlockRun{20, 64, 144, e4, e5, DType::f16, true},
                            BlockRun{33, 48, 128, e4, e4, DType::bf16, false, 32, true}})
    check_matmul(DeviceKind::sim, r);
  banks.expect_none("fp8 blockwise matmul on sm_90a");
}

// Quantize both operands blockwise, multiply, compare with the f64 product of the inputs: the
// error of e4m3 with block scales (3 mantissa bits: about 2^-5 relative per element).
TEST(MatmulFp8Blockwise, QuantizeThenRunIsCloseToFloat) {
  const int64_t m = 6, n = 160, k = 384;
  auto xv = rounded(random_values(size_t(m * k), 81, -1, 1), DType::bf16);
  auto wv = rounded(random_values(size_t(k * n), 82, -1, 1), DType::bf16);
  for (int64_t j = 0; j < k; ++j)
    xv[size_t(3 * k + j)] *= 100; // one row 100x larger: per-token scales keep the others exact
  std::vector<DeviceKind> devs = devices();
  for (DeviceKind dev : devs) {
    std::optional<ScopedEnv> target;
    if (dev == DeviceKind::sim)
      target.emplace("TESSEL_SIM_TARGET", "sm_89");
    TestTensor x(dev, DType::bf16, {m, k}, xv), w(dev, DType::bf16, {k, n}, wv);
    TestTensor xq = TestTensor::poisoned(dev, e4, {m, k}),
               wq = TestTensor::poisoned(dev, e4, {k, n});
    TestTensor xs = TestTensor::poisoned(dev, DType::f32, {m, blocks(k)});
    TestTensor ws = TestTensor::poisoned(dev, DType::f32, {blocks(k), blocks(n)});
    TestTensor out = TestTensor::poisoned(dev, DType::f32, {m, n});
    ops::quantize_fp8_blockwise(x.view(), xq.view(), xs.view(), Fp8Blocks::token_1x128);
    ops::quantize_fp8_blockwise(w.view(), wq.view(), ws.view(), Fp8Blocks::block_128x128);
    ops::matmul_fp8_blockwise(xq.view(), xs.view(), wq.view(), ws.view(), out.view());
    const auto got = out.values();
    for (int64_t i = 0; i < m; ++i) {
      double num = 0, den = 0;
      for (int64_t j = 0; j < n; ++j) {
        double want = 0;
        for (int64_t kk = 0; kk < k; ++kk)
          want += xv[size_t(i * k + kk)] * wv[size_t(kk * n + j)];
        num += (got[size_t(i * n + j)] - want) * (got[size_t(i * n + j)] - want);
        den += want * want;
      }
      // Measured ~3 % per row (both operands rounded to 3 mantissa bits); 6 % fails a lost
      // block scale or a wrong block.
      EXPECT_LT(std::sqrt(num / den), 0.06) << device_kind_name(dev) << " row " << i;
    }
  }
}

// ---- bad input
// ----------------------------------------------------------------------------------

TEST(Fp8BlockwiseErrors, ActivationScalesWrongShape) {
  TestTensor a(DeviceKind::cpu, e4, {4, 200}, {}), b(DeviceKind::cpu, e4, {200, 8}, {});
  TestTensor as(DeviceKind::cpu, DType::f32, {4, 1}, {}),
      bs(DeviceKind::cpu, DType::f32, {2, 1}, {});
  TestTensor out = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {4, 8});
  expect_error(
      [&] { ops::matmul_fp8_blockwise(a.view(), as.view(), b.view(), bs.view(), out.view()); },
      {"matmul_fp8_blockwise_test.cpp:",
       "matmul_fp8_blockwise: a_scales has shape [4, 1]; expected [4, 2] (one per row of a and "
       "128 columns of K)"});
}

TEST(Fp8BlockwiseErrors, WeightScalesWrongShape) {
  TestTensor a(DeviceKind::cpu, e4, {4, 200}, {}), b(DeviceKind::cpu, e4, {200, 300}, {});
  TestTensor as(DeviceKind::cpu, DType::f32, {4, 2}, {}),
      bs(DeviceKind::cpu, DType::f32, {2, 2}, {});
  TestTensor out = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {4, 300});
  expect_error(
      [&] { ops::matmul_fp8_blockwise(a.view(), as.view(), b.view(), bs.view(), out.view()); },
      {"matmul_fp8_blockwise: b_scales has shape [2, 2]; expected [2, 3] (one per 128 x 128 "
       "block of b)"});
}

TEST(Fp8BlockwiseErrors, BlockKBeyondTheScaleBlock) {
  TestTensor a(DeviceKind::cpu, e4, {4, 256}, {}), b(DeviceKind::cpu, e4, {256, 8}, {});
  TestTensor as(DeviceKind::cpu, DType::f32, {4, 2}, {}),
      bs(DeviceKind::cpu, DType::f32, {2, 1}, {});
  TestTensor out = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {4, 8});
  ops::Fp8BlockwiseOptions o;
  o.config = ops::MatmulConfig{.block_m = 4, .block_n = 8, .block_k = 256};
  expect_error(
      [&] { ops::matmul_fp8_blockwise(a.view(), as.view(), b.view(), bs.view(), out.view(), o); },
      {"matmul_fp8_blockwise: config.block_k is 256; expected a power of two from 1 to 128 (a "
       "k-step must lie in one scale block)"});
}

TEST(Fp8BlockwiseErrors, OperandsNotFp8) {
  TestTensor a(DeviceKind::cpu, DType::f16, {4, 64}, {}), b(DeviceKind::cpu, e4, {64, 8}, {});
  TestTensor as(DeviceKind::cpu, DType::f32, {4, 1}, {}),
      bs(DeviceKind::cpu, DType::f32, {1, 1}, {});
  TestTensor out = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {4, 8});
  expect_error(
      [&] { ops::matmul_fp8_blockwise(a.view(), as.view(), b.view(), bs.view(), out.view()); },
      {"matmul_fp8_blockwise: a has dtype f16; expected f8e4m3 or f8e5m2"});
}

TEST(Fp8BlockwiseErrors, Fp8BeforeSm89) {
  TESSEL_REQUIRE_SIM_DEVICE();
  ScopedEnv target("TESSEL_SIM_TARGET", "sm_80");
  TestTensor a(DeviceKind::sim, e4, {16, 64}, {}), b(DeviceKind::sim, e4, {64, 16}, {});
  TestTensor as(DeviceKind::sim, DType::f32, {16, 1}, {}),
      bs(DeviceKind::sim, DType::f32, {1, 1}, {});
  TestTensor out = TestTensor::poisoned(DeviceKind::sim, DType::f32, {16, 16});
  expect_error(
      [&] { ops::matmul_fp8_blockwise(a.view(), as.view(), b.view(), bs.view(), out.view()); },
      {"matmul_fp8_blockwise: a is f8e4m3 and b is f8e4m3", "sm_89 or later",
       "the simulated device's target sm_80"});
}

TEST(Fp8BlockwiseErrors, QuantizeScalesWrongShape) {
  TestTensor x(DeviceKind::cpu, DType::f32, {130, 200}, {});
  TestTensor q = TestTensor::poisoned(DeviceKind::cpu, e4, {130, 200});
  TestTensor s = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {130, 2});
  expect_error(
      [&] { ops::quantize_fp8_blockwise(x.view(), q.view(), s.view(), Fp8Blocks::block_128x128); },
      {"quantize_fp8_blockwise: scales has shape [130, 2]; expected [2, 2] (one per 128 x 128 "
       "block of x)"});
}

TEST(Fp8BlockwiseErrors, QuantizeToInt8) {
  TestTensor x(DeviceKind::cpu, DType::f32, {2, 200}, {});
  TestTensor q = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {2, 200});
  TestTensor s = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 2});
  expect_error(
      [&] { ops::quantize_fp8_blockwise(x.view(), q.view(), s.view(), Fp8Blocks::token_1x128); },
      {"quantize_fp8_blockwise: q has dtype i8; expected f8e4m3 or f8e5m2"});
}

// ---- PTX
// ----------------------------------------------------------------------------------------

// The registry's specializations (what the ops launch for contiguous operands), compiled for the
// fp8 targets: zero spills, 16-byte loads, the fp8 mma (sm_90a may select wgmma).
TEST(Fp8BlockwisePtx, MatmulAndQuantizeUnspilled) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  ops::register_kernels();
  for (const char* target : {"sm_89", "sm_90a"})
    for (int bm : {16, 64}) {
      // What the op launches: block_k 64, 4 warps at block_m 16, 8 above.
      RegisteredKernel k = find_registered_kernel("matmul_fp8_blockwise");
      Signature sig = k.defaults;
      sig.params[sig.params.size() - 3] = SignatureParam::constant(bm, "BM");
      CompileOptions options;
      options.num_warps = bm <= 16 ? 4 : 8;
      options.cache = CacheMode::off;
      CompileResult r = k.kernel().compile(Target::parse(target), sig, options);
      const std::string what = fmt::format("matmul_fp8_blockwise {} BM={}", target, bm);
      EXPECT_TRUE(r.resources.parsed) << what;
      EXPECT_EQ(r.resources.spill_stores, 0) << what;
      EXPECT_EQ(r.resources.spill_loads, 0) << what;
      EXPECT_EQ(codegen::gpu::ptx_stats(r.ptx).get("local"), 0) << what;
      EXPECT_TRUE(r.ptx.find("e4m3.e4m3") != std::string::npos) << what;
      RecordProperty(fmt::format("registers_{}_bm{}", target, bm), r.resources.registers);
    }
  for (const char* target : {"sm_89", "sm_90a"})
    for (int weight : {0, 1}) {
      RegisteredKernel k = find_registered_kernel("quantize_fp8_blockwise");
      Signature sig = k.defaults;
      sig.params[sig.params.size() - 3] = SignatureParam::constant(weight, "WEIGHT");
      CompileOptions options;
      options.num_warps = 8;
      options.cache = CacheMode::off;
      CompileResult r = k.kernel().compile(Target::parse(target), sig, options);
      const std::string what = fmt::format("quantize_fp8_blockwise {} WEIGHT={}", target, weight);
      EXPECT_TRUE(r.resources.parsed) << what;
      EXPECT_EQ(r.resources.spill_stores, 0) << what;
      EXPECT_EQ(r.resources.spill_loads, 0) << what;
      EXPECT_EQ(codegen::gpu::ptx_stats(r.ptx).get("local"), 0) << what;
    }
}

} // namespace
} // namespace tessel::testing
