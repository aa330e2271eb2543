// The fused epilogues and act-order of the W4A16 and LoRA matmuls (tessel/ops/quant.h) against
// f64 references written here, on the CPU backend and on the simulated device: bias, activations,
// residual and the output cast fused into matmul_w4a16, matmul_lora and matmul_multi_lora; W4A16
// act-order (quantize_weights_int4_act_order, W4A16Options::perm) at every group size, batch 1 and
// larger; the errors (permutations that are not, tensors beyond the epilogue slots); the PTX of
// the act-order and chained kernels for sm_80 (zero spills). Outputs are poisoned with NaN.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/quant/quant_kernels.h"
#include "support/expect_error.h"
#include "tessel/jit/registry.h"
#include "tessel/ops.h"
#include "tessel/ops/registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace tessel::testing {
namespace {

using ops::Int4Mode;

std::vector<DeviceKind> devices() {
  std::vector<DeviceKind> d{DeviceKind::cpu};
  if (sim_device_ready())
    d.push_back(DeviceKind::sim);
  return d;
}

// c[m, n] = sum_k a[m, k] b[k, n] in f64.
std::vector<double> ref_matmul(const std::vector<double>& a, const std::vector<double>& b,
                               int64_t m, int64_t k, int64_t n) {
  std::vector<double> c(size_t(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < n; ++j)
        c[size_t(i * n + j)] += a[size_t(i * k + kk)] * b[size_t(kk * n + j)];
  return c;
}

double gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double silu(double x) { return x / (1 + std::exp(-x)); }

// The stored weights as the kernel dequantises them, from the packed bytes themselves (low
// nibble row r, high nibble row r + K / 2): (q - zero) * scale in f32, rounded to `t`.
std::vector<double> dequantised(TestTensor& packed, TestTensor& scales, TestTensor* zeros,
                                int64_t k, int64_t n, int64_t group, DType t) {
  auto pv = packed.values(), sv = scales.values();
  std::vector<double> zv = zeros ? zeros->values() : std::vector<double>(sv.size(), 8.0);
  std::vector<double> w(size_t(k * n));
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c) {
      const uint8_t byte = uint8_t(int8_t(pv[size_t((r % (k / 2)) * n + c)]));
      const int q = r < k / 2 ? byte & 15 : byte >> 4;
      const size_t g = size_t((r / group) * n + c);
      w[size_t(r * n + c)] = round_to_dtype(double((float(q) - float(zv[g])) * float(sv[g])), t);
    }
  return w;
}

std::vector<int32_t> random_perm(int64_t k, uint32_t seed) {
  std::vector<int32_t> p(static_cast<size_t>(k));
  std::iota(p.begin(), p.end(), 0);
  std::mt19937 gen(seed);
  std::shuffle(p.begin(), p.end(), gen);
  return p;
}

std::vector<double> as_doubles(const std::vector<int32_t>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// ---- W4A16: epilogue chain and act-order
// ---------------------------------------------------

struct W4Case {
  int64_t m, n, k;
  int group;
  Int4Mode mode;
  DType t, out;
  bool act_order, chain;
};

// out = gelu(x @ W + bias) + residual (chain), or x @ W; with act-order x's column of stored row
// i is perm[i].
void check_w4a16(DeviceKind dev, const W4Case& c) {
  const int64_t g = c.group == ops::kPerChannel ? c.k : c.group;
  const bool asym = c.mode == Int4Mode::asymmetric;
  const std::string what =
      fmt::format("{} {}x{}x{} group {} {} {} -> {}{}{}", device_kind_name(dev), c.m, c.n, c.k,
                  c.group, asym ? "asym" : "sym", dtype_name(c.t), dtype_name(c.out),
                  c.act_order ? " act-order" : "", c.chain ? " + bias, gelu, residual" : "");
  const auto wv = rounded(random_values(size_t(c.k * c.n), 91, -1, 1), c.t);
  const auto xv = rounded(random_values(size_t(c.m * c.k), 92, -1, 1), c.t);
  const auto biasv = rounded(random_values(size_t(c.n), 93, -1, 1), DType::f32);
  const auto resv = rounded(random_values(size_t(c.m * c.n), 94, -1, 1), c.out);
  const std::vector<int32_t> perm = random_perm(c.k, uint32_t(c.k + c.n));
  TestTensor w(DeviceKind::cpu, c.t, {c.k, c.n}, wv);
  TestTensor hp = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {c.k / 2, c.n});
  TestTensor hs = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {c.k / g, c.n});
  TestTensor hz = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {c.k / g, c.n});
  TestTensor hperm(DeviceKind::cpu, DType::i32, {c.k}, as_doubles(perm));
  if (c.act_order)
    ops::quantize_weights_int4_act_order(w.view(), c.group, c.mode, hperm.view(), hp.view(),
                                         hs.view(), asym ? hz.view() : TensorView{});
  else
    ops::quantize_weights_int4(w.view(), c.group, c.mode, hp.view(), hs.view(),
                               asym ? hz.view() : TensorView{});
  TestTensor p(dev, DType::i8, {c.k / 2, c.n}, hp.values());
  TestTensor s(dev, DType::f32, {c.k / g, c.n}, hs.values());
  TestTensor z(dev, DType::f32, {c.k / g, c.n}, asym ? hz.values() : std::vector<double>{});
  TestTensor x(dev, c.t, {c.m, c.k}, xv, /*pad=*/8);
  TestTensor dperm(dev, DType::i32, {c.k}, as_doubles(perm));
  TestTensor bias(dev, DType::f32, {c.n}, biasv), res(dev, c.out, {c.m, c.n}, resv);
  TestTensor out = TestTensor::poisoned(dev, c.out, {c.m, c.n}, /*pad=*/3);
  ops::W4A16Options o;
  if (c.chain)
    o.epilogue = {ops::bias(bias.view()), ops::gelu(), ops::residual(res.view())};
  if (c.act_order)
    o.perm = dperm.view();
  ops::matmul_w4a16(x.view(), p.view(), s.view(), asym ? z.view() : TensorView{}, out.view(), o);
  // The reference: stored row i of the dequantised weights multiplies x's column perm[i].
  const auto stored = dequantised(hp, hs, asym ? &hz : nullptr, c.k, c.n, g, c.t);
  std::vector<double> xs(xv.size());
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t r = 0; r < c.k; ++r)
      xs[size_t(i * c.k + r)] = xv[size_t(i * c.k + (c.act_order ? perm[size_t(r)] : r))];
  auto want = ref_matmul(xs, stored, c.m, c.k, c.n);
  if (c.chain)
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double& v = want[size_t(i * c.n + j)];
        v = gelu(v + biasv[size_t(j)]) + resv[size_t(i * c.n + j)];
      }
  expect_close(out.values(), want, c.out == DType::f32 ? 1e-4 : rtol_for(c.out), what);
  EXPECT_TRUE(out.padding_untouched()) << what;
}

