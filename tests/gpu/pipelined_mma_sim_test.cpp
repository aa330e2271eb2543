// The software pipeliner and tensor cores together: samples/matmul with f16, bf16 and f32 (as
// tf32) operands, num_stages 2, 3 and 4, through pipeline + prepare-dot-operands, whose rings are
// retyped to the swizzled #shared layout so that the cp.async copies fill the tiles ldmatrix (or,
// for tf32, ld.shared) reads: nothing is staged a second time. Run in the PTX simulator with
// memcheck, racecheck and the cp.async-before-wait check on (any finding fails), outputs poisoned
// (NaN) first, ragged M, N and K, against an f64 reference, with zero bank conflicts in the
// simulator's profile. Also the PTX for sm_80 and sm_90a through nvJitLink, and the planned IR.
#include "gpu_test_util.h"

#include "tessel/codegen/gpu.h"
#include "tessel/samples/samples.h"

#include <tessel/sim/sim.h>

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

namespace tessel::codegen::gpu {
namespace {

using sim::KernelArg;

struct Shape {
  int M, N, K;
  int BM = 32, BN = 32, BK = 32;
  int64_t div(int v) const { return v % 16 == 0 ? 16 : 1; }
  // Leading dimensions padded to 16 elements, so that ragged sizes keep the rows aligned.
  int lda() const { return (K + 15) / 16 * 16; }
  int ldb() const { return (N + 15) / 16 * 16; }
  // b stored column-major (element (k, n) at k + n * lda()): its copies run along K.
  bool b_cols = false;
  int stride_bk() const { return b_cols ? 1 : ldb(); }
  int stride_bn() const { return b_cols ? lda() : 1; }
  size_t b_elems() const { return b_cols ? size_t(N) * lda() : size_t(K) * ldb(); }
  size_t b_at(int k, int n) const {
    return b_cols ? size_t(k) + size_t(n) * lda() : size_t(k) * ldb() + n;
  }
  // The elements up to each operand's last one: allocated exactly, so that the simulator's
  // memcheck catches a copy that reads past K or N in the last row (the padding of the others
  // is inside the allocation).
  size_t a_used() const { return size_t(M - 1) * lda() + K; }
  size_t b_used() const { return b_at(K - 1, N - 1) + 1; }
};

// samples/matmul traced for `dtype` operands (c f32), row-major, unit inner strides, with the
// specialization a launch with these arguments would get.
std::unique_ptr<ir::Module> trace(const Shape& s, DType dtype) {
  std::vector<lang::ParamBinding> b(16);
  b[0] = {DType::f32, 16};
  b[1] = {dtype, 16};
  b[2] = {dtype, 16};
  // M, N, K, stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn
  const int ints[9] = {s.M, s.N, s.K, s.lda(), 1, s.stride_bk(), s.stride_bn(), s.ldb(), 1};
  for (int i = 0; i < 9; ++i) {
    b[3 + i] = {DType::i32, s.div(ints[i])};
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

CompiledKernel build(const Shape& s, DType dtype, int stages, const char* target = "sm_80",
                     Stage until = Stage::Ptx, int num_warps = 4) {
  auto module = trace(s, dtype);
  CompileOptions o;
  o.num_stages = stages;
  o.num_warps = num_warps;
  return compile(*module->functions.front(), parse_target(target), o, until);
}

// Multiples of 1/8 in [-2, 2] for the 16-bit types (exact, and so are their products and f32
// sums), any float for tf32.
std::vector<double> values(DType t, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<double> v(n);
  for (double& x : v)
    x = t == DType::f32 ? std::uniform_real_distribution<float>(-2, 2)(rng)
                        : (static_cast<int>(rng() % 33) - 16) / 8.0;
  return v;
}

std::vector<uint8_t> encode(DType t, const std::vector<double>& v) {
  const size_t eb = t == DType::f32 ? 4 : 2;
  std::vector<uint8_t> out(v.size() * eb);
  for (size_t i = 0; i < v.size(); ++i) {
    const float f = static_cast<float>(v[i]);
    const uint16_t h = t == DType::f16 ? float_to_half(f) : float_to_bfloat16(f);
    std::memcpy(&out[i * eb], eb == 4 ? static_cast<const void*>(&f) : &h, eb);
  }
  return out;
}

// f32 rounded to tf32: to nearest, ties away from zero (cvt.rna.tf32.f32).
double tf32(double x) {
  uint32_t bits = std::bit_cast<uint32_t>(static_cast<float>(x));
  return std::bit_cast<float>((bits + 0x1000u) & 0xffffe000u);
}

void run_and_check(const CompiledKernel& k, const Shape& s, DType dtype) {
  const auto a = values(dtype, size_t(s.M) * s.lda(), 7 + s.K);
  const auto b = values(dtype, s.b_elems(), 13 + s.N);
  sim::Device dev;
  auto upload = [&](const std::vector<uint8_t>& bytes, size_t used) {
    auto p = dev.malloc(used);
    EXPECT_TRUE(p.ok());
    EXPECT_TRUE(dev.memcpy_to_device(*p, bytes.data(), used).ok());
    return *p;
  };
  const size_t eb = dtype == DType::f32 ? 4 : 2;
  const uint64_t da = upload(encode(dtype, a), s.a_used() * eb),
                 db = upload(encode(dtype, b), s.b_used() * eb);
  const size_t c_bytes = size_t(s.M) * s.ldb() * 4;
  const uint64_t dc = upload(std::vector<uint8_t>(c_bytes, 0xff), c_bytes); // poison: NaN
  const std::vector<KernelArg> args = {KernelArg::ptr(dc),
                                       KernelArg::ptr(da),
                                       KernelArg::ptr(db),
                                       KernelArg::i32(s.M),
                                       KernelArg::i32(s.N),
                                       KernelArg::i32(s.K),
                                       KernelArg::i32(s.lda()),
                                       KernelArg::i32(1),
                                       KernelArg::i32(s.stride_bk()),
                                       KernelArg::i32(s.stride_bn()),
                                       KernelArg::i32(s.ldb()),
                                       KernelArg::i32(1)};
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
        double x = a[size_t(i) * s.lda() + kk], y = b[s.b_at(kk, j)];
        if (dtype == DType::f32) {
          x = tf32(x);
          y = tf32(y);
        }
        want += x * y;
        magnitude += std::fabs(x * y);
      }
      ASSERT_NEAR(c[size_t(i) * s.ldb() + j], want, 1e-5 * (1 + magnitude))
          << "c[" << i << "][" << j << "] with M=" << s.M << " N=" << s.N << " K=" << s.K;
    }
}

struct Case {
  DType dtype;
  int stages;
};

std::string name_of(const ::testing::TestParamInfo<Case>& info) {
  return fmt::format("{}_stages{}", dtype_name(info.param.dtype), info.param.stages);
}

class PipelinedMma : public ::testing::TestWithParam<Case> {};

// Aligned (16-byte copies, several iterations); ragged M and N with K = 80 (the last K tile half
// masked, zero-filled by cp.async; b's mask along N is a prefix of each 16-byte run, so both
// operands stream); and for f32 K = 72 too (a's runs along K partly masked at the edge).
TEST_P(PipelinedMma, MatchesTheReferenceInTheSimulator) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto [dtype, stages] = GetParam();
  std::vector<Shape> shapes = {Shape{64, 64, 128}, Shape{50, 36, 80}};
  if (dtype == DType::f32)
    shapes.push_back(Shape{50, 36, 72});
  for (const Shape& s : shapes) {
    SCOPED_TRACE(fmt::format("M={} N={} K={}", s.M, s.N, s.K));
    CompiledKernel k = build(s, dtype, stages);
    PtxStats st = ptx_stats(k.ptx);
    EXPECT_GT(st.get("mma"), 0);
    EXPECT_GT(st.get("cp.async"), 0);
    if (dtype != DType::f32) {
      EXPECT_GT(st.get("ldmatrix"), 0);
    }
    run_and_check(k, s, dtype);
  }
}

// nvJitLink takes the PTX for sm_80 and sm_90a: mma.sync (wgmma on sm_90a),
// ldmatrix, 16-byte cp.async and wait_group are there, and nothing spills.
TEST_P(PipelinedMma, PtxForSm80AndSm90a) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto [dtype, stages] = GetParam();
  for (const char* target : {"sm_80", "sm_90a"}) {
    SCOPED_TRACE(target);
    CompiledKernel k = build(Shape{128, 128, 256, 64, 64, 32}, dtype, stages, target, Stage::Cubin);
    // On sm_90a the dots run on wgmma (16-bit and, since session 7, f32 at its GPU default tf32),
    // reading the rings themselves where they are K-major or 16-bit (wgmma_ptx_test.cpp).
    const bool wgmma = std::string(target) == "sm_90a";
    EXPECT_NE(k.ptx.find(wgmma ? "wgmma.mma_async.sync.aligned" : "mma.sync.aligned"),
              std::string::npos);
    if (dtype != DType::f32 && !wgmma) {
      EXPECT_NE(k.ptx.find("ldmatrix.sync.aligned"), std::string::npos);
    }
    EXPECT_NE(k.ptx.find("cp.async.cg.shared.global"), std::string::npos);
    // With 3 or more stages a wgmma group stays in flight and the copies run S-2 ahead
    // (WgmmaInFlight below) -- not for f32: its b runs along N, and tf32 operands are read
    // K-major only, so b is staged K-major every iteration and its dot waited for at once.
    const int ahead = wgmma && dtype != DType::f32 && stages >= 3 ? stages - 2 : stages - 1;
    EXPECT_NE(k.ptx.find(fmt::format("cp.async.wait_group {};", ahead - 1)), std::string::npos);
    ASSERT_TRUE(k.resources.parsed) << k.info_log;
    EXPECT_EQ(k.resources.spill_stores, 0);
    EXPECT_EQ(k.resources.spill_loads, 0);
  }
}

