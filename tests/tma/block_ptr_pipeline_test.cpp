// The software pipeliner on block pointers (issue 15): a Triton-style block-pointer matmul whose K
// loop advances both operands with tl::advance carries the offsets as `yield add %x, %inc`
// (dsl/block_ptr.cpp); on sm_80 (no TMA) its boxes become masked loads, which the pipeliner now
// streams through a cp.async ring because such a carried integer is an induction
// (codegen/gpu/pipeline.cpp, step_of). PTX through nvJitLink: 16-byte cp.async and their waits,
// zero spills, for 2, 3 and 4 stages. The simulated sm_80 device (memcheck, racecheck and the
// cp.async check on: a finding fails the launch) runs it for f16 and bf16 at ragged shapes against
// an f64 reference, output poisoned first. (Without step_of's integer case the PTX test fails:
// docs/gpu_codegen.md, "Block pointers in the pipeliner", says how that was checked.)
#include "device/backend_buffers.h"
#include "tessel/codegen/gpu.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace tessel::testing {
namespace {

namespace tl = tessel::lang;

constexpr int kBM = 64, kBN = 64, kBK = 32;
constexpr float kPoison = -4242.0f;

// c[M, N] (f32) = a[M, K] . b[K, N], row-major with row strides lda, ldb, ldc: boxes past an edge
// read as zero, so ragged shapes need no mask of the user's.
Kernel block_ptr_matmul() {
  return tl::kernel(
      "bp_pipe_mm", "c, a, b, M, N, K, lda, ldb, ldc",
      [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Int M, tl::Int N, tl::Int K, tl::Int lda, tl::Int ldb,
         tl::Int ldc) {
        auto rm = tl::program_id(0) * kBM, rn = tl::program_id(1) * kBN;
        auto pa = tl::make_block_ptr(a, {M, K}, {lda, 1}, {rm, 0}, {kBM, kBK}, {1, 0});
        auto pb = tl::make_block_ptr(b, {K, N}, {ldb, 1}, {0, rn}, {kBK, kBN}, {1, 0});
        tl::Tensor acc = tl::zeros({kBM, kBN}, tl::f32);
        tl::for_range(0, K, kBK, [&](tl::Int) {
          acc = tl::dot(tl::load(pa, {0, 1}), tl::load(pb, {0, 1}), acc);
          pa = tl::advance(pa, {0, kBK});
          pb = tl::advance(pb, {kBK, 0});
        });
        tl::store(tl::make_block_ptr(c, {M, N}, {ldc, 1}, {rm, rn}, {kBM, kBN}, {1, 0}), acc,
                  {0, 1});
      });
}

const Kernel& shared_kernel() {
  static const Kernel k = block_ptr_matmul();
  return k;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

// Row strides divisible by 16 elements, as the ragged runs below pad them (the key knows 16 and 1
// only: an 8-element stride would leave rows 2-byte aligned as far as the copies know).
CompileResult compile_sm80(int stages) {
  using P = SignatureParam;
  const Signature sig{{P::pointer(DType::f32, 16, "c"), P::pointer(DType::f16, 16, "a"),
                       P::pointer(DType::f16, 16, "b"), P::integer(1, "M"), P::integer(1, "N"),
                       P::integer(1, "K"), P::integer(16, "lda"), P::integer(16, "ldb"),
                       P::integer(1, "ldc")}};
  CompileOptions o;
  o.num_warps = 4;
  o.num_stages = stages;
  o.cache = CacheMode::off;
  return shared_kernel().compile(Target::parse("sm_80"), sig, o);
}

TEST(BlockPtrPipelinePtx, Sm80StreamsBothBoxesThroughACpAsyncRing) {
  if (cpu_and_sim().size() < 2)
    GTEST_SKIP() << "needs the simulator, libdevice and nvJitLink";
  for (int stages : {2, 3, 4}) {
    SCOPED_TRACE(fmt::format("{} stages", stages));
    CompileResult r = compile_sm80(stages);
    const codegen::gpu::PtxStats st = codegen::gpu::ptx_stats(r.ptx);
    EXPECT_GT(count(r.ptx, "cp.async.cg.shared.global"), 0u) << "16-byte copies: " << r.ptx;
    EXPECT_EQ(count(r.ptx, "cp.async.ca.shared.global"), 0u) << "no 4- or 8-byte copies";
    EXPECT_GT(count(r.ptx, "cp.async.wait_group"), 0u);
    EXPECT_GT(count(r.ptx, "cp.async.commit_group"), 0u);
    // Every global read of the operands goes through the ring: the only ld.global left would be a
    // synchronous load of a box.
    EXPECT_EQ(count(r.ptx, "ld.global"), 0u) << r.ptx;
    EXPECT_GT(st.get("mma"), 0);
    EXPECT_EQ(st.get("local"), 0);
    ASSERT_TRUE(r.resources.parsed) << r.info_log;
    EXPECT_EQ(r.resources.spill_stores, 0);
    EXPECT_EQ(r.resources.spill_loads, 0);
    std::printf("[ figures  ] block-pointer matmul f16 64x64x32 4 warps sm_80, %d stages: %d "
                "registers, %lld bytes shared, %lld PTX instructions, %zu cp.async\n",
                stages, r.resources.registers, static_cast<long long>(r.shared_bytes),
                static_cast<long long>(st.instructions), count(r.ptx, "cp.async.cg.shared.global"));
  }
}

struct Shape {
  int64_t M, N, K;
};

// One tile and less (the prologue alone covers the loop), K of 1 to 25 tiles with ragged edges,
// and M, N past one tile on both sides.
const Shape kShapes[] = {{1, 1, 1},      {17, 33, 65},  {64, 64, 32},
                         {100, 72, 200}, {130, 65, 97}, {64, 64, 800}};

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <class T> std::vector<T> random_matrix(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<T> v(n);
  for (T& x : v)
    x = T(u(rng));
  return v;
}

// Runs on the simulated sm_80 device and compares with an f64 reference over the whole padded
// output (the columns past N must keep the poison).
template <class T> void run_and_check(const Shape& s, int stages, uint32_t seed) {
  const int64_t lda = round_up(s.K, 16), ldb = round_up(s.N, 16), ldc = round_up(s.N, 4);
  const std::vector<T> ha = random_matrix<T>(size_t(s.M * lda), seed);
  const std::vector<T> hb = random_matrix<T>(size_t(s.K * ldb), seed + 1);
  Buffer<T> a(DeviceKind::sim, ha), b(DeviceKind::sim, hb);
  Buffer<float> c(DeviceKind::sim, std::vector<float>(size_t(s.M * ldc), kPoison));
  LaunchOptions o = on(DeviceKind::sim);
  o.num_warps = 4;
  o.num_stages = stages;
  shared_kernel().launch({cdiv(s.M, kBM), cdiv(s.N, kBN)}, o, c.view(), a.view(), b.view(),
                         int(s.M), int(s.N), int(s.K), int(lda), int(ldb), int(ldc));
  const std::vector<float> got = c.read();
  for (int64_t i = 0; i < s.M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const float at = got[size_t(i * ldc + j)];
      if (j >= s.N) {
        ASSERT_EQ(at, kPoison) << "written past N at (" << i << ", " << j << ")";
        continue;
      }
      double want = 0, scale = 0;
      for (int64_t k = 0; k < s.K; ++k) {
        const double p = double(float(ha[size_t(i * lda + k)])) * float(hb[size_t(k * ldb + j)]);
        want += p;
        scale += std::abs(p);
      }
      // Products of f16 / bf16 are exact in f32; the f32 sum of K terms rounds by K ulps at most.
      const double tol = 1e-6 * scale * double(s.K) + 1e-30;
      ASSERT_NEAR(at, want, tol) << "at (" << i << ", " << j << ")";
    }
}

class BlockPtrPipelineSim : public ::testing::Test {
protected:
  void SetUp() override {
    if (cpu_and_sim().size() < 2)
      GTEST_SKIP() << "needs the simulator, libdevice and nvJitLink";
    setenv("TESSEL_SIM_TARGET", "sm_80", /*overwrite=*/1);
  }
  void TearDown() override { unsetenv("TESSEL_SIM_TARGET"); }
};

TEST_F(BlockPtrPipelineSim, F16RaggedShapesAreExact) {
  for (int stages : {2, 3, 4})
    for (const Shape& s : kShapes) {
      SCOPED_TRACE(fmt::format("{}x{}x{}, {} stages", s.M, s.N, s.K, stages));
      run_and_check<half>(s, stages, uint32_t(s.M * 7 + s.K + stages));
    }
}

TEST_F(BlockPtrPipelineSim, Bf16RaggedShapesAreExact) {
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(fmt::format("{}x{}x{}", s.M, s.N, s.K));
    run_and_check<bfloat16>(s, 3, uint32_t(s.N * 5 + s.K));
  }
}

} // namespace
} // namespace tessel::testing
