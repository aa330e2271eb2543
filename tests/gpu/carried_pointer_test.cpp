// Triton's matmul written with loop-carried pointers (`a_ptrs += BK * stride_ak` at the end of
// each iteration) instead of pointers recomputed from the induction variable: the axis analysis
// carries the pointers' contiguity and 16-byte alignment through the loop, so the pipeliner's
// copies are 16-byte cp.async.cg (4-byte cp.async.ca before), and the kernel is run in the PTX
// simulator against an f64 reference (memcheck, racecheck, cp.async check, no bank conflicts).
#include "gpu_test_util.h"

#include "tessel/codegen/gpu.h"

#include <tessel/sim/sim.h>

#include <cstring>
#include <random>

namespace tessel::codegen::gpu {
namespace {

namespace tl = tessel::lang;
using sim::KernelArg;

// c[M, N] (f32) = a[M, K] . b[K, N], f16, row-major with leading dimensions K and N; M, N, K
// multiples of the tile (the loads are unmasked, as in the simplest form of the tutorial).
const Kernel& carried_matmul() {
  static const Kernel k = tl::kernel(
      "carried_matmul", [](tl::PtrOf<float> c, tl::Ptr a, tl::Ptr b, tl::Int M, tl::Int N,
                           tl::Int K, tl::Const<int> BM, tl::Const<int> BN, tl::Const<int> BK) {
        auto rm = tl::expand_dims(tl::program_id(0) * BM + tl::arange(0, BM), 1);
        auto rn = tl::expand_dims(tl::program_id(1) * BN + tl::arange(0, BN), 0);
        auto rk = tl::arange(0, BK);
        tl::Tensor a_ptrs = a + (rm * K + tl::expand_dims(rk, 0));
        tl::Tensor b_ptrs = b + (tl::expand_dims(rk, 1) * N + rn);
        auto acc = tl::zeros({BM, BN}, tl::f32);
        tl::for_range(0, K, BK, [&](tl::Int) {
          acc = tl::dot(tl::load(a_ptrs), tl::load(b_ptrs), acc);
          a_ptrs = a_ptrs + BK;
          b_ptrs = b_ptrs + BK * N;
        });
        tl::store(c + (rm * N + rn), acc, (rm < M) & (rn < N));
      });
  return k;
}

CompiledKernel build(int bm, int bn, int bk, const char* target, Stage until) {
  auto module = testing::trace_dsl(carried_matmul(), {bm, bn, bk}, DType::f16);
  CompileOptions o;
  o.num_stages = 3;
  return compile(*module->functions.front(), parse_target(target), o, until);
}

TEST(CarriedPointers, PipelinedCopiesStaySixteenBytes) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_80", "sm_90a"}) {
    SCOPED_TRACE(target);
    CompiledKernel k = build(64, 64, 32, target, Stage::Cubin);
    PtxStats st = ptx_stats(k.ptx);
    // sm_90a runs this tile on wgmma (docs/gpu_codegen.md, "Hopper: wgmma"), sm_80 on mma.sync.
    EXPECT_GT(st.get(std::string(target) == "sm_90a" ? "wgmma.mma_async" : "mma"), 0);
    EXPECT_NE(k.ptx.find("cp.async.cg.shared.global"), std::string::npos) << "16-byte copies";
    EXPECT_EQ(k.ptx.find("cp.async.ca.shared.global"), std::string::npos) << "no 4/8-byte copies";
    ASSERT_TRUE(k.resources.parsed) << k.info_log;
    EXPECT_EQ(k.resources.spill_stores, 0);
  }
}

TEST(CarriedPointers, MatchesTheReferenceInTheSimulator) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const int m = 64, n = 64, k = 128, bm = 32, bn = 32, bk = 32;
  CompiledKernel ck = build(bm, bn, bk, "sm_80", Stage::Ptx);
  std::mt19937 rng(3);
  auto values = [&](size_t count) {
    std::vector<double> v(count);
    for (double& x : v)
      x = (static_cast<int>(rng() % 33) - 16) / 8.0; // exact in f16, exact products and sums
    return v;
  };
  const auto a = values(size_t(m) * k), b = values(size_t(k) * n);
  auto halves = [](const std::vector<double>& v) {
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i)
      h[i] = float_to_half(float(v[i]));
    return h;
  };
  sim::Device dev;
  auto upload = [&](const void* bytes, size_t size) {
    auto p = dev.malloc(size + 16);
    EXPECT_TRUE(p.ok());
    EXPECT_TRUE(dev.memcpy_to_device(*p, bytes, size).ok());
    return *p;
  };
  const auto ha = halves(a), hb = halves(b);
  const std::vector<uint8_t> poison(size_t(m) * n * 4, 0xff); // NaN
  const uint64_t da = upload(ha.data(), ha.size() * 2), db = upload(hb.data(), hb.size() * 2);
  const uint64_t dc = upload(poison.data(), poison.size());
  const std::vector<KernelArg> args = {KernelArg::ptr(dc), KernelArg::ptr(da), KernelArg::ptr(db),
                                       KernelArg::i32(m),  KernelArg::i32(n),  KernelArg::i32(k)};
  auto r = dev.launch(ck.ptx, ck.name, sim::Dim3{m / bm, n / bn, 1}, sim::Dim3{128, 1, 1},
                      static_cast<uint32_t>(ck.shared_bytes), args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  for (const auto& e : r->errors)
    ADD_FAILURE() << e.to_string();
  EXPECT_EQ(r->profile.total_bank_conflicts(), 0u) << r->profile.to_string();
  std::vector<float> got(size_t(m) * n);
  ASSERT_TRUE(dev.memcpy_to_host(got.data(), dc, got.size() * 4).ok());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double want = 0;
      for (int p = 0; p < k; ++p)
        want += a[size_t(i) * k + p] * b[size_t(p) * n + j];
      ASSERT_EQ(got[size_t(i) * n + j], want) << "(" << i << ", " << j << ")";
    }
}

} // namespace
} // namespace tessel::codegen::gpu