const std::vector<W4Case>& w4_cases() {
  using M = Int4Mode;
  static const std::vector<W4Case> cases{
      {1, 40, 128, 32, M::symmetric, DType::f16, DType::f16, false, true},
      {5, 33, 256, 64, M::asymmetric, DType::bf16, DType::bf16, false, true},
      {1, 64, 256, 32, M::asymmetric, DType::f16, DType::f32, true, false},
      {3, 70, 256, 64, M::symmetric, DType::f16, DType::f16, true, true},
      {17, 48, 256, 128, M::asymmetric, DType::bf16, DType::f32, true, false},
      {16, 24, 96, ops::kPerChannel, M::asymmetric, DType::f16, DType::bf16, true, true},
      {70, 100, 384, 128, M::symmetric, DType::f16, DType::f32, true, true}};
  return cases;
}

TEST(MatmulW4A16Fused, EpiloguesAndActOrderAgainstReference) {
  for (DeviceKind dev : devices())
    for (const W4Case& c : w4_cases()) {
      if (dev == DeviceKind::sim && c.m * c.n * c.k > 200000)
        continue; // the simulator is slow; the CPU covers the large shape
      check_w4a16(dev, c);
    }
}

// Act-order packs exactly what quantize_weights_int4 packs for the permuted weights (the
// documented definition), bit for bit; and with heavy rows first the grouping differs from the
// plain packing (the test would catch a perm that is ignored).
TEST(MatmulW4A16Fused, ActOrderPacksThePermutedWeights) {
  const int64_t k = 128, n = 16;
  auto wv = rounded(random_values(size_t(k * n), 95, -1, 1), DType::f16);
  const std::vector<int32_t> perm = random_perm(k, 96);
  std::vector<double> permuted(wv.size());
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j)
      permuted[size_t(i * n + j)] = wv[size_t(perm[size_t(i)] * n + j)];
  TestTensor w(DeviceKind::cpu, DType::f16, {k, n}, wv),
      wp(DeviceKind::cpu, DType::f16, {k, n}, permuted);
  TestTensor hperm(DeviceKind::cpu, DType::i32, {k}, as_doubles(perm));
  auto packed = [&] { return TestTensor::poisoned(DeviceKind::cpu, DType::i8, {k / 2, n}); };
  auto per_group = [&] { return TestTensor::poisoned(DeviceKind::cpu, DType::f32, {k / 32, n}); };
  TestTensor p0 = packed(), p1 = packed(), p2 = packed();
  TestTensor s0 = per_group(), s1 = per_group(), s2 = per_group();
  TestTensor z0 = per_group(), z1 = per_group(), z2 = per_group();
  ops::quantize_weights_int4_act_order(w.view(), 32, Int4Mode::asymmetric, hperm.view(), p1.view(),
                                       s1.view(), z1.view());
  ops::quantize_weights_int4(wp.view(), 32, Int4Mode::asymmetric, p2.view(), s2.view(), z2.view());
  ops::quantize_weights_int4(w.view(), 32, Int4Mode::asymmetric, p0.view(), s0.view(), z0.view());
  EXPECT_EQ(p1.values(), p2.values());
  EXPECT_EQ(s1.values(), s2.values());
  EXPECT_EQ(z1.values(), z2.values());
  EXPECT_NE(s1.values(), s0.values());
}