void expect_one_ring_per_operand(std::unique_ptr<ir::Module> module, int stages);

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

// The kernel for `s` and what TESSEL_DUMP=pipeline printed while it was compiled.
CompiledKernel build_dumping(const Shape& s, DType dtype, int stages, std::string& dumped) {
  ::setenv("TESSEL_DUMP", "pipeline", 1);
  ::testing::internal::CaptureStderr();
  CompiledKernel k = build(s, dtype, stages);
  dumped = ::testing::internal::GetCapturedStderr();
  ::unsetenv("TESSEL_DUMP");
  return k;
}

// Ragged M, N and K, K not even a multiple of 8 (the last 16-byte run of each row is partly
// masked): both operands still stream at full width, as 16-byte cp.async whose src-size is the
// run's unmasked prefix (prefix_mask.h) -- the same copies as for an aligned problem, no 4- or
// 8-byte ones, nothing staged. Exact results; memcheck clean with the operands allocated up to
// their last element (a copy that read its whole 16 bytes at the edge would leave them);
// racecheck, the cp.async check and the bank profile clean.
TEST_P(PipelinedMma, RaggedEdgesStreamAtFullWidth) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto [dtype, stages] = GetParam();
  const std::string aligned = build(Shape{64, 64, 128}, dtype, stages).ptx;
  const size_t full = occurrences(aligned, "cp.async.cg.shared.global");
  EXPECT_GT(full, 0u);
  for (const Shape& s : {Shape{17, 33, 65}, Shape{255, 129, 97}}) {
    SCOPED_TRACE(fmt::format("M={} N={} K={}", s.M, s.N, s.K));
    std::string dumped;
    CompiledKernel k = build_dumping(s, dtype, stages, dumped);
    EXPECT_EQ(occurrences(dumped, "(16-byte copies)"), 2u) << dumped;
    EXPECT_EQ(dumped.find("stays"), std::string::npos) << dumped;
    EXPECT_EQ(occurrences(k.ptx, "cp.async.cg.shared.global"), full);
    EXPECT_EQ(occurrences(k.ptx, "cp.async.ca.shared.global"), 0u);
    expect_one_ring_per_operand(trace(s, dtype), stages); // nothing staged through registers
    run_and_check(k, s, dtype);
  }
}

