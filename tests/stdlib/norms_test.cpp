// ops::rms_norm / layer_norm (plain and with the fused residual add) and their backward passes
// against f64 references written here: the forward from its definition, dx from central finite
// differences of that forward (independent of the kernel's closed form), dweight / dbias from
// their definitions; CPU at 1, 7, 1000, 4096 and 16384 columns in f32/f16/bf16 with padded rows;
// rows longer than one block (20000 columns, and small blocks forced with block_cols); the
// simulated device on small shapes; bad input; PTX for sm_80 / sm_90a unspilled.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "stdlib/norms/weight_grad.h"
#include "support/expect_error.h"
#include "tessel/ops.h"

namespace tessel::testing {
namespace {

struct RowStats {
  double mean, rstd;
};

RowStats stats_ref(const double* h, int64_t n, bool layer, double eps) {
  double mean = 0;
  if (layer) {
    for (int64_t c = 0; c < n; ++c)
      mean += h[c];
    mean /= double(n);
  }
  double sq = 0;
  for (int64_t c = 0; c < n; ++c)
    sq += (h[c] - mean) * (h[c] - mean);
  return {mean, 1 / std::sqrt(sq / double(n) + eps)};
}

// y of one row from its (summed) input h.
void row_ref(const double* h, int64_t n, bool layer, double eps, const std::vector<double>& w,
             const std::vector<double>& b, double* y) {
  RowStats s = stats_ref(h, n, layer, eps);
  for (int64_t c = 0; c < n; ++c)
    y[c] = (h[c] - s.mean) * s.rstd * w[c] + (layer ? b[c] : 0.0);
}

struct Case {
  int64_t rows, cols, pad = 0;
  int block_cols = 0; // 0: the heuristic; smaller than cols: the looped path
};

struct Setup {
  DeviceKind dev;
  DType t;
  bool layer, residual;
};

void check_forward(const Setup& st, Case c) {
  const double eps = st.layer ? 1e-5 : 1e-6;
  const int64_t n = c.cols;
  uint32_t seed = uint32_t(n * 3 + c.rows);
  auto x0 = rounded(random_values(size_t(c.rows * n), seed), st.t);
  auto r0 = rounded(random_values(size_t(c.rows * n), seed + 1), st.t);
  auto w0 = rounded(random_values(size_t(n), seed + 2, 0.5, 1.5), st.t);
  auto b0 = rounded(random_values(size_t(n), seed + 3), st.t);
  TestTensor x(st.dev, st.t, {c.rows, n}, x0, c.pad), res(st.dev, st.t, {c.rows, n}, r0);
  TestTensor w(st.dev, st.t, {n}, w0), b(st.dev, st.t, {n}, b0);
  auto y = TestTensor::poisoned(st.dev, st.t, {c.rows, n}, c.pad);
  auto ro = TestTensor::poisoned(st.dev, st.t, {c.rows, n}, c.pad);
  auto mean = TestTensor::poisoned(st.dev, DType::f32, {c.rows});
  auto rstd = TestTensor::poisoned(st.dev, DType::f32, {c.rows});
  ops::LayerNormOptions lo{.block_cols = c.block_cols};
  ops::RmsNormOptions ro_opts{.block_cols = c.block_cols};
  if (st.layer && st.residual)
    ops::add_layer_norm(x.view(), res.view(), w.view(), b.view(), y.view(), ro.view(), mean.view(),
                        rstd.view(), lo);
  else if (st.layer)
    ops::layer_norm(x.view(), w.view(), b.view(), y.view(), mean.view(), rstd.view(), lo);
  else if (st.residual)
    ops::add_rms_norm(x.view(), res.view(), w.view(), y.view(), ro.view(), rstd.view(), ro_opts);
  else
    ops::rms_norm(x.view(), w.view(), y.view(), rstd.view(), ro_opts);

  std::vector<double> h = x0, want(h.size()), want_mean, want_rstd;
  if (st.residual)
    for (size_t i = 0; i < h.size(); ++i)
      h[i] += r0[i];
  for (int64_t r = 0; r < c.rows; ++r) {
    row_ref(&h[r * n], n, st.layer, eps, w0, b0, &want[r * n]);
    RowStats s = stats_ref(&h[r * n], n, st.layer, eps);
    want_mean.push_back(s.mean);
    want_rstd.push_back(s.rstd);
  }
  std::string what = std::string(st.layer ? "layer_norm" : "rms_norm") +
                     (st.residual ? "+residual " : " ") + dtype_name(st.t) + " " +
                     std::to_string(c.rows) + "x" + std::to_string(n);
  expect_close(y.values(), want, rtol_for(st.t), what + " y");
  EXPECT_TRUE(y.padding_untouched()) << what;
  expect_close(rstd.values(), want_rstd, 2e-5, what + " rstd");
  if (st.layer)
    expect_close(mean.values(), want_mean, 2e-5, what + " mean");
  if (st.residual) {
    expect_close(ro.values(), rounded(h, st.t), rtol_for(st.t), what + " residual_out");
    EXPECT_TRUE(ro.padding_untouched()) << what;
  }
}

TEST(Norms, ForwardCpu) {
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    for (bool layer : {false, true})
      for (bool residual : {false, true})
        for (Case c :
             {Case{1, 1}, Case{3, 7}, Case{2, 1000}, Case{1, 4096}, Case{2, 16384}, Case{1, 20000},
              Case{1, 32768}, Case{4, 33, 3}, Case{3, 1000, 0, 256}, Case{2, 33, 3, 16}})
          check_forward({DeviceKind::cpu, t, layer, residual}, c);
}

TEST(Norms, ForwardSimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (DType t : {DType::f32, DType::bf16})
    for (bool layer : {false, true})
      for (bool residual : {false, true})
        for (Case c : {Case{3, 7}, Case{2, 100, 4}, Case{2, 100, 4, 32}})
          check_forward({DeviceKind::sim, t, layer, residual}, c);
}

void check_backward(const Setup& st, Case c) {
  const double eps = st.layer ? 1e-5 : 1e-6;
  const int64_t n = c.cols;
  uint32_t seed = uint32_t(n * 7 + c.rows);
  auto x0 = rounded(random_values(size_t(c.rows * n), seed), st.t);
  auto dy0 = rounded(random_values(size_t(c.rows * n), seed + 1), st.t);
  auto w0 = rounded(random_values(size_t(n), seed + 2, 0.5, 1.5), st.t);
  std::vector<double> b0(size_t(n), 0.0), mean0, rstd0;
  for (int64_t r = 0; r < c.rows; ++r) {
    RowStats s = stats_ref(&x0[r * n], n, st.layer, eps);
    mean0.push_back(round_to_dtype(s.mean, DType::f32));
    rstd0.push_back(round_to_dtype(s.rstd, DType::f32));
  }
  TestTensor x(st.dev, st.t, {c.rows, n}, x0, c.pad), dy(st.dev, st.t, {c.rows, n}, dy0);
  TestTensor w(st.dev, st.t, {n}, w0), mean(st.dev, DType::f32, {c.rows}, mean0),
      rstd(st.dev, DType::f32, {c.rows}, rstd0);
  auto dx = TestTensor::poisoned(st.dev, st.t, {c.rows, n}, c.pad);
  auto dw = TestTensor::poisoned(st.dev, DType::f32, {n});
  auto db = TestTensor::poisoned(st.dev, DType::f32, {n});
  if (st.layer)
    ops::layer_norm_backward(dy.view(), x.view(), w.view(), mean.view(), rstd.view(), dx.view(),
                             dw.view(), db.view(), {.block_cols = c.block_cols});
  else
    ops::rms_norm_backward(dy.view(), x.view(), w.view(), rstd.view(), dx.view(), dw.view(),
                           {.block_cols = c.block_cols});

  // dx: central differences of L(h) = sum(dy * y(h)) row by row; dweight, dbias: definitions.
  std::vector<double> want_dx(x0.size()), want_dw(size_t(n), 0.0), want_db(size_t(n), 0.0);
  std::vector<double> yrow(static_cast<size_t>(n));
  for (int64_t r = 0; r < c.rows; ++r) {
    std::vector<double> h(x0.begin() + r * n, x0.begin() + (r + 1) * n);
    auto loss = [&] {
      row_ref(h.data(), n, st.layer, eps, w0, b0, yrow.data());
      double l = 0;
      for (int64_t i = 0; i < n; ++i)
        l += dy0[r * n + i] * yrow[i];
      return l;
    };
    for (int64_t j = 0; j < n; ++j) {
      double keep = h[j], step = 1e-6 * std::max(1.0, std::fabs(keep));
      h[j] = keep + step;
      double lp = loss();
      h[j] = keep - step;
      double lm = loss();
      h[j] = keep;
      want_dx[r * n + j] = (lp - lm) / (2 * step);
    }
    RowStats s = stats_ref(h.data(), n, st.layer, eps);
    for (int64_t j = 0; j < n; ++j) {
      want_dw[j] += dy0[r * n + j] * (h[j] - s.mean) * s.rstd;
      want_db[j] += dy0[r * n + j];
    }
  }
  std::string what = std::string(st.layer ? "layer_norm_backward " : "rms_norm_backward ") +
                     dtype_name(st.t) + " " + std::to_string(c.rows) + "x" + std::to_string(n);
  // dx from f32 statistics (rounded once) and f32 math: 1e-4 relative for f32 inputs, plus an
  // absolute 1e-6 (f32 rounding of the O(1) terms rstd * weight * dy that cancel in dx).
  expect_close(dx.values(), want_dx, std::max(1e-4, rtol_for(st.t)), what + " dx", 1e-6);
  EXPECT_TRUE(dx.padding_untouched()) << what;
  expect_close(dw.values(), want_dw, 1e-4, what + " dweight");
  if (st.layer)
    expect_close(db.values(), want_db, 1e-4, what + " dbias");
}

TEST(Norms, BackwardCpu) {
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    for (bool layer : {false, true})
      for (Case c : {Case{1, 1}, Case{3, 7}, Case{37, 300, 2}, Case{2, 1000}, Case{3, 600, 0, 128}})
        check_backward({DeviceKind::cpu, t, layer, false}, c);
}

TEST(Norms, BackwardSimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (bool layer : {false, true})
    for (Case c : {Case{3, 7}, Case{19, 40, 2}, Case{3, 40, 2, 16}, Case{1030, 8}})
      check_backward({DeviceKind::sim, DType::f32, layer, false}, c);
}

// From 1024 rows the weight gradient is summed in parts of whole 16-row tiles, by a program each,
// and the parts added by a third kernel; the part count depends on the rows alone.
TEST(Norms, WeightGradientParts) {
  using ops::detail::norm_weight_grad_parts;
  EXPECT_EQ(norm_weight_grad_parts(1023).parts, 1);
  EXPECT_EQ(norm_weight_grad_parts(1023).chunk, 1023);
  EXPECT_EQ(norm_weight_grad_parts(32768).parts, 64); // the benchmark's 32768 x 128
  EXPECT_EQ(norm_weight_grad_parts(32768).chunk, 512);
  for (int64_t rows : {1024, 1300, 4096, 8191, 100003}) {
    auto p = norm_weight_grad_parts(rows);
    EXPECT_GT(p.parts, 1) << rows;
    EXPECT_LE(p.parts, ops::detail::kGradMaxParts) << rows;
    EXPECT_EQ(p.chunk % ops::detail::kGradRows, 0) << rows;
    EXPECT_GE(p.parts * p.chunk, rows) << rows;
    EXPECT_LT((p.parts - 1) * p.chunk, rows) << rows; // no empty part
  }
}

// Many rows: the parts path (a contiguous dx holds the partial sums until dx is written), and a
// padded dx, which cannot hold them (one part), at a row count that is not a multiple of a part.
TEST(Norms, BackwardManyRowsCpu) {
  for (DType t : {DType::f32, DType::bf16})
    for (bool layer : {false, true})
      for (Case c : {Case{1300, 130}, Case{1300, 130, 3}, Case{2050, 7}})
        check_backward({DeviceKind::cpu, t, layer, false}, c);
}

// The weight gradient is reduced in a fixed order: two runs give the same bits, in one part (50
// rows) and in several (3000 rows), whichever thread runs which program.
void expect_deterministic_weight_gradient(int64_t rows, int64_t n) {
  TestTensor x(DeviceKind::cpu, DType::f32, {rows, n}, random_values(rows * n, 1));
  TestTensor dy(DeviceKind::cpu, DType::f32, {rows, n}, random_values(rows * n, 2));
  TestTensor w(DeviceKind::cpu, DType::f32, {n}, random_values(n, 3));
  TestTensor rstd(DeviceKind::cpu, DType::f32, {rows}, random_values(rows, 4, 0.5, 2));
  auto dx = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {rows, n});
  std::vector<std::vector<double>> runs;
  for (int i = 0; i < 2; ++i) {
    auto dw = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {n});
    ops::rms_norm_backward(dy.view(), x.view(), w.view(), rstd.view(), dx.view(), dw.view());
    runs.push_back(dw.values());
  }
  EXPECT_EQ(runs[0], runs[1]) << rows << " x " << n;
}

