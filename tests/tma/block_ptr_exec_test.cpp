// Block-pointer kernels (tl::make_block_ptr / tl::advance) on every backend — the CPU, and the
// simulated device compiled for sm_80 (masked loads) and for sm_90a (TMA) — against plain C++
// references: a ragged 2-D copy, a column-major view (order {0, 1}) copied out transposed, a row
// sum whose block pointer a run-time loop advances, NaN padding, and a matmul whose K loop
// advances two block pointers. Every shape is ragged, rows are padded so that the outer strides
// are multiples of 16 bytes, outputs are poisoned first, and the simulator runs with memcheck and
// racecheck on (a finding fails the launch).
#include "device/backend_buffers.h"
#include "runtime/sim_device.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace tessel::testing {
namespace {

namespace tl = tessel::lang;

constexpr float kPoison = -12345.0f;

struct Backend {
  DeviceKind where;
  const char* sim_target; // TESSEL_SIM_TARGET for the simulated device
  std::string name() const { return where == DeviceKind::cpu ? "cpu" : std::string(sim_target); }
};

std::vector<Backend> backends() {
  std::vector<Backend> out{{DeviceKind::cpu, ""}};
  for (DeviceKind k : cpu_and_sim())
    if (k == DeviceKind::sim) {
      out.push_back({DeviceKind::sim, "sm_80"});
      out.push_back({DeviceKind::sim, "sm_90a"});
    }
  return out;
}

class BlockPtrExec : public ::testing::TestWithParam<Backend> {
protected:
  void SetUp() override {
    if (GetParam().where == DeviceKind::sim)
      setenv("TESSEL_SIM_TARGET", GetParam().sim_target, /*overwrite=*/1);
  }
  void TearDown() override { unsetenv("TESSEL_SIM_TARGET"); }
  LaunchOptions options() const { return on(GetParam().where); }
  bool on_sm90a() const { return std::string(GetParam().sim_target) == "sm_90a"; }
};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-4.0f, 4.0f);
  std::vector<float> v(n);
  for (float& x : v)
    x = u(rng);
  return v;
}

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// out = in through two row-major block pointers of the same [m, n] tensor with row stride ld. A
// new Kernel per test (from before TESSEL_SIM_TARGET was part of a kernel's key).
Kernel copy_kernel() {
  return tl::kernel("bp_copy", "out, in, m, n, ld, BM, BN",
                    [](tl::Ptr out, tl::Ptr in, tl::Int m, tl::Int n, tl::Int ld, tl::Const<int> BM,
                       tl::Const<int> BN) {
                      auto r = tl::program_id(0) * BM, c = tl::program_id(1) * BN;
                      auto src = tl::make_block_ptr(in, tl::shape{m, n}, tl::strides{ld, 1},
                                                    tl::offsets{r, c}, tl::block_shape{BM, BN},
                                                    tl::order{1, 0});
                      auto dst = tl::make_block_ptr(out, {m, n}, {ld, 1}, {r, c}, {BM, BN}, {1, 0});
                      tl::store(dst, tl::load(src, {0, 1}), {0, 1});
                    });
}

TEST_P(BlockPtrExec, RaggedCopy) {
  const int64_t m = 77, n = 45, ld = 48, bm = 16, bn = 32;
  auto in_host = random_floats(size_t(m * ld), 1);
  Buffer<float> in(GetParam().where, in_host);
  Buffer<float> out(GetParam().where, std::vector<float>(size_t(m * ld), kPoison));
  if (GetParam().where == DeviceKind::sim) { // sm_90a copies the boxes by TMA
    CompileResult r = copy_kernel().compile(
        Target::parse(GetParam().sim_target),
        Signature::from_args(out.view(), in.view(), int(m), int(n), int(ld), int(bm), int(bn)));
    EXPECT_EQ(r.tensor_maps, on_sm90a() ? 2 : 0);
  }
  copy_kernel().launch({cdiv(m, bm), cdiv(n, bn)}, options(), out.view(), in.view(), int(m), int(n),
                       int(ld), int(bm), int(bn));
  std::vector<float> got = out.read();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < ld; ++j) {
      const float want = j < n ? in_host[size_t(i * ld + j)] : kPoison;
      ASSERT_EQ(got[size_t(i * ld + j)], want) << "at (" << i << ", " << j << ")";
    }
}