// A mask true on a suffix of each run (k >= K0 + 1) is no prefix mask: cp.async cannot copy its
// runs whole, so that f16 load (2 bytes per access) is not pipelined and the dump says why; the
// unmasked b still is.
TEST(PipelinedMmaMasks, SuffixMaskIsNotCopiedWhole) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  namespace tl = tessel::lang;
  Kernel kernel = tl::kernel("suffix", [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Int K, tl::Int K0) {
    auto row = tl::expand_dims(tl::arange(0, 32), 1);
    auto col = tl::expand_dims(tl::arange(0, 32), 0);
    auto rk = tl::arange(0, 32);
    auto acc = tl::zeros({32, 32}, tl::f32);
    tl::for_range(0, K, 32, [&](tl::Int kk) {
      auto ka = tl::expand_dims(kk + rk, 0);
      auto a_tile = tl::load(a + row * K + ka, ka >= K0 + 1, 0.0);
      auto b_tile = tl::load(b + tl::expand_dims(kk + rk, 1) * 32 + col);
      acc = tl::dot(a_tile, b_tile, acc);
    });
    tl::store(c + row * 32 + col, acc.to(c.dtype()));
  });
  auto module = testing::trace_dsl(kernel, {}, DType::f16);
  ::setenv("TESSEL_DUMP", "pipeline", 1);
  ::testing::internal::CaptureStderr();
  compile(*module->functions.front(), parse_target("sm_80"), {}, Stage::Llvm);
  const std::string dumped = ::testing::internal::GetCapturedStderr();
  ::unsetenv("TESSEL_DUMP");
  EXPECT_NE(dumped.find("stays: its accesses move 2 bytes per thread"), std::string::npos)
      << dumped;
  EXPECT_EQ(occurrences(dumped, "(16-byte copies)"), 1u) << dumped;
}

