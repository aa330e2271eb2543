// 2:4 structured sparsity (tessel/ops/sparse.h) against a reference written here: the kept pair of
// each group of 4 along K chosen by sorting the group by (|w| descending, k ascending), its
// metadata encoded from the documented layout, and the product x @ pruned(w) in f64. prune ->
// decompress must give the masked weights bit for bit (weights with padded rows and column-major
// weights too); matmul_sparse_2_4 on the CPU backend and the simulated device (memcheck and
// racecheck on) at ragged shapes, f16 and bf16, outputs poisoned and padded; device metadata that
// is invalid gives NaN in its column. Then one test per diagnostic.
#include "gpu/gpu_test_util.h"
#include "gpu/ptx_count.h"
#include "stdlib/ops_test_util.h"
#include "stdlib/quant/quant_kernels.h"
#include "support/expect_error.h"
#include "tessel/ops/sparse.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>

namespace tessel::testing {
namespace {

// The reference pruning of a [K, N] weight (row-major values): per group, the positions kept.
std::vector<std::array<int, 2>> reference_kept(const std::vector<double>& w, int64_t k, int64_t n) {
  std::vector<std::array<int, 2>> kept;
  for (int64_t c = 0; c < n; ++c)
    for (int64_t g = 0; g < k / 4; ++g) {
      std::array<int, 4> order = {0, 1, 2, 3};
      auto mag = [&](int p) { return std::fabs(w[size_t((4 * g + p) * n + c)]); };
      std::sort(order.begin(), order.end(),
                [&](int a, int b) { return mag(a) > mag(b) || (mag(a) == mag(b) && a < b); });
      kept.push_back({std::min(order[0], order[1]), std::max(order[0], order[1])});
    }
  return kept; // index c * (k / 4) + g
}

std::vector<double> masked(const std::vector<double>& w, int64_t k, int64_t n,
                           const std::vector<std::array<int, 2>>& kept) {
  std::vector<double> out(w.size(), 0.0);
  for (int64_t c = 0; c < n; ++c)
    for (int64_t g = 0; g < k / 4; ++g)
      for (int p : kept[size_t(c * (k / 4) + g)])
        out[size_t((4 * g + p) * n + c)] = w[size_t((4 * g + p) * n + c)];
  return out;
}

// A host i16 [rows, cols] tensor over `words`.
TensorView words_view(std::vector<uint16_t>& words, int64_t rows, int64_t cols) {
  TensorView v;
  v.data = words.data();
  v.dtype = DType::i16;
  v.rank = 2;
  v.shape[0] = rows;
  v.shape[1] = cols;
  v.strides[0] = cols;
  v.strides[1] = 1;
  return v;
}

struct Pruned {
  TestTensor values;
  std::vector<uint16_t> metadata;
  std::vector<std::array<int, 2>> kept;
};

Pruned prune(DType t, const std::vector<double>& w, int64_t k, int64_t n, int64_t pad = 0) {
  TestTensor wt(DeviceKind::cpu, t, {k, n}, w, pad);
  Pruned p{TestTensor::poisoned(DeviceKind::cpu, t, {n, k / 2}),
           std::vector<uint16_t>(size_t(n * k / 16), 0xffff), reference_kept(w, k, n)};
  ops::prune_2_4(wt.view(), p.values.view(), words_view(p.metadata, n, k / 16));
  return p;
}

// Random weights [K, N], where every third group is (0.5, -0.5, 0.25, 0.5): a three-way tie for
// the two kept places, which the rule breaks by k (keeping positions 0 and 1).
std::vector<double> weights(int64_t k, int64_t n, uint32_t seed, DType t) {
  std::vector<double> w = rounded(random_values(size_t(k * n), seed, -2, 2), t);
  const double tie[4] = {0.5, -0.5, 0.25, 0.5};
  for (int64_t c = 0; c < n; ++c)
    for (int64_t g = 0; g < k / 4; ++g)
      if ((g + c) % 3 == 0)
        for (int p = 0; p < 4; ++p)
          w[size_t((4 * g + p) * n + c)] = tie[p];
  return w;
}

class Sparse24 : public ::testing::TestWithParam<DType> {};

TEST_P(Sparse24, PruneKeepsTheLargestPairAndRoundTrips) {
  const DType t = GetParam();
  const int64_t k = 48, n = 13;
  std::vector<double> w = weights(k, n, 3, t);
  Pruned p = prune(t, w, k, n, /*pad=*/3);
  std::vector<double> values = p.values.values();
  for (int64_t c = 0; c < n; ++c)
    for (int64_t g = 0; g < k / 4; ++g) {
      const auto& kp = p.kept[size_t(c * (k / 4) + g)];
      for (int j = 0; j < 2; ++j)
        ASSERT_EQ(values[size_t(c * (k / 2) + 2 * g + j)], w[size_t((4 * g + kp[j]) * n + c)])
            << "column " << c << " group " << g;
      const unsigned nib = (p.metadata[size_t(c * (k / 16) + g / 4)] >> (4 * (g % 4))) & 0xf;
      ASSERT_EQ(nib, unsigned(kp[0] | kp[1] << 2)) << "column " << c << " group " << g;
    }
  // decompress into a column-major weight (strides {1, K}), poisoned first.
  TestTensor back = TestTensor::poisoned(DeviceKind::cpu, t, {n, k});
  TensorView bv = back.view();
  std::swap(bv.shape[0], bv.shape[1]);
  std::swap(bv.strides[0], bv.strides[1]);
  ops::decompress_2_4(p.values.view(), words_view(p.metadata, n, k / 16), bv);
  std::vector<double> got = back.values(), want = masked(w, k, n, p.kept);
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c)
      ASSERT_EQ(got[size_t(c * k + r)], want[size_t(r * n + c)]) << "w[" << r << ", " << c << "]";
}

// A column-major weight (an [N, K] row-major Linear weight seen as [K, N]) prunes as its [K, N].
TEST_P(Sparse24, PruneReadsAnyStrides) {
  const DType t = GetParam();
  const int64_t k = 32, n = 6;
  std::vector<double> w = weights(k, n, 5, t), wt(w.size());
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c)
      wt[size_t(c * k + r)] = w[size_t(r * n + c)];
  TestTensor col(DeviceKind::cpu, t, {n, k}, wt);
  TensorView cv = col.view();
  std::swap(cv.shape[0], cv.shape[1]);
  std::swap(cv.strides[0], cv.strides[1]);
  TestTensor values = TestTensor::poisoned(DeviceKind::cpu, t, {n, k / 2});
  std::vector<uint16_t> meta(size_t(n * k / 16));
  ops::prune_2_4(cv, values.view(), words_view(meta, n, k / 16));
  Pruned ref = prune(t, w, k, n);
  EXPECT_EQ(values.values(), ref.values.values());
  EXPECT_EQ(meta, ref.metadata);
}