TEST(Norms, WeightGradientIsDeterministic) {
  expect_deterministic_weight_gradient(50, 300);
  expect_deterministic_weight_gradient(3000, 40);
}

TEST(Norms, ZeroSized) {
  // No columns: nothing to do. No rows: the weight gradient is a sum of nothing, zero.
  TestTensor x(DeviceKind::cpu, DType::f32, {4, 0}, {}), w(DeviceKind::cpu, DType::f32, {0}, {});
  TestTensor rstd = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {4});
  ops::rms_norm(x.view(), w.view(), x.view(), rstd.view());
  TestTensor x0(DeviceKind::cpu, DType::f32, {0, 8}, {}),
      w8(DeviceKind::cpu, DType::f32, {8}, random_values(8, 1));
  TestTensor r0(DeviceKind::cpu, DType::f32, {0}, {});
  auto dw = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {8});
  ops::rms_norm_backward(x0.view(), x0.view(), w8.view(), r0.view(), x0.view(), dw.view());
  EXPECT_EQ(dw.values(), std::vector<double>(8, 0.0));
}

TEST(NormsErrors, XDtype) {
  std::vector<int32_t> x(16);
  TestTensor w(DeviceKind::cpu, DType::f32, {8}, random_values(8, 2));
  auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 8});
  auto rstd = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2});
  expect_error(
      [&] {
        ops::rms_norm(TensorView(x.data(), {2, 8}), w.view(), y.view(), rstd.view());
      },
      {"rms_norm: x has dtype i32; expected f32, f16 or bf16"});
}