// `in` holds an [n, m] row-major matrix; the block pointer views it as [m, n] with strides
// {1, ld_in} and order {0, 1} (dimension 0 contiguous), so a row-major store of the loaded box
// writes the transpose: out[i, j] = in[j, i].
TEST_P(BlockPtrExec, ColumnMajorViewCopiesOutTransposed) {
  const int64_t m = 70, n = 53, ld_in = 72, ld_out = 56;
  auto k = tl::kernel("bp_colmajor", [](tl::Ptr out, tl::Ptr in, tl::Int m, tl::Int n,
                                        tl::Int ld_in, tl::Int ld_out) {
    auto r = tl::program_id(0) * 32, c = tl::program_id(1) * 32;
    auto src = tl::make_block_ptr(in, {m, n}, {1, ld_in}, {r, c}, {32, 32}, {0, 1});
    auto dst = tl::make_block_ptr(out, {m, n}, {ld_out, 1}, {r, c}, {32, 32}, {1, 0});
    tl::store(dst, tl::load(src));
  });
  auto in_host = random_floats(size_t(n * ld_in), 3);
  Buffer<float> in(GetParam().where, in_host);
  Buffer<float> out(GetParam().where, std::vector<float>(size_t(m * ld_out), kPoison));
  k.launch({cdiv(m, 32), cdiv(n, 32)}, options(), out.view(), in.view(), int(m), int(n), int(ld_in),
           int(ld_out));
  std::vector<float> got = out.read();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < ld_out; ++j) {
      const float want = j < n ? in_host[size_t(j * ld_in + i)] : kPoison;
      ASSERT_EQ(got[size_t(i * ld_out + j)], want) << "at (" << i << ", " << j << ")";
    }
  if (on_sm90a()) { // the transposed view is a TMA box too (in memory order), then a permute
    CompileResult r =
        k.compile(Target::parse("sm_90a"), Signature::from_args(out.view(), in.view(), int(m),
                                                                int(n), int(ld_in), int(ld_out)));
    EXPECT_EQ(r.tensor_maps, 2);
  }
}

// out[i] = sum of in[i, :]: a run-time loop loads the box and advances the block pointer along the
// row, so the column offset is a carried value of the loop (the row offset, advanced by 0, not).
TEST_P(BlockPtrExec, AdvanceInALoopSumsRows) {
  const int64_t m = 20, n = 100, ld = 104;
  auto k = tl::kernel("bp_row_sum", [](tl::Ptr out, tl::Ptr in, tl::Int m, tl::Int n, tl::Int ld) {
    auto r = tl::program_id(0) * 16;
    auto p = tl::make_block_ptr(in, {m, n}, {ld, 1}, {r, 0}, {16, 32}, {1, 0});
    tl::Tensor acc = tl::zeros({16}, tl::f32);
    tl::for_range(0, n, 32, [&](tl::Int) {
      acc = acc + tl::sum(tl::load(p, {0, 1}), 1);
      p = tl::advance(p, {0, 32});
    });
    auto rows = r + tl::arange(0, 16);
    tl::store(out + rows, acc, rows < m);
  });
  auto in_host = random_floats(size_t(m * ld), 7);
  Buffer<float> in(GetParam().where, in_host);
  Buffer<float> out(GetParam().where, std::vector<float>(size_t(32), kPoison));
  k.launch({cdiv(m, 16)}, options(), out.view(), in.view(), int(m), int(n), int(ld));
  std::vector<float> got = out.read();
  for (int64_t i = 0; i < 32; ++i) {
    if (i >= m) {
      ASSERT_EQ(got[size_t(i)], kPoison) << "row " << i;
      continue;
    }
    double want = 0;
    for (int64_t j = 0; j < n; ++j)
      want += in_host[size_t(i * ld + j)];
    ASSERT_NEAR(got[size_t(i)], want, 1e-3) << "row " << i;
  }
  if (on_sm90a()) { // base, shape and strides stay the kernel's arguments: the host builds a map
    CompileResult r =
        k.compile(Target::parse("sm_90a"),
                  Signature::from_args(out.view(), in.view(), int(m), int(n), int(ld)));
    EXPECT_EQ(r.tensor_maps, 1);
  }
}