// No second staging: after pipeline and prepare-dot-operands the kernel has one buffer per
// operand, the ring, in the swizzled layout, read straight into #dot_op, and no local_store.
TEST_P(PipelinedMma, OneRingPerOperandNoSecondStaging) {
  const auto [dtype, stages] = GetParam();
  Shape b_cols{64, 64, 96};
  b_cols.b_cols = true;
  for (const Shape& s : {Shape{64, 64, 128}, b_cols}) {
    SCOPED_TRACE(s.b_cols ? "b column-major" : "row-major");
    expect_one_ring_per_operand(trace(s, dtype), stages);
  }
}

void expect_one_ring_per_operand(std::unique_ptr<ir::Module> module, int stages) {
  const Target target = parse_target("sm_80");
  ir::PassManager pm(/*verify_each=*/true);
  add_gpu_pass(pm, "assign-layouts", target, 4);
  add_gpu_pass(pm, "pipeline", target, 4, stages);
  add_gpu_pass(pm, "prepare-dot-operands", target, 4);
  pm.run(*module);
  int rings = 0, stores = 0, dot_op_loads = 0;
  ir::walk(module->functions.front()->body, [&](const ir::Op& op) {
    if (op.opcode() == ir::Opcode::LocalAlloc) {
      EXPECT_EQ(op.attr("slots").kind, ir::Attr::Kind::Int);
      if (op.attr("slots").kind == ir::Attr::Kind::Int) {
        EXPECT_EQ(op.attr("slots").i, stages);
      }
      ++rings;
    }
    stores += op.opcode() == ir::Opcode::LocalStore;
    dot_op_loads += op.opcode() == ir::Opcode::LocalLoad &&
                    op.result()->type()->layout()->kind() == ir::LayoutKind::DotOperand;
  });
  EXPECT_EQ(rings, 2);
  EXPECT_EQ(stores, 0);
  EXPECT_EQ(dot_op_loads, 2);
}