std::vector<DeviceKind> devices() {
  std::vector<DeviceKind> d{DeviceKind::cpu};
  if (sim_device_ready())
    d.push_back(DeviceKind::sim);
  return d;
}

// values and metadata copied to `dev` (the prune above ran on the host).
struct OnDevice {
  TestTensor values;
  std::optional<runtime::DeviceBuffer> buf;
  TensorView metadata;
};

OnDevice to_device(DeviceKind dev, DType t, Pruned& p, int64_t k, int64_t n) {
  OnDevice d{TestTensor(dev, t, {n, k / 2}, p.values.values()), std::nullopt,
             words_view(p.metadata, n, k / 16)};
  if (dev != DeviceKind::cpu) {
    d.buf.emplace(runtime::DeviceBuffer::allocate_on(dev, p.metadata.size() * 2));
    d.buf->copy_from_host(p.metadata.data(), p.metadata.size() * 2);
    d.metadata.data = d.buf->data();
    d.metadata.device = dev;
  }
  return d;
}

// x @ masked(w) in f64.
std::vector<double> reference(const std::vector<double>& x, const std::vector<double>& wm,
                              int64_t m, int64_t k, int64_t n) {
  std::vector<double> want(size_t(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < n; ++j)
        want[size_t(i * n + j)] += x[size_t(i * k + kk)] * wm[size_t(kk * n + j)];
  return want;
}

class Sparse24Matmul : public ::testing::TestWithParam<DType> {};

TEST_P(Sparse24Matmul, IsThePrunedProduct) {
  const DType t = GetParam();
  struct Shape {
    int64_t m, n, k;
  };
  uint32_t seed = 10;
  SimBankConflicts banks;
  for (DeviceKind dev : devices())
    for (Shape s : {Shape{1, 5, 16}, Shape{7, 40, 48}, Shape{17, 70, 80}, Shape{64, 64, 128}})
      for (DType out_t : {DType::f32, t}) {
        SCOPED_TRACE(::testing::Message() << device_kind_name(dev) << " " << s.m << "x" << s.n
                                          << "x" << s.k << " out " << dtype_name(out_t));
        std::vector<double> w = weights(s.k, s.n, seed++, t);
        std::vector<double> x = rounded(random_values(size_t(s.m * s.k), seed++, -1, 1), t);
        Pruned p = prune(t, w, s.k, s.n);
        OnDevice d = to_device(dev, t, p, s.k, s.n);
        TestTensor xt(dev, t, {s.m, s.k}, x, /*pad=*/s.m > 1 ? 8 : 0);
        TestTensor out = TestTensor::poisoned(dev, out_t, {s.m, s.n}, /*pad=*/3);
        ops::matmul_sparse_2_4(xt.view(), d.values.view(), d.metadata, out.view());
        expect_close(out.values(), reference(x, masked(w, s.k, s.n, p.kept), s.m, s.k, s.n),
                     rtol_for(out_t), "matmul_sparse_2_4", atol_for(out_t));
        EXPECT_TRUE(out.padding_untouched());
      }
  if (sim_device_ready())
    banks.expect_none("matmul_sparse_2_4");
}

// The kernel's sm_80 and sm_90a code: no spills or local memory, 16-byte loads, the sparse
// operand on mma.sp (::ordered_metadata on sm_90a), two per 16 x 8 block of the transposed tile
// and 64 rows of K, and nothing of the old kernel: no dense mma.sync of a decompressed tile.
TEST(Sparse24Ptx, MmaSpNoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (DType t : {DType::f16, DType::bf16})
    for (int bm : {16, 64})
      for (const char* target : {"sm_80", "sm_90a"}) {
        std::string what = fmt::format("sparse_2_4 {} BM={} {}", dtype_name(t), bm, target);
        auto module = trace_dsl(ops::detail::sparse_2_4_kernel(), {bm, 64, 64, 8}, t);
        std::string ptx = expect_lean_ptx(*module, target, 4, what);
        const std::string form = std::string(target) == "sm_90a"
                                     ? "mma.sp::ordered_metadata.sync.aligned.m16n8k32"
                                     : "mma.sp.sync.aligned.m16n8k32";
        // per warp: the 64 x BM x 64 step's (64/16)(BM/8)(64/32) instructions over 4 warps
        const size_t per_step = size_t(64 / 16) * (bm / 8) * (64 / 32) / 4,
                     sp = codegen::gpu::count_in_ptx(ptx, form);
        EXPECT_GT(sp, 0u) << what;
        EXPECT_EQ(sp % per_step, 0u) << what; // the loop body's, unrolled or not
        EXPECT_EQ(codegen::gpu::count_in_ptx(ptx, "mma.sync"), 0u) << what;
        EXPECT_EQ(codegen::gpu::count_in_ptx(ptx, "wgmma"), 0u) << what;
      }
}

// Device metadata is not read back: a bad group gives NaN in its column, and only there (the
// kernel replaces the invalid word before the mma.sp, which would be undefined behaviour).
TEST(Sparse24Device, InvalidDeviceMetadataGivesNaNColumn) {
  TESSEL_REQUIRE_SIM_DEVICE();
  const DType t = DType::f16;
  const int64_t m = 5, k = 32, n = 12;
  Pruned p = prune(t, weights(k, n, 21, t), k, n);
  p.metadata[7 * 2 + 1] = uint16_t((p.metadata[7 * 2 + 1] & 0xff0f) | 0x00a0); // column 7: 0b1010
  OnDevice d = to_device(DeviceKind::sim, t, p, k, n);
  TestTensor x(DeviceKind::sim, t, {m, k}, rounded(random_values(size_t(m * k), 22, -1, 1), t));
  TestTensor out = TestTensor::poisoned(DeviceKind::sim, DType::f32, {m, n});
  ops::matmul_sparse_2_4(x.view(), d.values.view(), d.metadata, out.view());
  std::vector<double> got = out.values();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      EXPECT_EQ(std::isnan(got[size_t(i * n + j)]), j == 7) << i << ", " << j;
}

// ---- the pipelined K loop and the epilogue chain --------------------------------------------

struct Case {
  int64_t m, n, k;
  DType t, out;
};

// out = matmul_sparse_2_4(x, values, metadata) with `o` on `dev`, against the f64 reference of the
// pruned product with `chain` (the chain's own reference) applied; out poisoned, padded.
void check_case(DeviceKind dev, const Case& c, const ops::Sparse24Options& o,
                const std::function<double(double, int64_t, int64_t)>& chain,
                const std::string& what, uint32_t seed, int64_t x_pad = 8) {
  std::vector<double> w = weights(c.k, c.n, seed, c.t);
  std::vector<double> x = rounded(random_values(size_t(c.m * c.k), seed + 1, -1, 1), c.t);
  Pruned p = prune(c.t, w, c.k, c.n);
  OnDevice d = to_device(dev, c.t, p, c.k, c.n);
  TestTensor xt(dev, c.t, {c.m, c.k}, x, x_pad);
  TestTensor out = TestTensor::poisoned(dev, c.out, {c.m, c.n}, /*pad=*/3);
  ops::matmul_sparse_2_4(xt.view(), d.values.view(), d.metadata, out.view(), o);
  std::vector<double> want = reference(x, masked(w, c.k, c.n, p.kept), c.m, c.k, c.n);
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j)
      want[size_t(i * c.n + j)] = chain(want[size_t(i * c.n + j)], i, j);
  expect_close(out.values(), want, c.out == DType::f32 ? 1e-4 : rtol_for(c.out), what,
               atol_for(c.out));
  EXPECT_TRUE(out.padding_untouched()) << what;
}

