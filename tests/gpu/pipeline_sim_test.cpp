// Software pipelining (codegen/gpu/pipeline.cpp, lower_async.cpp), executed: a matmul in the
// shape of samples/matmul compiled with num_stages 1..4, f32 and f16 operands, run in the PTX
// simulator with memcheck, racecheck and its cp.async-before-wait check on (any finding fails the
// test), against a plain C++ reference, for trip counts of 0, 1, 2, S-1, S and many iterations and
// ragged edges handled by masks, with zero bank conflicts. Outputs are poisoned (NaN) before the
// kernel writes them. Also:
// the PTX for sm_80 and sm_90a through nvJitLink (cp.async, wait_group, no spills), loops the pass
// leaves alone (same results, TESSEL_DUMP=pipeline says why), the per-loop tl::Stages override, and
// a ring that does not fit in shared memory.
#include "codegen/gpu/swizzle.h"
#include "gpu_test_util.h"
#include "support/expect_error.h"
#include "tessel/ir/parser.h"

#include <tessel/sim/sim.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

namespace tessel::codegen::gpu {
namespace {

namespace tl = tessel::lang;
using sim::KernelArg;

// samples/matmul with `stages` as the loop's own depth when given (0: the compile option).
Kernel matmul_kernel(int stages) {
  return tl::kernel("pipelined_matmul",
                    "c, a, b, M, N, K, stride_am, stride_bk, stride_cm, BM, BN, BK",
                    [stages](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Int M, tl::Int N, tl::Int K,
                             tl::Int stride_am, tl::Int stride_bk, tl::Int stride_cm,
                             tl::Const<int> BM, tl::Const<int> BN, tl::Const<int> BK) {
                      auto row = tl::expand_dims(tl::program_id(0) * BM + tl::arange(0, BM), 1);
                      auto col = tl::expand_dims(tl::program_id(1) * BN + tl::arange(0, BN), 0);
                      auto rk = tl::arange(0, BK);
                      auto acc = tl::zeros({BM, BN}, tl::f32);
                      auto body = [&](tl::Int k) {
                        auto ka = tl::expand_dims(k + rk, 0);
                        auto kb = tl::expand_dims(k + rk, 1);
                        auto a_tile = tl::load(a + row * stride_am + ka, (row < M) & (ka < K), 0.0);
                        auto b_tile = tl::load(b + kb * stride_bk + col, (kb < K) & (col < N), 0.0);
                        acc = tl::dot(a_tile, b_tile, acc);
                      };
                      if (stages > 0)
                        tl::for_range(0, K, BK, body, tl::Stages{stages});
                      else
                        tl::for_range(0, K, BK, body);
                      tl::store(c + row * stride_cm + col, acc, (row < M) & (col < N));
                    });
}

struct Shape {
  int M, N, K;
  int BM = 32, BN = 32, BK = 16;
  // Integer arguments divisible by 16 where the shape makes them so (what a launch specializes).
  int64_t div(int v) const { return v % 16 == 0 ? 16 : 1; }
};

// The kernel traced for `dtype` operands (c is always f32), with the specialization a launch
// with these arguments would get.
std::unique_ptr<ir::Module> trace(const Kernel& k, const Shape& s, DType dtype) {
  std::vector<lang::ParamBinding> b(12);
  b[0] = {DType::f32, 16};
  b[1] = {dtype, 16};
  b[2] = {dtype, 16};
  const int ints[6] = {s.M, s.N, s.K, s.K, s.N, s.N};
  for (int i = 0; i < 6; ++i)
    b[3 + i] = {DType::i32, s.div(ints[i])};
  b[9].const_int = s.BM;
  b[10].const_int = s.BN;
  b[11].const_int = s.BK;
  auto module = lang::trace(k.def(), b);
  ir::PassManager pm(/*verify_each=*/true);
  codegen::add_default_pipeline(pm);
  pm.run(*module);
  return module;
}

CompiledKernel build(const Kernel& k, const Shape& s, DType dtype, int num_stages,
                     const char* target = "sm_80", Stage until = Stage::Ptx) {
  auto module = trace(k, s, dtype);
  CompileOptions o;
  o.num_stages = num_stages;
  return compile(*module->functions.front(), parse_target(target), o, until);
}

std::vector<float> random_matrix(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(n);
  for (float& x : v)
    x = d(rng);
  return v;
}

// f32 rounded to tf32 (to nearest, ties away: cvt.rna.tf32.f32): f32 dots run on tensor cores.
double tf32(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  bits = (bits + 0x1000u) & 0xffffe000u;
  float r;
  std::memcpy(&r, &bits, 4);
  return r;
}

// Runs `k` on M x K and K x N inputs (rounded to f16 first for f16) and checks c against a
// double-precision reference of the rounded inputs (f32 ones rounded to tf32, as the tensor cores
// read them).
void run_and_check(const CompiledKernel& k, const Shape& s, DType dtype) {
  sim::Device dev;
  std::vector<float> a = random_matrix(size_t(s.M) * s.K, 11 + s.K),
                     b = random_matrix(size_t(s.K) * s.N, 29 + s.N);
  const size_t eb = dtype == DType::f16 ? 2 : 4;
  auto upload = [&](std::vector<float>& v) {
    std::vector<uint8_t> bytes(v.size() * eb + 16);
    for (size_t i = 0; i < v.size(); ++i) {
      if (eb == 2) {
        uint16_t h = float_to_half(v[i]);
        v[i] = half_to_float(h);
        std::memcpy(&bytes[i * 2], &h, 2);
      } else {
        std::memcpy(&bytes[i * 4], &v[i], 4);
      }
    }
    auto p = dev.malloc(bytes.size());
    EXPECT_TRUE(p.ok());
    EXPECT_TRUE(dev.memcpy_to_device(*p, bytes.data(), bytes.size()).ok());
    return *p;
  };
  uint64_t da = upload(a), db = upload(b);
  std::vector<float> poison(size_t(s.M) * s.N, std::nanf(""));
  auto dc = dev.malloc(poison.size() * 4);
  ASSERT_TRUE(dc.ok());
  ASSERT_TRUE(dev.memcpy_to_device(*dc, poison.data(), poison.size() * 4).ok());
  sim::Dim3 grid{uint32_t((s.M + s.BM - 1) / s.BM), uint32_t((s.N + s.BN - 1) / s.BN), 1};
  const std::vector<KernelArg> args = {
      KernelArg::ptr(*dc), KernelArg::ptr(da),  KernelArg::ptr(db),
      KernelArg::i32(s.M), KernelArg::i32(s.N), KernelArg::i32(s.K),
      KernelArg::i32(s.K), KernelArg::i32(s.N), KernelArg::i32(s.N)};
  auto r = dev.launch(k.ptx, k.name, grid, sim::Dim3{uint32_t(32 * k.num_warps), 1, 1},
                      static_cast<uint32_t>(k.shared_bytes), args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  for (const auto& e : r->errors)
    ADD_FAILURE() << e.to_string();
  // The ring's swizzle (choose_swizzle) keeps the cp.async writes and the reads conflict-free.
  EXPECT_EQ(r->profile.total_bank_conflicts(), 0u) << "M=" << s.M << " N=" << s.N << " K=" << s.K;
  std::vector<float> c(poison.size());
  ASSERT_TRUE(dev.memcpy_to_host(c.data(), *dc, c.size() * 4).ok());
  for (int i = 0; i < s.M; ++i)
    for (int j = 0; j < s.N; ++j) {
      double want = 0;
      for (int kk = 0; kk < s.K; ++kk)
        want += dtype == DType::f32 ? tf32(a[size_t(i) * s.K + kk]) * tf32(b[size_t(kk) * s.N + j])
                                    : double(a[size_t(i) * s.K + kk]) * b[size_t(kk) * s.N + j];
      ASSERT_NEAR(c[size_t(i) * s.N + j], want, 1e-4 * (1 + std::fabs(want)))
          << "c[" << i << "][" << j << "] with M=" << s.M << " N=" << s.N << " K=" << s.K;
    }
}

std::string stats_line(const CompiledKernel& k) {
  PtxStats st = ptx_stats(k.ptx);
  return "cp.async " + std::to_string(st.get("cp.async"));
}

bool has(const std::string& ptx, const std::string& what) {
  return ptx.find(what) != std::string::npos;
}

struct Case {
  DType dtype;
  int stages;
};

class PipelinedMatmul : public ::testing::TestWithParam<Case> {};

// Trip counts 0 (every prologue copy masked off), 1, 2, S-1, S and many (K = 16 * iterations),
// and ragged M and N.
TEST_P(PipelinedMatmul, TripCountsAgainstReference) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto [dtype, stages] = GetParam();
  Kernel k = matmul_kernel(0);
  for (int iterations : {0, 1, 2, std::max(1, stages - 1), stages, 9}) {
    Shape s{48, 40, 16 * iterations};
    SCOPED_TRACE("iterations " + std::to_string(iterations));
    CompiledKernel ck = build(k, s, dtype, stages);
    EXPECT_EQ(has(ck.ptx, "cp.async.wait_group"), stages > 1) << stats_line(ck);
    run_and_check(ck, s, dtype);
  }
}

// The last K tile is partly past K (BK = 32, K = 48): its copies zero-fill the masked elements.
TEST_P(PipelinedMatmul, RaggedLastTile) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto [dtype, stages] = GetParam();
  Shape s{33, 17, 48, 32, 32, 32};
  run_and_check(build(matmul_kernel(0), s, dtype, stages), s, dtype);
}

std::string name_of(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.dtype == DType::f16 ? "f16" : "f32") + "_stages" +
         std::to_string(info.param.stages);
}