TEST(NormsErrors, BackwardDyShape) {
  TestTensor x(DeviceKind::cpu, DType::f32, {2, 8}, random_values(16, 1));
  TestTensor dy(DeviceKind::cpu, DType::f32, {2, 4}, random_values(8, 3));
  TestTensor w(DeviceKind::cpu, DType::f32, {8}, random_values(8, 2));
  auto dx = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2, 8});
  auto dw = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {8});
  auto rstd = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2});
  expect_error(
      [&] {
        ops::rms_norm_backward(dy.view(), x.view(), w.view(), rstd.view(), dx.view(), dw.view());
      },
      {"rms_norm_backward: dy has shape [2, 4] but x has shape [2, 8]; expected the same shape"});
}

TEST(NormsErrors, WeightShape) {
  TestTensor x(DeviceKind::cpu, DType::f32, {2, 4096}, random_values(8192, 1));
  TestTensor w(DeviceKind::cpu, DType::f32, {1024}, random_values(1024, 2));
  auto rstd = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2});
  int line = __LINE__ + 1;
  expect_error([&] { ops::rms_norm(x.view(), w.view(), x.view(), rstd.view()); },
               {"norms_test.cpp:" + std::to_string(line),
                "rms_norm: weight has shape [1024] but x's last dimension is 4096; expected shape "
                "[4096]"});
}