double identity(double v, int64_t, int64_t) { return v; }

// The K loop through cp.async rings of 1 (no ring) to 4 stages on the simulated device, with
// memcheck, racecheck and the cp.async check (a ring slot read before its wait_group completes is
// an error), at ragged shapes: K = 272 is 4 full steps of 64 and a 16-row one (the copies'
// src-size zero-fills the rest), 1 to 5 steps (fewer steps than stages: the prologue's copies for
// missing iterations are masked off), M 3 (the 16-row tile), 17 and 33 (the 64-row tile, partly
// empty), N 70 (a partial 64-row weight tile). ctest runs it on sm_80 (mma.sp) and again, as
// sparse_2_4_tests.sm_90a.*, with TESSEL_SIM_TARGET=sm_90a (mma.sp::ordered_metadata;
// tests/stdlib/CMakeLists.txt).
TEST(Sparse24Pipeline, StagesOnTheSimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  SimBankConflicts banks;
  uint32_t seed = 40;
  const char* target = std::getenv("TESSEL_SIM_TARGET");
  for (int stages : {1, 2, 3, 4})
    for (Case c :
         {Case{3, 70, 272, DType::f16, DType::f32}, Case{33, 72, 48, DType::bf16, DType::bf16},
          Case{17, 64, 144, DType::f16, DType::f16}}) {
      ops::Sparse24Options o;
      o.num_stages = stages;
      check_case(DeviceKind::sim, c, o, identity,
                 fmt::format("{} {} stages {}x{}x{} {}", target ? target : "sm_80", stages, c.m,
                             c.n, c.k, dtype_name(c.t)),
                 seed++);
    }
  banks.expect_none("matmul_sparse_2_4 pipelined");
}