INSTANTIATE_TEST_SUITE_P(Sim, PipelinedMatmul,
                         ::testing::Values(Case{DType::f32, 1}, Case{DType::f32, 2},
                                           Case{DType::f32, 3}, Case{DType::f32, 4},
                                           Case{DType::f16, 1}, Case{DType::f16, 2},
                                           Case{DType::f16, 3}, Case{DType::f16, 4}),
                         name_of);

// K not divisible by 16: the mask along K varies per element, so copies are 4 bytes (f32,
// cp.async.ca) and the loop is still pipelined.
TEST(PipelinedMatmulRaggedK, FourByteCopies) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  Shape s{32, 32, 37};
  CompiledKernel k = build(matmul_kernel(0), s, DType::f32, 3);
  EXPECT_TRUE(has(k.ptx, "cp.async.ca.shared.global")) << k.ptx;
  run_and_check(k, s, DType::f32);
}

// nvJitLink accepts the pipelined PTX for sm_80 and sm_90a: cp.async (16-byte .cg) and
// wait_group are there, and nothing spills.
TEST(PipelinedMatmulPtx, CompilesWithoutSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_80", "sm_90a"})
    for (DType dtype : {DType::f32, DType::f16}) {
      SCOPED_TRACE(target);
      // Tiles whose loads move 16 bytes per thread (4 f32 or 8 f16).
      Shape s{64, 64, 64, 32, 32, dtype == DType::f16 ? 32 : 16};
      CompiledKernel k = build(matmul_kernel(0), s, dtype, 3, target, Stage::Cubin);
      EXPECT_TRUE(has(k.ptx, "cp.async.cg.shared.global")) << stats_line(k);
      EXPECT_TRUE(has(k.ptx, "cp.async.commit_group"));
      EXPECT_TRUE(has(k.ptx, "cp.async.wait_group 1;"));
      EXPECT_TRUE(has(k.ptx, "cp.async.wait_group 0;"));
      ASSERT_TRUE(k.resources.parsed) << k.info_log;
      EXPECT_EQ(k.resources.spill_stores, 0);
      EXPECT_EQ(k.resources.spill_loads, 0);
    }
}