// b column-major: its ring holds the tile with K fastest (the copies run along K), and
// prepare-dot-operands keeps that in the swizzle it picks; right results (16-bit read with
// ldmatrix), no race, no bank conflict.
TEST_P(PipelinedMma, ColumnMajorB) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto [dtype, stages] = GetParam();
  Shape s{64, 64, 96};
  s.b_cols = true;
  CompiledKernel k = build(s, dtype, stages);
  EXPECT_GT(ptx_stats(k.ptx).get("cp.async"), 0);
  if (dtype != DType::f32) {
    EXPECT_GT(ptx_stats(k.ptx).get("ldmatrix"), 0);
  }
  run_and_check(k, s, dtype);
}

INSTANTIATE_TEST_SUITE_P(Sim, PipelinedMma,
                         ::testing::Values(Case{DType::f16, 2}, Case{DType::f16, 3},
                                           Case{DType::f16, 4}, Case{DType::bf16, 2},
                                           Case{DType::bf16, 3}, Case{DType::bf16, 4},
                                           Case{DType::f32, 2}, Case{DType::f32, 3},
                                           Case{DType::f32, 4}),
                         name_of);

// sm_90a (issue 15): the 16-bit tiles on wgmma, reading the cp.async rings (or, where a mask
// keeps an operand from being pipelined, its staged buffer) through matrix descriptors; 4 warps
// are one warpgroup. Aligned; ragged M, N and K; a 128-row tile (two m64 per warpgroup) with
// BLOCK_K 16; B stored column-major (K-major for wgmma). The simulator's memcheck and racecheck,
// poisoned output, zero bank conflicts.
class PipelinedWgmma : public ::testing::TestWithParam<Case> {};

TEST_P(PipelinedWgmma, MatchesTheReferenceInTheSimulator) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto [dtype, stages] = GetParam();
  Shape b_cols{128, 64, 96, 64, 64, 32};
  b_cols.b_cols = true;
  for (const Shape& s : {Shape{128, 128, 128, 64, 64, 32}, Shape{100, 72, 80, 64, 64, 32},
                         Shape{130, 100, 48, 128, 64, 16}, b_cols}) {
    SCOPED_TRACE(fmt::format("M={} N={} K={} tile {}x{}x{}{}", s.M, s.N, s.K, s.BM, s.BN, s.BK,
                             s.b_cols ? " b column-major" : ""));
    CompiledKernel k = build(s, dtype, stages, "sm_90a");
    const PtxStats st = ptx_stats(k.ptx);
    EXPECT_GT(st.get("wgmma.mma_async"), 0);
    EXPECT_EQ(st.get("mma"), 0);
    EXPECT_EQ(st.get("ldmatrix"), 0);
    run_and_check(k, s, dtype);
  }
}

INSTANTIATE_TEST_SUITE_P(Sim, PipelinedWgmma,
                         ::testing::Values(Case{DType::f16, 1}, Case{DType::f16, 3},
                                           Case{DType::bf16, 2}, Case{DType::bf16, 4}),
                         name_of);

// One wgmma group in flight across the K loop (wgmma_in_flight.h): with 3 and 4 stages the dot
// waits with wgmma.wait_group 1 in the loop (and 0 after it), the copies run S-2 iterations
// ahead; K of 1, 2, 3 and 8 tiles (the loop shorter than, equal to and longer than the ring), B
// row- and column-major. The simulator checks that no accumulator register is read and no
// operand slot is overwritten while the wgmma that uses it is in flight, plus memcheck and
// racecheck; the result is exact against the f64 reference. 2 stages keep wait_group 0.
TEST(WgmmaInFlight, OneGroupStaysInFlightInTheSimulator) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (DType dtype : {DType::f16, DType::bf16})
    for (int stages : {2, 3, 4})
      for (int k : {32, 64, 96, 256})
        for (bool b_cols : {false, true}) {
          Shape s{128, 64, k, 64, 64, 32};
          s.b_cols = b_cols;
          SCOPED_TRACE(fmt::format("{} stages {} K={}{}", dtype_name(dtype), stages, k,
                                   b_cols ? " b column-major" : ""));
          CompiledKernel ck = build(s, dtype, stages, "sm_90a");
          const bool in_flight = stages >= 3;
          EXPECT_EQ(ck.ptx.find("wgmma.wait_group.sync.aligned 1;") != std::string::npos,
                    in_flight);
          EXPECT_NE(ck.ptx.find("wgmma.wait_group.sync.aligned 0;"), std::string::npos);
          EXPECT_EQ(ptx_stats(ck.ptx).get("wgmma.wait_group"), in_flight ? 2 : 1);
          EXPECT_NE(ck.ptx.find(fmt::format("cp.async.wait_group {};",
                                            in_flight ? stages - 3 : stages - 2)),
                    std::string::npos);
          run_and_check(ck, s, dtype);
        }
}