// An odd x row stride (XA = 1): x^T's copies would move 2 bytes, below cp.async's 4, so only the
// values stream through a ring and x^T is staged in the body (barrier, stores, barrier) -- the
// mixed form, where the metadata joins x^T's stores. No bank-conflict check: XA = 1's column
// stores conflict by design (docs/stdlib.md).
TEST(Sparse24Pipeline, OddRowStrideRingsTheValuesOnly) {
  TESSEL_REQUIRE_SIM_DEVICE();
  uint32_t seed = 60;
  for (int stages : {2, 3})
    for (Case c :
         {Case{3, 70, 272, DType::f16, DType::f32}, Case{33, 72, 144, DType::bf16, DType::bf16}})
      check_case(
          DeviceKind::sim, c,
          [&] {
            ops::Sparse24Options o;
            o.num_stages = stages;
            return o;
          }(),
          identity, fmt::format("x stride K + 3, {} stages {}x{}x{}", stages, c.m, c.n, c.k),
          seed++, /*x_pad=*/3);
}

// The chain of matmul_w4a16's tests: gelu(acc + bias[n]) + residual[m, n], then a user step that
// reads its tile's row and column indices (acc * 0.5 + row - col: a transposed tile would give
// other values), with the output cast; on the CPU (decompress + ops::matmul) and the simulated
// device (the kernel's transposed accumulator, transposed back for the chain).
TEST(Sparse24Epilogue, ChainAgainstReference) {
  uint32_t seed = 70;
  for (DeviceKind dev : devices())
    for (Case c :
         {Case{1, 40, 64, DType::f16, DType::f16}, Case{5, 70, 96, DType::bf16, DType::f32},
          Case{33, 24, 128, DType::f16, DType::bf16}}) {
      const std::vector<double> biasv =
          rounded(random_values(size_t(c.n), seed++, -1, 1), DType::f32);
      const std::vector<double> resv =
          rounded(random_values(size_t(c.m * c.n), seed++, -1, 1), c.out);
      TestTensor bias(dev, DType::f32, {c.n}, biasv), res(dev, c.out, {c.m, c.n}, resv);
      ops::Sparse24Options o;
      o.epilogue = {ops::bias(bias.view()), ops::gelu(), ops::residual(res.view()),
                    ops::epilogue("half_plus_row_minus_col", [](const ops::EpilogueTile& t) {
                      return t.acc * 0.5f + (t.rows - t.cols).to(DType::f32);
                    })};
      auto chain = [&](double v, int64_t i, int64_t j) {
        v = v + biasv[size_t(j)];
        v = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))) + resv[size_t(i * c.n + j)];
        return v * 0.5 + double(i - j);
      };
      check_case(dev, c, o, chain,
                 fmt::format("{} {}x{}x{} {} -> {} + bias, gelu, residual, user",
                             device_kind_name(dev), c.m, c.n, c.k, dtype_name(c.t),
                             dtype_name(c.out)),
                 seed++);
    }
}