// A device perm is not read back: an entry out of range makes the output NaN, never an
// out-of-bounds read (the simulator's memcheck would report one).
TEST(MatmulW4A16Fused, DevicePermOutOfRangeGivesNaN) {
  TESSEL_REQUIRE_SIM_DEVICE();
  const int64_t m = 2, n = 16, k = 64;
  std::vector<double> pv(static_cast<size_t>(k));
  std::iota(pv.begin(), pv.end(), 0.0);
  pv[5] = 1000;
  TestTensor x(DeviceKind::sim, DType::f16, {m, k}, std::vector<double>(size_t(m * k), 0.5));
  TestTensor p(DeviceKind::sim, DType::i8, {k / 2, n}, std::vector<double>(size_t(k / 2 * n), 17));
  TestTensor s(DeviceKind::sim, DType::f32, {2, n}, std::vector<double>(size_t(2 * n), 0.25));
  TestTensor perm(DeviceKind::sim, DType::i32, {k}, pv);
  TestTensor out = TestTensor::poisoned(DeviceKind::sim, DType::f32, {m, n});
  ops::W4A16Options o;
  o.perm = perm.view();
  ops::matmul_w4a16(x.view(), p.view(), s.view(), {}, out.view(), o);
  for (double v : out.values())
    EXPECT_TRUE(std::isnan(v)) << v;
}

// ---- LoRA: epilogue chain
// -------------------------------------------------------------------

// The low-rank term as the kernel forms it: x @ A rounded to x's dtype, times B, times scale.
std::vector<double> lora_ref(const std::vector<double>& xv, const std::vector<double>& wv,
                             const std::vector<double>& av, const std::vector<double>& bv,
                             int64_t m, int64_t n, int64_t k, int64_t r, double scale, DType t) {
  auto xa = rounded(ref_matmul(xv, av, m, k, r), t);
  auto out = ref_matmul(xv, wv, m, k, n), low = ref_matmul(xa, bv, m, r, n);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] += scale * low[i];
  return out;
}