// Every warp-wide access to the rings (cp.async writes; ldmatrix or, for tf32, local_load reads),
// enumerated from the layouts the emission used, takes one wavefront per phase: the ring's swizzle
// (prepare-dot-operands retypes the rings) is conflict-free.
TEST(PipelinedMatmulPtx, RingAccessesAreConflictFree) {
  for (DType dtype : {DType::f32, DType::f16}) {
    Shape s{64, 64, 64, 32, 32, dtype == DType::f16 ? 32 : 16};
    CompiledKernel k = build(matmul_kernel(0), s, dtype, 3, "sm_80", Stage::Llvm);
    int copies = 0, reads = 0;
    for (const SharedAccess& a : k.shared_accesses) {
      const bool copy = a.what.rfind("cp.async", 0) == 0;
      const bool read = a.what.rfind("local_load", 0) == 0 || a.what.rfind("ldmatrix", 0) == 0;
      copies += copy;
      reads += read;
      if (copy || read) {
        EXPECT_EQ(detail::access_wavefronts(a), detail::access_phases(a)) << a.what;
      }
    }
    EXPECT_GT(reads, 0);
    EXPECT_GT(copies, 0);
  }
}

// tl::Stages{1} on the loop overrides num_stages = 3: no cp.async; Stages{4} overrides 1.
TEST(PipelinedMatmulOverride, LoopStagesWin) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  Shape s{32, 32, 64};
  CompiledKernel off = build(matmul_kernel(1), s, DType::f32, 3);
  EXPECT_FALSE(has(off.ptx, "cp.async")) << stats_line(off);
  run_and_check(off, s, DType::f32);
  CompiledKernel four = build(matmul_kernel(4), s, DType::f32, 1);
  EXPECT_TRUE(has(four.ptx, "cp.async.wait_group 2;")) << stats_line(four);
  run_and_check(four, s, DType::f32);
}