// The pipelined kernel's code at 2 and 3 stages, with and without a chain: cp.async copies (16
// bytes) and their commit groups, the wait count the ring needs (S - 2 groups may stay in flight),
// the mma.sp form of the target, no spills.
TEST(Sparse24Ptx, PipelinedCpAsyncAndMmaSp) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (int bm : {16, 64})
    for (int stages : {2, 3})
      for (const char* target : {"sm_80", "sm_90a"}) {
        const std::string what = fmt::format("sparse_2_4 BM={} stages {} {}", bm, stages, target);
        auto module = trace_dsl(ops::detail::sparse_2_4_kernel(), {bm, 64, 64, 8}, DType::f16);
        codegen::gpu::CompileOptions opts;
        opts.num_warps = 4;
        opts.num_stages = stages;
        auto out =
            codegen::gpu::compile(*module->functions.front(), codegen::parse_target(target), opts);
        ASSERT_TRUE(out.resources.parsed) << out.info_log;
        EXPECT_EQ(out.resources.spill_stores, 0) << what;
        EXPECT_EQ(out.resources.spill_loads, 0) << what;
        const std::string& ptx = out.ptx;
        EXPECT_GT(codegen::gpu::count_in_ptx(ptx, "cp.async.cg.shared.global"), 0u) << what;
        EXPECT_GT(codegen::gpu::count_in_ptx(ptx, "cp.async.commit_group"), 0u) << what;
        EXPECT_GT(
            codegen::gpu::count_in_ptx(ptx, fmt::format("cp.async.wait_group {};", stages - 2)), 0u)
            << what;
        EXPECT_GT(codegen::gpu::count_in_ptx(ptx, std::string(target) == "sm_90a"
                                                      ? "mma.sp::ordered_metadata.sync"
                                                      : "mma.sp.sync"),
                  0u)
            << what;
      }
}