TEST(MatmulLoraFused, EpilogueChainAgainstReference) {
  struct Case {
    int64_t m, n, k, rank;
    DType t, out;
  };
  const std::vector<Case> cases{{1, 33, 40, 8, DType::f16, DType::f16},
                                {17, 50, 64, 16, DType::bf16, DType::f32},
                                {70, 129, 72, 32, DType::f16, DType::bf16}};
  for (DeviceKind dev : devices())
    for (const Case& c : cases) {
      if (dev == DeviceKind::sim && c.m * c.n * c.k > 200000)
        continue;
      const std::string what =
          fmt::format("{} {}x{}x{} rank {} {} -> {}", device_kind_name(dev), c.m, c.n, c.k, c.rank,
                      dtype_name(c.t), dtype_name(c.out));
      auto xv = rounded(random_values(size_t(c.m * c.k), 101, -1, 1), c.t);
      auto wv = rounded(random_values(size_t(c.k * c.n), 102, -1, 1), c.t);
      auto av = rounded(random_values(size_t(c.k * c.rank), 103, -1, 1), c.t);
      auto bv = rounded(random_values(size_t(c.rank * c.n), 104, -1, 1), c.t);
      auto biasv = rounded(random_values(size_t(c.n), 105, -2, 2), DType::f32);
      TestTensor x(dev, c.t, {c.m, c.k}, xv), w(dev, c.t, {c.k, c.n}, wv);
      TestTensor a(dev, c.t, {c.k, c.rank}, av), b(dev, c.t, {c.rank, c.n}, bv);
      TestTensor bias(dev, DType::f32, {c.n}, biasv);
      TestTensor out = TestTensor::poisoned(dev, c.out, {c.m, c.n}, /*pad=*/2);
      const float scale = 0.5f;
      ops::matmul_lora(x.view(), w.view(), a.view(), b.view(), scale, out.view(),
                       {ops::bias(bias.view()), ops::silu(), ops::scale(2.0f)});
      auto want = lora_ref(xv, wv, av, bv, c.m, c.n, c.k, c.rank, scale, c.t);
      double xa_max = 0;
      for (double v : rounded(ref_matmul(xv, av, c.m, c.k, c.rank), c.t))
        xa_max = std::max(xa_max, std::fabs(v));
      for (size_t i = 0; i < want.size(); ++i)
        want[i] = 2 * silu(want[i] + biasv[i % size_t(c.n)]);
      // As MatmulLora: an element of x @ A may round to its neighbour (one ulp of x's dtype,
      // times |B| <= 1 and the scale, for two elements), passed through silu' <= 1.1 and x2.
      const double ulp = std::ldexp(xa_max, c.t == DType::f16 ? -10 : -7);
      expect_close(out.values(), want, c.out == DType::f16 ? 2e-3 : 1.6e-2, what,
                   2 * 1.1 * 2 * scale * ulp);
      EXPECT_TRUE(out.padding_untouched()) << what;
    }
}

TEST(MatmulMultiLoraFused, EpilogueChainAgainstReference) {
  const int64_t m = 19, n = 70, k = 64, r = 16, adapters = 4;
  for (DeviceKind dev : devices()) {
    const DType t = DType::f16;
    auto xv = rounded(random_values(size_t(m * k), 111, -1, 1), t);
    auto wv = rounded(random_values(size_t(k * n), 112, -1, 1), t);
    auto av = rounded(random_values(size_t(adapters * k * r), 113, -1, 1), t);
    auto bv = rounded(random_values(size_t(adapters * r * n), 114, -1, 1), t);
    auto resv = rounded(random_values(size_t(m * n), 115, -1, 1), DType::f32);
    std::vector<double> iv(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i)
      iv[size_t(i)] = double(i % (adapters + 1)) - 1; // -1 (none), 0, 1, 2, 3, -1, ...
    TestTensor x(dev, t, {m, k}, xv), w(dev, t, {k, n}, wv);
    TestTensor a(dev, t, {adapters, k, r}, av), b(dev, t, {adapters, r, n}, bv);
    TestTensor idx(dev, DType::i32, {m}, iv), res(dev, DType::f32, {m, n}, resv);
    TestTensor out = TestTensor::poisoned(dev, DType::f32, {m, n});
    const float scale = 0.25f;
    ops::matmul_multi_lora(x.view(), w.view(), a.view(), b.view(), idx.view(), scale, out.view(),
                           {ops::relu(), ops::residual(res.view())});
    std::vector<double> want(size_t(m * n));
    double xa_max = 0;
    for (int64_t i = 0; i < m; ++i) {
      std::vector<double> xr(xv.begin() + i * k, xv.begin() + (i + 1) * k);
      std::vector<double> row = ref_matmul(xr, wv, 1, k, n);
      if (iv[size_t(i)] >= 0) {
        const size_t l = size_t(iv[size_t(i)]);
        std::vector<double> al(av.begin() + l * k * r, av.begin() + (l + 1) * k * r);
        std::vector<double> bl(bv.begin() + l * r * n, bv.begin() + (l + 1) * r * n);
        row = lora_ref(xr, wv, al, bl, 1, n, k, r, scale, t);
        for (double v : rounded(ref_matmul(xr, al, 1, k, r), t))
          xa_max = std::max(xa_max, std::fabs(v));
      }
      for (int64_t j = 0; j < n; ++j)
        want[size_t(i * n + j)] = std::max(0.0, row[size_t(j)]) + resv[size_t(i * n + j)];
    }
    const double ulp = std::ldexp(xa_max, -10);
    expect_close(out.values(), want, 2e-3, device_kind_name(dev), 2 * scale * ulp);
  }
}