TEST(PipelinedMatmulOverride, StagesOutOfRangeIsAnError) {
  testing::expect_error(
      [] {
        trace(matmul_kernel(17), Shape{32, 32, 64}, DType::f32);
      },
      {"pipeline_sim_test.cpp",
       "tl::Stages{17} is out of range: a loop's pipelining depth is 1 (none) to 16 stages"});
}

// 4 stages of 128x128 f32 tiles of a and b (4 * 2 * 64 KiB) cannot fit: the error names the
// kernel, each ring with its stages and the limit.
TEST(PipelinedMatmulSharedMemory, RingThatDoesNotFitIsAnError) {
  testing::expect_error(
      [] {
        build(matmul_kernel(0), Shape{128, 128, 512, 128, 128, 128}, DType::f32, 4);
      },
      {"kernel `pipelined_matmul` needs", "bytes of shared memory but sm_80 allows at most",
       "a 4-stage pipeline ring of 65536 bytes per stage", "fewer num_stages"});
}

// Rings above 48 KiB: 4 stages of 64x32 and 32x64 f32 tiles (64 KiB). The kernel reports its
// dynamic shared memory (a CUDA launch opts in above 48 KiB, runtime/cuda_module.cpp), and runs.
TEST(PipelinedMatmulSharedMemory, RingsAbove48KiB) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  Shape s{64, 64, 160, 64, 64, 32};
  CompiledKernel k = build(matmul_kernel(0), s, DType::f32, 4);
  EXPECT_GT(k.shared_bytes, 48 * 1024);
  run_and_check(k, s, DType::f32);
}

// b read column-major (b[k + n*K]): its loads run along dimension 0, so its ring holds the tile
// with dimension 0 fastest (4-element runs stay together) and both loads are pipelined; the
// result is right, with no race or bank conflict. (This kernel also caught a race: a ring may
// reuse the bytes of the conversions before the loop, so the prologue starts with a barrier.)
TEST(PipelinedMatmulLayouts, ColumnMajorOperand) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  Kernel k = tl::kernel("matmul_bt", [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Int K) {
    auto row = tl::expand_dims(tl::arange(0, 32), 1);
    auto col = tl::expand_dims(tl::arange(0, 32), 0);
    auto rk = tl::arange(0, 16);
    auto acc = tl::zeros({32, 32}, tl::f32);
    tl::for_range(0, K, 16, [&](tl::Int kk) {
      auto a_tile = tl::load(a + row * K + tl::expand_dims(kk + rk, 0));
      auto b_tile = tl::load(b + tl::expand_dims(kk + rk, 1) + col * K);
      acc = tl::dot(a_tile, b_tile, acc);
    });
    tl::store(c + row * 32 + col, acc);
  });
  auto module = testing::trace_dsl(k);
  ::setenv("TESSEL_DUMP", "pipeline", 1);
  ::testing::internal::CaptureStderr();
  CompiledKernel ck = compile(*module->functions.front(), parse_target("sm_80"), {}, Stage::Ptx);
  std::string dumped = ::testing::internal::GetCapturedStderr();
  ::unsetenv("TESSEL_DUMP");
  EXPECT_NE(dumped.find("pipelined with 2 stages"), std::string::npos) << dumped;
  EXPECT_EQ(dumped.find("stays"), std::string::npos) << dumped;
  EXPECT_EQ(dumped.find("(4-byte copies)"), std::string::npos) << dumped;
  const int K = 48;
  sim::Device dev;
  std::vector<float> a = random_matrix(32 * K, 5), b = random_matrix(K * 32, 6),
                     poison(32 * 32, std::nanf(""));
  auto up = [&](const std::vector<float>& v) {
    auto p = dev.malloc(v.size() * 4);
    EXPECT_TRUE(dev.memcpy_to_device(*p, v.data(), v.size() * 4).ok());
    return *p;
  };
  uint64_t dc = up(poison), da = up(a), db = up(b);
  const std::vector<KernelArg> args = {KernelArg::ptr(dc), KernelArg::ptr(da), KernelArg::ptr(db),
                                       KernelArg::i32(K)};
  auto r = dev.launch(ck.ptx, ck.name, {1, 1, 1}, {128, 1, 1}, uint32_t(ck.shared_bytes), args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  for (const auto& e : r->errors)
    ADD_FAILURE() << e.to_string();
  EXPECT_EQ(r->profile.total_bank_conflicts(), 0u);
  std::vector<float> c(32 * 32);
  ASSERT_TRUE(dev.memcpy_to_host(c.data(), dc, c.size() * 4).ok());
  for (int i = 0; i < 32; ++i)
    for (int j = 0; j < 32; ++j) {
      double want = 0;
      for (int kk = 0; kk < K; ++kk)
        want += tf32(a[i * K + kk]) * tf32(b[j * K + kk]); // f32 dots run as tf32
      ASSERT_NEAR(c[i * 32 + j], want, 1e-4 * (1 + std::fabs(want))) << i << "," << j;
    }
}