INSTANTIATE_TEST_SUITE_P(DTypes, Sparse24, ::testing::Values(DType::f32, DType::f16, DType::bf16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });
// f16 and bf16: the sparse tensor-core types (f32 x is an error, tested below).
INSTANTIATE_TEST_SUITE_P(DTypes, Sparse24Matmul, ::testing::Values(DType::f16, DType::bf16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// ---- bad input: each a tessel::Error naming the argument and what was expected ----------------

// A view that claims to be on the simulated device (never dereferenced: the device is checked
// first).
TensorView on_sim(TensorView v) {
  v.device = DeviceKind::sim;
  return v;
}

TEST(Sparse24Errors, PruneArguments) {
  const DType t = DType::f16;
  std::vector<uint16_t> meta(64);
  TestTensor values = TestTensor::poisoned(DeviceKind::cpu, t, {4, 16});
  auto prune_w = [&](int64_t k, TensorView v, TensorView m) {
    TestTensor w(DeviceKind::cpu, t, {k, 4}, random_values(size_t(k * 4), 1));
    ops::prune_2_4(w.view(), v, m);
  };
  expect_error([&] { prune_w(18, values.view(), words_view(meta, 4, 1)); },
               {"sparse_2_4_test.cpp", "prune_2_4: w has K = 18, not a multiple of 4"});
  expect_error([&] { prune_w(20, values.view(), words_view(meta, 4, 1)); },
               {"w has K = 20, not a multiple of 16", "one 16-bit metadata word"});
  TestTensor narrow = TestTensor::poisoned(DeviceKind::cpu, t, {4, 8});
  expect_error([&] { prune_w(32, narrow.view(), words_view(meta, 4, 2)); },
               {"values has shape [4, 8]; expected [4, 16]"});
  TestTensor other = TestTensor::poisoned(DeviceKind::cpu, DType::bf16, {4, 16});
  expect_error([&] { prune_w(32, other.view(), words_view(meta, 4, 2)); },
               {"values has dtype bf16; expected f16"});
  expect_error([&] { prune_w(32, values.view(), words_view(meta, 4, 1)); },
               {"metadata has shape [4, 1]; expected [4, 2]"});
  TensorView f32_meta = words_view(meta, 4, 2);
  f32_meta.dtype = DType::f32;
  expect_error([&] { prune_w(32, values.view(), f32_meta); },
               {"metadata has dtype f32; expected i16"});
  expect_error([&] { prune_w(32, on_sim(values.view()), words_view(meta, 4, 2)); },
               {"values is on device sim", "offline step on host tensors"});
  TestTensor nan_w = TestTensor::poisoned(DeviceKind::cpu, t, {32, 4});
  expect_error([&] { ops::prune_2_4(nan_w.view(), values.view(), words_view(meta, 4, 2)); },
               {"w[0, 0] is NaN"});
}

TEST(Sparse24Errors, InvalidMetadata) {
  const DType t = DType::bf16;
  const int64_t k = 32, n = 4;
  Pruned p = prune(t, weights(k, n, 9, t), k, n);
  TestTensor w = TestTensor::poisoned(DeviceKind::cpu, t, {k, n});
  // Word [2, 1], group 3 (bits 12..15, k = 28..31).
  uint16_t& word = p.metadata[2 * 2 + 1];
  const uint16_t saved = word;
  word = uint16_t((saved & 0x0fff) | 0x5000);
  expect_error(
      [&] { ops::decompress_2_4(p.values.view(), words_view(p.metadata, n, k / 16), w.view()); },
      {"decompress_2_4", "metadata[2, 1]", "group 3 (bits 12..15, k = 28..31) is 0b0101",
       "names one position twice"});
  word = uint16_t((saved & 0x0fff) | 0x1000);
  TestTensor x(DeviceKind::cpu, t, {3, k}, random_values(size_t(3 * k), 2));
  TestTensor out = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {3, n});
  expect_error(
      [&] {
        ops::matmul_sparse_2_4(x.view(), p.values.view(), words_view(p.metadata, n, k / 16),
                               out.view());
      },
      {"matmul_sparse_2_4", "metadata[2, 1]", "is 0b0001", "is out of order"});
  EXPECT_TRUE(std::isnan(out.values()[0])) << "nothing was launched";
}

TEST(Sparse24Errors, MatmulArguments) {
  const DType t = DType::f16;
  const int64_t k = 32, n = 8;
  Pruned p = prune(t, weights(k, n, 4, t), k, n);
  TensorView meta = words_view(p.metadata, n, k / 16);
  auto run = [&](TensorView x, TensorView out) {
    ops::matmul_sparse_2_4(x, p.values.view(), meta, out);
  };
  TestTensor x(DeviceKind::cpu, t, {5, k}, random_values(size_t(5 * k), 3));
  TestTensor out = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {5, n});
  TestTensor x20(DeviceKind::cpu, t, {5, 20}, random_values(100, 3));
  expect_error([&] { run(x20.view(), out.view()); }, {"x has K = 20, not a multiple of 16"});
  TestTensor xf(DeviceKind::cpu, DType::f32, {5, k}, random_values(size_t(5 * k), 3));
  expect_error([&] { run(xf.view(), out.view()); }, {"x has dtype f32; expected f16 or bf16"});
  TestTensor xb(DeviceKind::cpu, DType::bf16, {5, k}, random_values(size_t(5 * k), 3));
  expect_error([&] { run(xb.view(), out.view()); }, {"values has dtype f16 but x has bf16"});
  TestTensor x64(DeviceKind::cpu, t, {5, 64}, random_values(320, 3));
  expect_error([&] { run(x64.view(), out.view()); },
               {"values has shape [8, 16]; expected [8, 32]"});
  TestTensor wide = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {5, n + 1});
  expect_error([&] { run(x.view(), wide.view()); }, {"out has shape [5, 9]; expected [5, 8]"});
  expect_error([&] { run(on_sim(x.view()), on_sim(out.view())); },
               {"values", "sim"}); // values and metadata are host tensors here
}