// Two warpgroups (8 warps, 128 x 128 tiles: each warpgroup its 64 rows) keep their groups in
// flight too; every warpgroup passes its own wait_group 1 before the barrier that precedes the
// refill of a slot both read. 2 x 2 tiles, 5 K steps.
TEST(WgmmaInFlight, TwoWarpgroupsInTheSimulator) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (DType dtype : {DType::f16, DType::bf16})
    for (int stages : {3, 4}) {
      const Shape s{256, 256, 160, 128, 128, 32};
      SCOPED_TRACE(fmt::format("{} stages {}", dtype_name(dtype), stages));
      CompiledKernel ck = build(s, dtype, stages, "sm_90a", Stage::Ptx, 8);
      EXPECT_NE(ck.ptx.find("wgmma.wait_group.sync.aligned 1;"), std::string::npos);
      run_and_check(ck, s, dtype);
    }
}

// nvJitLink takes the in-flight form for sm_90a without spills (registers printed).
TEST(WgmmaInFlight, PtxWithoutSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (int stages : {2, 3, 4}) {
    CompiledKernel k =
        build(Shape{128, 128, 256, 64, 64, 32}, DType::f16, stages, "sm_90a", Stage::Cubin);
    ASSERT_TRUE(k.resources.parsed) << k.info_log;
    EXPECT_EQ(k.resources.spill_stores, 0);
    EXPECT_EQ(k.resources.spill_loads, 0);
    EXPECT_EQ(ptx_stats(k.ptx).get("wgmma.wait_group"), stages >= 3 ? 2 : 1);
    std::printf("[ figures  ] matmul f16 64x64x32 4 warps sm_90a, %d stages: %d registers, %lld "
                "bytes shared\n",
                stages, k.resources.registers, static_cast<long long>(k.shared_bytes));
  }
}

// ---- register double-buffering of the next k-slice (codegen/gpu/k_slices.cpp) ----

// The lines of `ptx` that start (after indentation) with `what`, by line number.
std::vector<size_t> lines_with(const std::string& ptx, const std::string& what) {
  std::vector<size_t> at;
  size_t line = 0;
  for (size_t pos = 0; pos < ptx.size(); ++line) {
    size_t end = ptx.find('\n', pos);
    if (end == std::string::npos)
      end = ptx.size();
    const size_t first = ptx.find_first_not_of(" \t", pos);
    if (first < end && ptx.compare(first, what.size(), what) == 0)
      at.push_back(line);
    pos = end + 1;
  }
  return at;
}

size_t between(const std::vector<size_t>& lines, size_t from, size_t to) {
  return std::count_if(lines.begin(), lines.end(), [&](size_t l) { return l > from && l < to; });
}