// Hand-written IR the emission cannot honour is a located error naming the op, not wrong code:
// 4-element copies into a buffer whose layout scatters those elements.
TEST(PipelineEmissionErrors, CopyRunsMustStayTogether) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  auto m = ir::parse_module(
      "kernel @scatter(%arg0: ptr<f32> {div = 16}) {\n"
      "  %0 = splat %arg0 : tensor<128xptr<f32>, #blocked<register=[1,2], lane=[4,8,16,32,64], "
      "warp=[0,0]>>\n"
      "  %1 = local_alloc {offset = -1} : tensor<128xf32, #shared<register=[64,32,16,8,4,2,1]>>\n"
      "  async_copy %0, %1 {vec = 4}\n"
      "  return\n"
      "}\n",
      "scatter.tir");
  testing::expect_error(
      [&] { compile(*m->functions.front(), parse_target("sm_80"), {}, Stage::Ptx); },
      {"the NVPTX backend cannot lower `async_copy`: the buffer's layout does not keep each copy's "
       "elements together"});
}

// A loop whose load address depends on the previous iteration (a carried offset doubled each
// time) compiles unpipelined, gives the reference result, and TESSEL_DUMP=pipeline says why.
Kernel chained_kernel() {
  return tl::kernel("chained", [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n) {
    auto r = tl::expand_dims(tl::arange(0, 16), 1);
    auto c = tl::expand_dims(tl::arange(0, 16), 0);
    auto acc = tl::zeros({16, 16}, tl::f32);
    auto off = tl::zeros({16, 16}, tl::i32);
    tl::for_range(0, n, 1, [&](tl::Int) {
      auto x = tl::load(a + r * 16 + c + off);
      acc = tl::dot(x, tl::load(b + r * 16 + c + off), acc);
      off = (off + 1) * 2 - 2; // stays 0, but the pass cannot know
    });
    tl::store(out + r * 16 + c, acc);
  });
}

TEST(UnpipelinedLoops, DumpSaysWhyAndResultsStayRight) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  Kernel k = chained_kernel();
  auto module = testing::trace_dsl(k);
  ::setenv("TESSEL_DUMP", "pipeline", 1);
  ::testing::internal::CaptureStderr();
  CompiledKernel ck = compile(*module->functions.front(), parse_target("sm_80"), {}, Stage::Ptx);
  std::string dumped = ::testing::internal::GetCapturedStderr();
  ::unsetenv("TESSEL_DUMP");
  EXPECT_NE(dumped.find("not pipelined; the load at"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("stays: its address depends on the body's argument #"), std::string::npos)
      << dumped;
  EXPECT_FALSE(has(ck.ptx, "cp.async")) << dumped;
  sim::Device dev;
  std::vector<float> a = random_matrix(256, 3), b = random_matrix(256, 4),
                     poison(256, std::nanf(""));
  auto up = [&](const std::vector<float>& v) {
    auto p = dev.malloc(v.size() * 4);
    EXPECT_TRUE(dev.memcpy_to_device(*p, v.data(), v.size() * 4).ok());
    return *p;
  };
  uint64_t dout = up(poison), da = up(a), db = up(b);
  const std::vector<KernelArg> args = {KernelArg::ptr(dout), KernelArg::ptr(da), KernelArg::ptr(db),
                                       KernelArg::i32(3)};
  auto r = dev.launch(ck.ptx, ck.name, {1, 1, 1}, {128, 1, 1}, uint32_t(ck.shared_bytes), args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  for (const auto& e : r->errors)
    ADD_FAILURE() << e.to_string();
  std::vector<float> out(256);
  ASSERT_TRUE(dev.memcpy_to_host(out.data(), dout, 1024).ok());
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      double want = 0;
      for (int kk = 0; kk < 16; ++kk)
        want += tf32(a[i * 16 + kk]) * tf32(b[kk * 16 + j]); // f32 dots run as tf32
      ASSERT_NEAR(out[i * 16 + j], 3 * want, 1e-4 * (1 + std::fabs(want)));
    }
}

} // namespace
} // namespace tessel::codegen::gpu