// Sparse24Options: the ring depth out of range, and an epilogue that reads 3 tensors (bind_chain's
// diagnostic, named for this op).
TEST(Sparse24Errors, MatmulOptions) {
  const DType t = DType::f16;
  const int64_t m = 5, k = 32, n = 8;
  Pruned p = prune(t, weights(k, n, 4, t), k, n);
  TensorView meta = words_view(p.metadata, n, k / 16);
  TestTensor x(DeviceKind::cpu, t, {m, k}, random_values(size_t(m * k), 3));
  TestTensor out = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {m, n});
  for (int stages : {0, 17}) {
    ops::Sparse24Options o;
    o.num_stages = stages;
    expect_error(
        [&] { ops::matmul_sparse_2_4(x.view(), p.values.view(), meta, out.view(), o); },
        {"matmul_sparse_2_4", fmt::format("options.num_stages is {}; expected 1 to 16", stages)});
  }
  TestTensor r(DeviceKind::cpu, DType::f32, {m, n}, random_values(size_t(m * n), 5));
  ops::Sparse24Options o;
  o.epilogue = {ops::residual(r.view()), ops::residual(r.view()), ops::residual(r.view())};
  expect_error([&] { ops::matmul_sparse_2_4(x.view(), p.values.view(), meta, out.view(), o); },
               {"matmul_sparse_2_4", "at most 2 tensors"});
}

} // namespace
} // namespace tessel::testing