TEST(NormsErrors, RstdShape) {
  TestTensor x(DeviceKind::cpu, DType::f32, {3, 8}, random_values(24, 1));
  TestTensor w(DeviceKind::cpu, DType::f32, {8}, random_values(8, 2));
  auto rstd = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {2});
  expect_error([&] { ops::rms_norm(x.view(), w.view(), x.view(), rstd.view()); },
               {"rms_norm: rstd has shape [2] (2 elements) but x has 3 rows; expected one f32 per "
                "row"});
}

TEST(NormsErrors, RstdDtype) {
  TestTensor x(DeviceKind::cpu, DType::f32, {3, 8}, random_values(24, 1));
  TestTensor w(DeviceKind::cpu, DType::f32, {8}, random_values(8, 2));
  auto mean = TestTensor::poisoned(DeviceKind::cpu, DType::bf16, {3});
  auto rstd = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {3});
  expect_error(
      [&] { ops::layer_norm(x.view(), w.view(), w.view(), x.view(), mean.view(), rstd.view()); },
      {"layer_norm: mean has dtype bf16; expected f32"});
}

TEST(NormsErrors, ResidualShape) {
  TestTensor x(DeviceKind::cpu, DType::f32, {3, 8}, random_values(24, 1));
  TestTensor res(DeviceKind::cpu, DType::f32, {3, 4}, random_values(12, 1));
  TestTensor w(DeviceKind::cpu, DType::f32, {8}, random_values(8, 2));
  auto rstd = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {3});
  expect_error(
      [&] { ops::add_rms_norm(x.view(), res.view(), w.view(), x.view(), x.view(), rstd.view()); },
      {"add_rms_norm: residual has shape [3, 4] but x has shape [3, 8]; expected the same shape"});
}

