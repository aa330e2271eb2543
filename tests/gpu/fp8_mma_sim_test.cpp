// fp8 dots on tensor cores (sm_89+): samples/matmul with f8e4m3 / f8e5m2 operands in each of the
// four pairs mma.sync m16n8k32 takes, unpipelined and through a 3-stage cp.async ring, compiled
// for sm_89 and sm_90a, run in the PTX simulator (memcheck, racecheck and the cp.async check on,
// outputs poisoned first) at ragged shapes against an f64 reference of the decoded operands; the
// PTX through nvJitLink with zero spills and the mma count the tiling implies; and the error on a
// target before sm_89.
#include "gpu_test_util.h"
#include "ptx_count.h"

#include "support/expect_error.h"
#include "tessel/codegen/gpu.h"
#include "tessel/samples/samples.h"

#include <tessel/sim/sim.h>

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <random>

namespace tessel::codegen::gpu {
namespace {

using sim::KernelArg;

struct Pair {
  DType a, b;
};

std::string pair_name(const Pair& p) {
  return fmt::format("{}x{}", dtype_name(p.a), dtype_name(p.b));
}

struct Shape {
  int M, N, K;
  int BM = 32, BN = 32, BK = 32;
  // Leading dimensions padded to 16 elements (16 bytes of fp8), so that ragged rows stay aligned.
  int lda() const { return (K + 15) / 16 * 16; }
  int ldb() const { return (N + 15) / 16 * 16; }
  static int64_t div(int v) { return v % 16 == 0 ? 16 : 1; }
};

std::unique_ptr<ir::Module> trace(const Shape& s, Pair p) {
  std::vector<lang::ParamBinding> b(16);
  b[0] = {DType::f32, 16};
  b[1] = {p.a, 16};
  b[2] = {p.b, 16};
  // M, N, K, stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn
  const int ints[9] = {s.M, s.N, s.K, s.lda(), 1, s.ldb(), 1, s.ldb(), 1};
  for (int i = 0; i < 9; ++i) {
    b[3 + i] = {DType::i32, Shape::div(ints[i])};
    b[3 + i].equals_one = ints[i] == 1;
  }
  b[12].const_int = s.BM;
  b[13].const_int = s.BN;
  b[14].const_int = s.BK;
  b[15].const_int = 8; // GROUP_M
  auto module = lang::trace(samples::matmul().def(), b);
  ir::PassManager pm(/*verify_each=*/true);
  codegen::add_default_pipeline(pm);
  pm.run(*module);
  return module;
}

CompiledKernel build(const Shape& s, Pair p, int stages, const char* target,
                     Stage until = Stage::Ptx) {
  auto module = trace(s, p);
  CompileOptions o;
  o.num_stages = stages;
  return compile(*module->functions.front(), parse_target(target), o, until);
}

double decode(DType t, uint8_t bits) {
  return t == DType::f8e4m3 ? f8e4m3_to_float(bits) : f8e5m2_to_float(bits);
}

// Random fp8 codes of every finite value, subnormals included (NaN and inf left out: a single
// one would make whole rows of the reference NaN).
std::vector<uint8_t> codes(DType t, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& x : v) {
    do
      x = static_cast<uint8_t>(rng());
    while (!std::isfinite(decode(t, x)));
  }
  return v;
}

// Zero bank conflicts on both paths: the unpipelined (num_stages 1) one stages each thread's 8
// or 16 bytes with one st.shared.v2/v4.b32 (not pairs of u32 8 bytes apart, 2-way conflicts
// before), the cp.async ring writes whole 16-byte chunks; A is read with ldmatrix (b16 pairs),
// B (stored along N) with ldmatrix.trans and prmt in the paired column order (docs/gpu_codegen.md,
// "8-bit operands in shared memory").
void run_and_check(const CompiledKernel& k, const Shape& s, Pair p) {
  const auto a = codes(p.a, size_t(s.M) * s.lda(), 7 + s.K);
  const auto b = codes(p.b, size_t(s.K) * s.ldb(), 13 + s.N);
  sim::Device dev;
  auto upload = [&](const std::vector<uint8_t>& bytes) {
    auto ptr = dev.malloc(bytes.size() + 16);
    EXPECT_TRUE(ptr.ok());
    EXPECT_TRUE(dev.memcpy_to_device(*ptr, bytes.data(), bytes.size()).ok());
    return *ptr;
  };
  const uint64_t da = upload(a), db = upload(b);
  const uint64_t dc = upload(std::vector<uint8_t>(size_t(s.M) * s.ldb() * 4, 0xff)); // NaN
  const std::vector<KernelArg> args = {
      KernelArg::ptr(dc),      KernelArg::ptr(da),  KernelArg::ptr(db),      KernelArg::i32(s.M),
      KernelArg::i32(s.N),     KernelArg::i32(s.K), KernelArg::i32(s.lda()), KernelArg::i32(1),
      KernelArg::i32(s.ldb()), KernelArg::i32(1),   KernelArg::i32(s.ldb()), KernelArg::i32(1)};
  const uint32_t tiles = uint32_t((s.M + s.BM - 1) / s.BM) * uint32_t((s.N + s.BN - 1) / s.BN);
  auto r =
      dev.launch(k.ptx, k.name, sim::Dim3{tiles, 1, 1}, sim::Dim3{uint32_t(32 * k.num_warps), 1, 1},
                 static_cast<uint32_t>(k.shared_bytes), args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  for (const auto& e : r->errors)
    ADD_FAILURE() << e.to_string();
  EXPECT_EQ(r->profile.total_bank_conflicts(), 0u) << r->profile.to_string();
  std::vector<float> c(size_t(s.M) * s.ldb());
  ASSERT_TRUE(dev.memcpy_to_host(c.data(), dc, c.size() * 4).ok());
  for (int i = 0; i < s.M; ++i)
    for (int j = 0; j < s.N; ++j) {
      double want = 0, magnitude = 0;
      for (int kk = 0; kk < s.K; ++kk) {
        const double x = decode(p.a, a[size_t(i) * s.lda() + kk]);
        const double y = decode(p.b, b[size_t(kk) * s.ldb() + j]);
        want += x * y;
        magnitude += std::fabs(x * y);
      }
      // Products of fp8 values are exact in f32; f32 sums of K / 32 instructions' results.
      ASSERT_NEAR(c[size_t(i) * s.ldb() + j], want, 1e-6 * magnitude + 1e-30)
          << "c[" << i << "][" << j << "] with M=" << s.M << " N=" << s.N << " K=" << s.K;
    }
}

struct Case {
  Pair pair;
  int stages;
  const char* target;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return fmt::format("{}_stages{}_{}", pair_name(info.param.pair), info.param.stages,
                     info.param.target);
}

class Fp8Mma : public ::testing::TestWithParam<Case> {};

// Aligned (several K steps), ragged M and N with K = 80 (the last K tile masked: zero-filled), and
// 17 x 33 x 65 (every edge ragged, K one past two tiles).
TEST_P(Fp8Mma, MatchesTheReferenceInTheSimulator) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto [pair, stages, target] = GetParam();
  for (const Shape& s : {Shape{64, 64, 128}, Shape{50, 36, 80}, Shape{17, 33, 65}}) {
    SCOPED_TRACE(fmt::format("M={} N={} K={}", s.M, s.N, s.K));
    CompiledKernel k = build(s, pair, stages, target);
    PtxStats st = ptx_stats(k.ptx);
    EXPECT_GT(st.get("mma"), 0);
    EXPECT_EQ(st.get("fma"), 0) << "the fp8 dot should not fall back to FMA";
    EXPECT_NE(k.ptx.find(".version 8.4"), std::string::npos) << "fp8 mma needs PTX ISA 8.4";
    run_and_check(k, s, pair);
  }
}

// nvJitLink takes the PTX: per 64 x 64 x 32 tile on 4 warps (2 x 2 warps of 32 x 32, each 2 x 4
// m16n8k32 instructions, one along K) 8 mma.sync of the pair's types, no spills; on sm_90a one
// wgmma m64n64k32.
TEST_P(Fp8Mma, PtxCompilesWithoutSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto [pair, stages, target] = GetParam();
  CompiledKernel k = build(Shape{128, 128, 256, 64, 64, 32}, pair, stages, target, Stage::Cubin);
  const char* a_type = pair.a == DType::f8e4m3 ? "e4m3" : "e5m2";
  const char* b_type = pair.b == DType::f8e4m3 ? "e4m3" : "e5m2";
  if (std::string(target) == "sm_90a") {
    // The 64 x 64 x 32 tile on one warpgroup (session 7): one wgmma m64n64k32 of the pair's
    // types, a from the ring, b (stored along N) staged K-major; no mma.sync, no ldmatrix.
    const std::string instr =
        fmt::format("wgmma.mma_async.sync.aligned.m64n64k32.f32.{}.{}", a_type, b_type);
    EXPECT_NE(k.ptx.find(instr), std::string::npos) << instr;
    EXPECT_EQ(ptx_stats(k.ptx).get("mma"), 0);
    EXPECT_EQ(ptx_stats(k.ptx).get("ldmatrix"), 0);
    ASSERT_TRUE(k.resources.parsed) << k.info_log;
    EXPECT_EQ(k.resources.spill_stores, 0);
    EXPECT_EQ(k.resources.spill_loads, 0);
    return;
  }
  const std::string instr =
      fmt::format("mma.sync.aligned.m16n8k32.row.col.f32.{}.{}.f32", a_type, b_type);
  EXPECT_NE(k.ptx.find(instr), std::string::npos) << instr;
  EXPECT_EQ(ptx_stats(k.ptx).get("mma"), 8);
  if (stages > 1) {
    EXPECT_NE(k.ptx.find("cp.async.cg.shared.global"), std::string::npos);
  }
  ASSERT_TRUE(k.resources.parsed) << k.info_log;
  EXPECT_EQ(k.resources.spill_stores, 0);
  EXPECT_EQ(k.resources.spill_loads, 0);
  // Per warp (32 x 32 of the tile): A's 32 x 32 bytes as 2 ldmatrix.x4 (b16 pairs); B (stored
  // along N, read in the paired column order of byte_transpose.h) as 2 ldmatrix.x4.trans, one per
  // pair of n8 repetitions (32 k x 16 n), and 8 prmt (one per 32-bit register: 32 bytes per
  // thread), no byte loads.
  const PtxStats st = ptx_stats(k.ptx);
  EXPECT_EQ(st.get("ldmatrix"), 4);
  EXPECT_EQ(count_in_ptx(k.ptx, "ldmatrix.sync.aligned.m8n8.x4.shared.b16"), 2u);
  EXPECT_EQ(count_in_ptx(k.ptx, "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"), 2u);
  EXPECT_EQ(count_in_ptx(k.ptx, "ld.shared.u8"), 0u);
  EXPECT_EQ(st.get("prmt"), 8);
  std::printf("[ fp8 mma  ] %s stages %d %s: %d registers, %lld instructions, %lld ldmatrix, %zu "
              "ld.shared.u8, %lld prmt, %lld ld.shared (scalar)\n",
              pair_name(pair).c_str(), stages, target, k.resources.registers,
              static_cast<long long>(st.instructions), static_cast<long long>(st.get("ldmatrix")),
              count_in_ptx(k.ptx, "ld.shared.u8"), static_cast<long long>(st.get("prmt")),
              static_cast<long long>(st.get("ld.shared")));
}

constexpr Pair kE4{DType::f8e4m3, DType::f8e4m3}, kE5{DType::f8e5m2, DType::f8e5m2},
    kE4E5{DType::f8e4m3, DType::f8e5m2}, kE5E4{DType::f8e5m2, DType::f8e4m3};

INSTANTIATE_TEST_SUITE_P(Sim, Fp8Mma,
                         ::testing::Values(Case{kE4, 1, "sm_89"}, Case{kE4, 3, "sm_89"},
                                           Case{kE5, 3, "sm_89"}, Case{kE4E5, 3, "sm_89"},
                                           Case{kE5E4, 1, "sm_89"}, Case{kE4, 3, "sm_90a"},
                                           Case{kE4E5, 3, "sm_90a"}),
                         case_name);

// BLOCK_K 64 is two k-slices of m16n8k32: the k-slices pass (codegen/gpu/k_slices.cpp) reads
// slice 1 before slice 0's mma and carries the next stage's slice 0, reading A as ldmatrix byte
// pairs and B (stored along N) byte by byte, both at the slice's XORed addresses. 3 stages, one
// K tile, several, and ragged; the simulator's checks and the f64 reference as above.
TEST(Fp8MmaKSlices, TwoSlicesOfK32MatchTheReference) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const Pair& pair : {kE4, kE4E5})
    for (const Shape& s : {Shape{64, 64, 64, 32, 32, 64}, Shape{64, 64, 256, 32, 32, 64},
                           Shape{50, 36, 200, 32, 32, 64}}) {
      SCOPED_TRACE(fmt::format("{} M={} N={} K={}", pair_name(pair), s.M, s.N, s.K));
      ::setenv("TESSEL_DUMP", "pipeline", 1);
      ::testing::internal::CaptureStderr();
      CompiledKernel k = build(s, pair, 3, "sm_89");
      const std::string dumped = ::testing::internal::GetCapturedStderr();
      ::unsetenv("TESSEL_DUMP");
      EXPECT_NE(dumped.find("split into 2 dots of K = 32"), std::string::npos) << dumped;
      EXPECT_GT(ptx_stats(k.ptx).get("ldmatrix"), 0);
      run_and_check(k, s, pair);
    }
}

// Before sm_89 no instruction multiplies fp8: the error names the target, the pairs it has and
// the way out.
TEST(Fp8MmaErrors, DotOfFp8BeforeSm89) {
  auto module = trace(Shape{64, 64, 64}, kE4E5);
  testing::expect_error(
      [&] { compile(*module->functions.front(), parse_target("sm_80"), {}, Stage::Ptx); },
      {"kernel `matmul`", "dot of f8e4m3 x f8e5m2 tiles", "sm_89 or later", "the target is sm_80",
       "f16 x f16, bf16 x bf16", "convert the tiles to f16"});
}

} // namespace
} // namespace tessel::codegen::gpu