// ---- bad input
// ----------------------------------------------------------------------------------

TEST(QuantFusedErrors, ActOrderPermRepeatsAnIndex) {
  TestTensor w(DeviceKind::cpu, DType::f16, {64, 8}, std::vector<double>(64 * 8, 0.5));
  TestTensor p = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {32, 8});
  TestTensor s = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 8});
  std::vector<double> pv(64);
  std::iota(pv.begin(), pv.end(), 0.0);
  pv[9] = 3;
  TestTensor perm(DeviceKind::cpu, DType::i32, {64}, pv);
  expect_error(
      [&] {
        ops::quantize_weights_int4_act_order(w.view(), 32, Int4Mode::symmetric, perm.view(),
                                             p.view(), s.view());
      },
      {"quant_fused_test.cpp:", "quantize_weights_int4_act_order: perm[9] is 3, as perm[3] is; "
                                "expected a permutation of 0..63 (every row of K once)"});
}

TEST(QuantFusedErrors, ActOrderPermOutOfRange) {
  TestTensor x(DeviceKind::cpu, DType::f16, {2, 64}, {}),
      p(DeviceKind::cpu, DType::i8, {32, 8}, {});
  TestTensor s(DeviceKind::cpu, DType::f32, {2, 8}, {});
  TestTensor out = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 8});
  std::vector<double> pv(64);
  std::iota(pv.begin(), pv.end(), 0.0);
  pv[63] = 64;
  TestTensor perm(DeviceKind::cpu, DType::i32, {64}, pv);
  ops::W4A16Options o;
  o.perm = perm.view();
  expect_error([&] { ops::matmul_w4a16(x.view(), p.view(), s.view(), {}, out.view(), o); },
               {"matmul_w4a16: options.perm[63] is 64; expected a permutation of 0..63"});
}

TEST(QuantFusedErrors, ActOrderPermWrongShape) {
  TestTensor x(DeviceKind::cpu, DType::f16, {2, 64}, {}),
      p(DeviceKind::cpu, DType::i8, {32, 8}, {});
  TestTensor s(DeviceKind::cpu, DType::f32, {2, 8}, {});
  TestTensor out = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 8});
  TestTensor perm(DeviceKind::cpu, DType::i32, {32}, std::vector<double>(32, 0.0));
  ops::W4A16Options o;
  o.perm = perm.view();
  expect_error([&] { ops::matmul_w4a16(x.view(), p.view(), s.view(), {}, out.view(), o); },
               {"matmul_w4a16: options.perm has shape [32]; expected a contiguous [64]"});
}

TEST(QuantFusedErrors, ActOrderGroupNotDividingK) {
  TestTensor w(DeviceKind::cpu, DType::f16, {96, 8}, std::vector<double>(96 * 8, 0.5));
  TestTensor p = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {48, 8});
  TestTensor s = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {1, 8});
  std::vector<double> pv(96);
  std::iota(pv.begin(), pv.end(), 0.0);
  TestTensor perm(DeviceKind::cpu, DType::i32, {96}, pv);
  expect_error(
      [&] {
        ops::quantize_weights_int4_act_order(w.view(), 64, Int4Mode::symmetric, perm.view(),
                                             p.view(), s.view());
      },
      {"group_size 64 does not divide K = 96"});
}

TEST(QuantFusedErrors, W4A16EpilogueReadsTooManyTensors) {
  TestTensor x(DeviceKind::cpu, DType::f16, {2, 64}, {}),
      p(DeviceKind::cpu, DType::i8, {32, 8}, {});
  TestTensor s(DeviceKind::cpu, DType::f32, {2, 8}, {}), bias(DeviceKind::cpu, DType::f32, {8}, {});
  TestTensor out = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 8});
  ops::W4A16Options o;
  o.epilogue = {ops::bias(bias.view()), ops::bias(bias.view()), ops::residual(out.view())};
  expect_error([&] { ops::matmul_w4a16(x.view(), p.view(), s.view(), {}, out.view(), o); },
               {"matmul_w4a16: the epilogues read 3 tensors and 0 scalars up to 'residual'"});
}