TEST(NormsErrors, NonContiguousRows) {
  std::vector<float> buf(64), w(4), rstd(16), dw(4);
  TensorView x(buf.data(), {16, 4});
  x.strides = {1, 16};
  expect_error(
      [&] {
        ops::rms_norm_backward(x, x, TensorView(w.data(), {4}), TensorView(rstd.data(), {16}), x,
                               TensorView(dw.data(), {4}));
      },
      {"rms_norm_backward: x's last dimension has stride 16; the last dimension must be "
       "contiguous"});
}

TEST(NormsPtx, NoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  struct K {
    const Kernel* kernel;
    std::vector<int64_t> consts;
    int num_warps;
  };
  std::vector<K> kernels;
  for (int64_t layer : {0, 1}) {
    for (int64_t looped : {0, 1})
      for (int64_t block : {1024, 4096, 16384}) {
        int warps = ops::detail::num_warps_for(int(block));
        kernels.push_back(
            {&ops::detail::norm_forward_kernel(), {layer, /*RESIDUAL=*/1, looped, block}, warps});
        kernels.push_back({&ops::detail::norm_backward_kernel(), {layer, looped, block}, warps});
      }
    kernels.push_back({&ops::detail::norm_weight_grad_kernel(), {layer, 16, 256}, 4});
    kernels.push_back({&ops::detail::norm_weight_grad_parts_kernel(), {layer, 256}, 1});
  }
  for (const K& k : kernels)
    for (const char* target : {"sm_80", "sm_90a"}) {
      auto module = trace_dsl(*k.kernel, k.consts, DType::bf16);
      // bf16 rows with 16-byte aligned pointers and strides: 16-byte loads.
      expect_lean_ptx(*module, target, k.num_warps,
                      k.kernel->name() + " " + target + " " + std::to_string(k.consts.back()));
    }
}

} // namespace
} // namespace tessel::testing

namespace tessel::testing {
namespace {

// residual_out may be residual (the residual stream updated in place), in one block and looped.
TEST(Norms, InPlaceResidual) {
  const int64_t rows = 3, n = 100;
  auto x0 = random_values(rows * n, 31), r0 = random_values(rows * n, 32);
  auto w0 = random_values(n, 33, 0.5, 1.5);
  for (int block_cols : {0, 32}) {
    TestTensor x(DeviceKind::cpu, DType::f32, {rows, n}, x0),
        res(DeviceKind::cpu, DType::f32, {rows, n}, r0);
    TestTensor w(DeviceKind::cpu, DType::f32, {n}, w0);
    auto y = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {rows, n});
    auto rstd = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {rows});
    ops::add_rms_norm(x.view(), res.view(), w.view(), y.view(), res.view(), rstd.view(),
                      {.block_cols = block_cols});
    std::vector<double> h(x0.size()), want(x0.size());
    for (size_t i = 0; i < h.size(); ++i)
      h[i] = double(float(x0[i])) + double(float(r0[i]));
    for (int64_t r = 0; r < rows; ++r)
      row_ref(&h[r * n], n, /*layer=*/false, 1e-6, rounded(w0, DType::f32), {}, &want[r * n]);
    std::string what = "in-place add_rms_norm, block_cols " + std::to_string(block_cols);
    expect_close(res.values(), h, 2e-5, what + " residual");
    expect_close(y.values(), want, 2e-5, what + " y");
  }
}

} // namespace
} // namespace tessel::testing

namespace tessel::testing {
namespace {

TEST(NormsErrors, DxAliasesDy) {
  TestTensor x(DeviceKind::cpu, DType::f32, {3, 8}, random_values(24, 1));
  TestTensor dy(DeviceKind::cpu, DType::f32, {3, 8}, random_values(24, 2));
  TestTensor w(DeviceKind::cpu, DType::f32, {8}, random_values(8, 3));
  TestTensor rstd(DeviceKind::cpu, DType::f32, {3}, random_values(3, 4, 0.5, 2));
  auto dw = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {8});
  expect_error(
      [&] {
        ops::rms_norm_backward(dy.view(), x.view(), w.view(), rstd.view(), dy.view(), dw.view());
      },
      {"rms_norm_backward: dx is the same memory as dy, which the weight gradient reads after dx "
       "is "
       "written; pass a separate dx"});
}

} // namespace
} // namespace tessel::testing