// Padding::nan: box elements past the end read as NaN.
TEST_P(BlockPtrExec, NanPadding) {
  const int64_t n = 100;
  auto k = tl::kernel("bp_nan_pad", [](tl::Ptr out, tl::Ptr in, tl::Int n) {
    auto base = tl::program_id(0) * 64;
    auto p = tl::make_block_ptr(in, {n}, {1}, {base}, {64}, {0});
    tl::store(out + base + tl::arange(0, 64), tl::load(p, {0}, tl::Padding::nan));
  });
  auto in_host = random_floats(size_t(n), 6);
  Buffer<float> in(GetParam().where, in_host);
  Buffer<float> out(GetParam().where, std::vector<float>(128, kPoison));
  k.launch({2}, options(), out.view(), in.view(), int(n));
  std::vector<float> got = out.read();
  for (int64_t i = 0; i < 128; ++i) {
    if (i < n) {
      ASSERT_EQ(got[size_t(i)], in_host[size_t(i)]) << "at " << i;
    } else {
      ASSERT_TRUE(std::isnan(got[size_t(i)])) << "at " << i << ": " << got[size_t(i)];
    }
  }
}

// c[M, N] (f32) = a[M, K] @ b[K, N] (f16), Triton's block-pointer matmul: the K loop loads one box
// of each operand and advances both block pointers by BK. Boxes past K read as zero, so the
// ragged K needs no mask.
Kernel matmul_kernel() {
  return tl::kernel("bp_matmul", "c, a, b, M, N, K, lda, ldb, ldc",
                    [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Int M, tl::Int N, tl::Int K,
                       tl::Int lda, tl::Int ldb, tl::Int ldc) {
                      constexpr int BM = 32, BN = 32, BK = 32;
                      auto rm = tl::program_id(0) * BM, rn = tl::program_id(1) * BN;
                      auto pa = tl::make_block_ptr(a, {M, K}, {lda, 1}, {rm, 0}, {BM, BK}, {1, 0});
                      auto pb = tl::make_block_ptr(b, {K, N}, {ldb, 1}, {0, rn}, {BK, BN}, {1, 0});
                      tl::Tensor acc = tl::zeros({BM, BN}, tl::f32);
                      tl::for_range(0, K, BK, [&](tl::Int) {
                        acc = tl::dot(tl::load(pa, {0, 1}), tl::load(pb, {0, 1}), acc);
                        pa = tl::advance(pa, {0, BK});
                        pb = tl::advance(pb, {BK, 0});
                      });
                      auto pc = tl::make_block_ptr(c, {M, N}, {ldc, 1}, {rm, rn}, {BM, BN}, {1, 0});
                      tl::store(pc, acc, {0, 1});
                    });
}

// Multiples of 1/8 in [-2, 2]: exact in f16, and so are their products and the f32 sums here.
std::vector<half> eighths(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<half> v(n);
  for (half& x : v)
    x = half(float(int(rng() % 33) - 16) / 8.0f);
  return v;
}

TEST_P(BlockPtrExec, MatmulAdvancesAlongK) {
  const int64_t M = 70, N = 45, K = 100, lda = 104, ldb = 48, ldc = 48;
  auto ha = eighths(size_t(M * lda), 11), hb = eighths(size_t(K * ldb), 12);
  Buffer<half> a(GetParam().where, ha), b(GetParam().where, hb);
  Buffer<float> c(GetParam().where, std::vector<float>(size_t(M * ldc), kPoison));
  matmul_kernel().launch({cdiv(M, 32), cdiv(N, 32)}, options(), c.view(), a.view(), b.view(),
                         int(M), int(N), int(K), int(lda), int(ldb), int(ldc));
  std::vector<float> got = c.read();
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      double want = kPoison;
      if (j < N) {
        want = 0;
        for (int64_t l = 0; l < K; ++l)
          want += double(float(ha[size_t(i * lda + l)])) * double(float(hb[size_t(l * ldb + j)]));
      }
      ASSERT_NEAR(got[size_t(i * ldc + j)], want, 1e-3) << "at (" << i << ", " << j << ")";
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, BlockPtrExec, ::testing::ValuesIn(backends()),
                         [](const auto& info) { return info.param.name(); });

} // namespace
} // namespace tessel::testing