TEST(QuantFusedErrors, LoraBiasOfTheWrongLength) {
  TestTensor x(DeviceKind::cpu, DType::f16, {2, 16}, {}),
      w(DeviceKind::cpu, DType::f16, {16, 8}, {});
  TestTensor a(DeviceKind::cpu, DType::f16, {16, 8}, {}),
      b(DeviceKind::cpu, DType::f16, {8, 8}, {});
  TestTensor bias(DeviceKind::cpu, DType::f32, {7}, {});
  TestTensor out = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 8});
  expect_error(
      [&] {
        ops::matmul_lora(x.view(), w.view(), a.view(), b.view(), 1.0f, out.view(),
                         {ops::bias(bias.view())});
      },
      {"matmul_lora: epilogue 'bias' operand 0 has shape [7]; it does not broadcast to c's shape "
       "[2, 8]"});
}

// ---- PTX
// ----------------------------------------------------------------------------------------

// The chain bias -> gelu -> residual as the ops bind it (two operand slots, no scalars).
ops::detail::Chain bias_gelu_residual() {
  static float dummy[8];
  TensorView v;
  v.data = dummy;
  v.dtype = DType::f32;
  v.rank = 1;
  v.shape[0] = 8;
  v.strides[0] = 1;
  int next_operand = 0, next_scalar = 0;
  ops::detail::Chain chain;
  for (const ops::Epilogue& e : {ops::bias(v), ops::gelu(), ops::residual(v)})
    chain.push_back(ops::detail::chain_step(e, next_operand, next_scalar));
  return chain;
}

CompileResult compile_sm80(const Kernel& k, const Signature& sig, int num_warps) {
  CompileOptions options;
  options.num_warps = num_warps;
  options.cache = CacheMode::off;
  return k.compile(Target::parse("sm_80"), sig, options);
}

void expect_unspilled(const CompileResult& r, const std::string& what) {
  EXPECT_TRUE(r.resources.parsed) << what;
  EXPECT_EQ(r.resources.spill_stores, 0) << what;
  EXPECT_EQ(r.resources.spill_loads, 0) << what;
  EXPECT_EQ(codegen::gpu::ptx_stats(r.ptx).get("local"), 0) << what;
  EXPECT_NE(r.ptx.find("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"), std::string::npos)
      << what;
}

// The registry's specializations (decode tile for W4A16, rank 16 for LoRA) with act-order on and
// with the chain fused: zero spills on sm_80 at both W4A16 tiles.
TEST(QuantFusedPtx, ActOrderAndChainsUnspilled) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  ops::register_kernels();
  const ops::detail::Chain chain = bias_gelu_residual();
  const std::string key = "bias\n|\ngelu\n|\nresidual\n|\n";
  RegisteredKernel w4 = find_registered_kernel("matmul_w4a16");
  for (int bm : {16, 64})
    for (int perm : {0, 1})
      for (bool chained : {false, true}) {
        Signature sig = w4.defaults;
        const size_t consts = sig.params.size() - 5; // ZEROS, PERM, BM, BN, BK
        sig.params[consts + 1] = SignatureParam::constant(perm, "PERM");
        sig.params[consts + 2] = SignatureParam::constant(bm, "BM");
        const Kernel& k =
            chained ? ops::detail::w4a16_kernel_for(key, chain) : ops::detail::w4a16_kernel();
        // The warps the op launches: 8 for the 64-row tile with act-order or a chain.
        expect_unspilled(compile_sm80(k, sig, bm >= 64 && (perm || chained) ? 8 : 4),
                         fmt::format("w4a16 BM={} PERM={}{}", bm, perm, chained ? " chain" : ""));
      }
  RegisteredKernel lora = find_registered_kernel("matmul_lora");
  // A chain takes 8 warps (as the op launches it).
  expect_unspilled(compile_sm80(ops::detail::lora_kernel_for(key, chain), lora.defaults, 8),
                   "lora rank 16 chain");
  RegisteredKernel multi = find_registered_kernel("matmul_multi_lora");
  expect_unspilled(compile_sm80(ops::detail::lora_kernel_for(key, chain), multi.defaults, 8),
                   "multi-lora 4 x 16 chain");
}

} // namespace
} // namespace tessel::testing