// The sliced schedule in the PTX (64 x 64 x 32 tiles, 4 warps, 3 stages: two k-slices of 16, each
// 8 mma a warp): before the loop, the wait for stage 0 (wait_group 1) and slice 0's ldmatrix; in
// the loop, slice 1's ldmatrix before the first mma (none between the mmas of slice 0), then the
// next stage's wait_group 1 and bar.sync, its slice 0's ldmatrix, and only then the 8 mma of slice
// 1. Without the pass every ldmatrix of a tile comes before its mmas and no wait sits between two
// mmas, so these checks fail.
TEST(KSlices, PtxReadsTheNextSliceBeforeTheMma) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (DType dtype : {DType::f16, DType::bf16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const std::string ptx = build(Shape{64, 64, 128, 64, 64, 32}, dtype, 3).ptx;
    const std::vector<size_t> ld = lines_with(ptx, "ldmatrix"), mma = lines_with(ptx, "mma.sync"),
                              wait = lines_with(ptx, "cp.async.wait_group 1;"),
                              bar = lines_with(ptx, "bar.sync");
    ASSERT_EQ(mma.size(), 16u) << ptx;
    ASSERT_EQ(wait.size(), 2u) << ptx; // before the loop and in it (after it: wait_group 0)
    const size_t first_mma = mma.front(), last_mma = mma.back(), in_loop_wait = wait[1];
    EXPECT_LT(wait[0], first_mma);
    EXPECT_GT(in_loop_wait, first_mma);
    EXPECT_LT(in_loop_wait, last_mma);
    const size_t slice0 = between(ld, in_loop_wait, last_mma); // the carried slice's reads
    EXPECT_GT(slice0, 0u);
    EXPECT_EQ(ld.size(), 3 * slice0) << "slice 0 before the loop, slice 1, the next slice 0";
    EXPECT_EQ(between(ld, wait[0], first_mma), 2 * slice0) << "slice 0, then slice 1";
    EXPECT_EQ(between(ld, first_mma, in_loop_wait), 0u);
    EXPECT_EQ(between(mma, first_mma - 1, in_loop_wait), 8u) << "slice 0's mma before the wait";
    EXPECT_EQ(between(bar, in_loop_wait, last_mma), 1u) << "the stage's barrier";
    EXPECT_EQ(between(mma, in_loop_wait, last_mma + 1), 8u);
    // slice 1's mma follow the next slice 0's reads
    const size_t last_ld = *std::prev(std::upper_bound(ld.begin(), ld.end(), last_mma));
    EXPECT_EQ(between(mma, in_loop_wait, last_ld), 0u);
  }
}

// Slices of every instruction's K, in the simulator against the f64 reference (memcheck,
// racecheck, the cp.async check, poisoned output, zero bank conflicts): f16 and bf16 with
// BLOCK_K 64 (4 slices), f32 as tf32 with BLOCK_K 32 (4 slices of k8, read with ld.shared), 2, 3
// and 4 stages; K of one tile (the carried slice of the last iteration is the zero-filled slot of
// an iteration that does not exist), fewer tiles than stages, many, and ragged. A wrong carried
// slice (the wrong slot, the wrong offsets, the wait or barrier after the read) changes the sums
// or is a race the simulator reports.
TEST(KSlices, MatchTheReferenceInTheSimulator) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (DType dtype : {DType::f16, DType::bf16, DType::f32})
    for (int stages : {2, 3, 4}) {
      const int bk = dtype == DType::f32 ? 32 : 64;
      for (const Shape& s : {Shape{64, 64, bk, 32, 32, bk}, Shape{64, 64, 2 * bk, 32, 32, bk},
                             Shape{50, 36, 7 * bk + 5, 32, 32, bk}}) {
        SCOPED_TRACE(fmt::format("{} stages {} M={} N={} K={} BK={}", dtype_name(dtype), stages,
                                 s.M, s.N, s.K, bk));
        std::string dumped;
        CompiledKernel k = build_dumping(s, dtype, stages, dumped);
        EXPECT_NE(dumped.find("split into 4 dots"), std::string::npos) << dumped;
        run_and_check(k, s, dtype);
      }
    }
}

// K = BLOCK_K = 16 is one k-slice: carrying it would double the fragment registers, so the loop
// keeps the old form (and the dump says why); the results are right all the same.
TEST(KSlices, OneSliceKeepsTheOldForm) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const Shape s{64, 64, 64, 32, 32, 16};
  std::string dumped;
  CompiledKernel k = build_dumping(s, DType::f16, 3, dumped);
  EXPECT_NE(dumped.find("not split: K = 16 is one k-slice"), std::string::npos) << dumped;
  run_and_check(k, s, DType::f16);
}

} // namespace
} // namespace tessel::codegen::gpu
