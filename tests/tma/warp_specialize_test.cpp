// Warp specialization of the TMA ring (issue 15; codegen/gpu/warp_specialize.cpp): the K-loop
// matmul over two tensor descriptors, compiled for sm_90a with TESSEL_WARP_SPECIALIZE=1, gets a
// producer warpgroup (warps 4..7, setmaxnreg.dec 40, one thread issues the copies after waiting
// empty[s]) on top of the 4 consumer warps (setmaxnreg.inc 232, wait full[s], wgmma, one arrive
// per warp on empty[(it-1)%S]), no bar.sync between them in the loop. PTX through nvJitLink: the
// expected counts, zero spills. The simulated sm_90a device (memcheck, racecheck, the mbarrier and
// wgmma checks on) runs it for f16 and bf16 at ragged shapes, K loops of 10 and 13 tiles
// included, against an f64 reference, output poisoned, zero bank conflicts. The bad-roles rule
// throws tessel::Error naming it. (Dropping the producer's empty wait makes the simulator report
// an mbarrier hang, releasing the slot still read by the in-flight wgmma group a racecheck
// hazard: docs/gpu_codegen.md "Warp specialization" says how that was checked.)
#include "codegen/gpu/warp_specialize.h"
#include "device/backend_buffers.h"
#include "runtime/sim_device.h"
#include "tessel/codegen/gpu.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace tessel::testing {
namespace {

namespace tl = tessel::lang;

constexpr int kBlock = 64; // BM = BN = BK: 64 f16 are one 128-byte swizzle span
constexpr float kPoison = -777.0f;

// The switch is not in the kernel cache key yet: this binary keeps its kernels in a cache
// directory of its own, so no other test reads a specialized kernel (or this one a plain ring).
class OwnCacheAndSwitch : public ::testing::Environment {
public:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / fmt::format("tessel_ws_{}", ::getpid());
    std::filesystem::create_directories(dir_);
    setenv("TESSEL_CACHE_DIR", dir_.c_str(), 1);
    setenv("TESSEL_WARP_SPECIALIZE", "1", 1);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

private:
  std::filesystem::path dir_;
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new OwnCacheAndSwitch);

// c[M, N] = a[M, K] . b[K, N] (row-major, row strides lda / ldb / ldc), one 64x64 tile per
// program, a and b read through 128-byte-swizzled descriptors.
Kernel ws_matmul() {
  return tl::kernel(
      "ws_mm", "c, a, b, M, N, K, lda, ldb, ldc",
      [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Int M, tl::Int N, tl::Int K, tl::Int lda, tl::Int ldb,
         tl::Int ldc) {
        const tl::DescriptorOptions swizzled{tl::Swizzle::b128};
        auto da = tl::make_tensor_descriptor(a, {M, K}, {lda, 1}, {kBlock, kBlock}, swizzled);
        auto db = tl::make_tensor_descriptor(b, {K, N}, {ldb, 1}, {kBlock, kBlock}, swizzled);
        auto m0 = tl::program_id(0) * kBlock, n0 = tl::program_id(1) * kBlock;
        tl::Tensor acc = tl::zeros({kBlock, kBlock}, tl::f32);
        tl::for_range(0, K, kBlock, [&](tl::Int k) {
          acc = tl::dot(da.load({m0, k}), db.load({k, n0}), acc);
        });
        auto rows = tl::expand_dims(m0 + tl::arange(0, kBlock), 1);
        auto cols = tl::expand_dims(n0 + tl::arange(0, kBlock), 0);
        tl::store(c + rows * ldc + cols, acc, (rows < M) & (cols < N));
      });
}

struct Shape {
  int64_t M, N, K;
};

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

Signature signature_of(DType dtype) {
  using P = SignatureParam;
  return Signature{{P::pointer(DType::f32, 16, "c"), P::pointer(dtype, 16, "a"),
                    P::pointer(dtype, 16, "b"), P::integer(1, "M"), P::integer(1, "N"),
                    P::integer(1, "K"), P::integer(8, "lda"), P::integer(8, "ldb"),
                    P::integer(1, "ldc")}};
}

CompileResult compile_ws(int stages) {
  CompileOptions o;
  o.num_warps = 4;
  o.num_stages = stages;
  o.cache = CacheMode::off;
  return ws_matmul().compile(Target::parse("sm_90a"), signature_of(DType::f16), o);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

bool have_toolkit() {
  return std::filesystem::exists(codegen::gpu::libdevice_path()) &&
         std::filesystem::exists(codegen::gpu::nvjitlink_path());
}

#define TESSEL_REQUIRE_CUDA_TOOLKIT()                                                              \
  do {                                                                                             \
    if (!have_toolkit())                                                                           \
      GTEST_SKIP() << "needs libdevice and nvJitLink";                                             \
  } while (0)

// The PTX between the consumer loop's full-barrier wait and the end of the kernel: the text from
// the last try_wait (the consumers'; the producer's comes first) on.
std::string consumer_part(const std::string& ptx) {
  const size_t at = ptx.rfind("mbarrier.try_wait.parity");
  return at == std::string::npos ? std::string() : ptx.substr(at);
}

TEST(WarpSpecializePtx, ProducerAndConsumerRoles) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (int stages : {2, 3, 4}) {
    SCOPED_TRACE(fmt::format("{} stages", stages));
    CompileResult r = compile_ws(stages);
    const codegen::gpu::PtxStats st = codegen::gpu::ptx_stats(r.ptx);
    EXPECT_EQ(r.num_warps, 8) << "4 consumer warps and the producer warpgroup";
    EXPECT_EQ(count(r.ptx, ".maxntid 256"), 1u) << r.ptx;
    EXPECT_EQ(count(r.ptx, "setmaxnreg.dec.sync.aligned.u32 40;"), 1u);
    EXPECT_EQ(count(r.ptx, "setmaxnreg.inc.sync.aligned.u32 232;"), 1u);
    // The producer loop issues every stage (no prologue copies): one expect_tx, two copies.
    EXPECT_EQ(st.get("cp.async.bulk.tensor"), 2) << r.ptx;
    EXPECT_EQ(count(r.ptx, "mbarrier.arrive.expect_tx"), 1u);
    EXPECT_EQ(count(r.ptx, "mbarrier.init.shared::cta.b64"), size_t(2 * stages)) << "full, empty";
    EXPECT_EQ(count(r.ptx, "mbarrier.arrive.shared::cta.b64"), 1u) << "the consumers' release";
    EXPECT_EQ(count(r.ptx, "mbarrier.try_wait.parity"), 2u) << "empty (producer), full";
    EXPECT_EQ(count(r.ptx, "exit;"), 1u) << "the producer leaves after its loop";
    // No bar.sync from the consumers' wait to their release: the loop meets only at mbarriers.
    const std::string loop = consumer_part(r.ptx);
    const size_t release = loop.find("mbarrier.arrive.shared::cta.b64");
    ASSERT_NE(release, std::string::npos);
    EXPECT_EQ(count(loop.substr(0, release), "bar.sync"), 0u) << loop.substr(0, release);
    EXPECT_EQ(count(r.ptx, "wgmma.wait_group.sync.aligned 1;"), 1u);
    EXPECT_EQ(st.get("wgmma.mma_async"), 4) << "4 x m64n64k16 per 64-wide K step";
    ASSERT_TRUE(r.resources.parsed) << r.info_log;
    EXPECT_EQ(r.resources.spill_stores, 0);
    EXPECT_EQ(r.resources.spill_loads, 0);
    EXPECT_EQ(st.get("local"), 0);
    std::printf("[ figures  ] warp-specialized TMA ring f16 64x64x64, 4 + 4 warps sm_90a, %d "
                "stages: %d registers (ptxas, whole kernel; setmaxnreg 40 producer / 232 "
                "consumers), %lld bytes shared, %lld PTX instructions, %lld bar.sync, compile "
                "%.1f ms\n",
                stages, r.resources.registers, static_cast<long long>(r.shared_bytes),
                static_cast<long long>(st.instructions), static_cast<long long>(st.get("bar.sync")),
                r.times.total_ms());
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Figures for bench/RESULTS.md (no thresholds): the warp-specialized ring against the plain TMA
// ring of the same kernel (the switch toggled in one process, disk cache off), 3 stages, f16,
// 64 x 64 x 64 tiles, sm_90a through nvJitLink: PTX instructions, bar.sync, registers, shared
// bytes, cold compile time, min and median of 5 interleaved runs.
TEST(WarpSpecializePtx, FiguresAgainstThePlainRing) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const char* names[2] = {"plain TMA ring", "warp-specialized"};
  std::vector<double> ms[2];
  CompileResult last[2];
  for (int run = 0; run < 5; ++run)
    for (int f = 0; f < 2; ++f) {
      setenv("TESSEL_WARP_SPECIALIZE", f ? "1" : "0", 1);
      last[f] = compile_ws(3);
      ms[f].push_back(last[f].times.total_ms());
    }
  setenv("TESSEL_WARP_SPECIALIZE", "1", 1);
  EXPECT_EQ(last[0].num_warps, 4);
  EXPECT_EQ(last[1].num_warps, 8);
  for (int f = 0; f < 2; ++f) {
    ASSERT_TRUE(last[f].resources.parsed) << last[f].info_log;
    EXPECT_EQ(last[f].resources.spill_stores, 0);
    const codegen::gpu::PtxStats st = codegen::gpu::ptx_stats(last[f].ptx);
    std::printf("[ figures  ] %s: %d warps, %lld PTX instructions (%lld mbarrier, %lld bar.sync), "
                "%d registers, %lld bytes shared, compile %.1f ms min / %.1f ms median of 5\n",
                names[f], last[f].num_warps, static_cast<long long>(st.instructions),
                static_cast<long long>(st.get("mbarrier")),
                static_cast<long long>(st.get("bar.sync")), last[f].resources.registers,
                static_cast<long long>(last[f].shared_bytes),
                *std::min_element(ms[f].begin(), ms[f].end()), median(ms[f]));
  }
}

// Runs the kernel on the simulated sm_90a device and compares with an f64 reference.
template <class T> void run_and_check(const Shape& s, int stages, uint32_t seed) {
  const int64_t lda = round_up(s.K, 8), ldb = round_up(s.N, 8), ldc = s.N;
  std::vector<T> ha = random_matrix<T>(size_t(s.M * lda), seed);
  std::vector<T> hb = random_matrix<T>(size_t(s.K * ldb), seed + 1);
  Buffer<T> a(DeviceKind::sim, ha), b(DeviceKind::sim, hb);
  Buffer<float> c(DeviceKind::sim, std::vector<float>(size_t(s.M * ldc), kPoison));
  const runtime::simdev::BankTally before = runtime::simdev::bank_tally();
  LaunchOptions o = on(DeviceKind::sim);
  o.num_warps = 4;
  o.num_stages = stages;
  ws_matmul().launch({cdiv(s.M, kBlock), cdiv(s.N, kBlock)}, o, c.view(), a.view(), b.view(),
                     int(s.M), int(s.N), int(s.K), int(lda), int(ldb), int(ldc));
  EXPECT_EQ(runtime::simdev::bank_tally().conflicts, before.conflicts);
  const std::vector<float> got = c.read();
  for (int64_t i = 0; i < s.M; ++i)
    for (int64_t j = 0; j < s.N; ++j) {
      double want = 0, scale = 0;
      for (int64_t k = 0; k < s.K; ++k) {
        const double p = double(float(ha[size_t(i * lda + k)])) * float(hb[size_t(k * ldb + j)]);
        want += p;
        scale += std::abs(p);
      }
      // Products of f16/bf16 are exact in f32; the f32 sum of K terms rounds by K ulps at most.
      const double tol = 1e-6 * scale * double(s.K) + 1e-30;
      ASSERT_NEAR(got[size_t(i * ldc + j)], want, tol) << "at (" << i << ", " << j << ")";
    }
}

// Ragged shapes (K of 1 or 2 tiles: the producer never waits on empty[s]), and K loops of 13
// and 10 tiles, which reuse every slot and wrap both rings' phases several times.
const Shape kShapes[] = {{1, 1, 1},      {17, 33, 65},   {128, 256, 64},
                         {255, 129, 97}, {100, 72, 800}, {64, 64, 617}};

TEST(WarpSpecializeSim, F16RaggedShapesAreExact) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  if (!runtime::simdev::available())
    GTEST_SKIP() << "built without the simulator";
  setenv("TESSEL_SIM_TARGET", "sm_90a", 1);
  for (int stages : {2, 3, 4})
    for (const Shape& s : kShapes) {
      SCOPED_TRACE(fmt::format("{}x{}x{}, {} stages", s.M, s.N, s.K, stages));
      run_and_check<half>(s, stages, uint32_t(s.M * 7 + s.K));
    }
  unsetenv("TESSEL_SIM_TARGET");
}

TEST(WarpSpecializeSim, Bf16RaggedShapesAreExact) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  if (!runtime::simdev::available())
    GTEST_SKIP() << "built without the simulator";
  setenv("TESSEL_SIM_TARGET", "sm_90a", 1);
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(fmt::format("{}x{}x{}", s.M, s.N, s.K));
    run_and_check<bfloat16>(s, 3, uint32_t(s.N * 5 + s.K));
  }
  unsetenv("TESSEL_SIM_TARGET");
}

// Warp roles that do not partition the CTA's warps: the rule is named.
TEST(WarpSpecializeErrors, RolesMustPartitionTheWarps) {
  using codegen::gpu::check_warp_roles;
  using codegen::gpu::WarpRoles;
  auto message = [](WarpRoles roles, int num_warps) {
    try {
      check_warp_roles(roles, num_warps, "kernel `mm`");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message({4, 4}, 4), "");
  EXPECT_EQ(message({4, 8}, 8), "");
  EXPECT_NE(message({2, 4}, 4).find("each role must be whole warpgroups of 4 warps"),
            std::string::npos);
  EXPECT_NE(message({4, 6}, 6).find("whole warpgroups"), std::string::npos);
  EXPECT_NE(message({8, 4}, 4).find("exactly one producer warpgroup"), std::string::npos);
  EXPECT_NE(message({4, 0}, 0).find("at least one consumer warpgroup"), std::string::npos);
  const std::string m = message({4, 4}, 8);
  EXPECT_NE(m.find("kernel `mm`: warp roles of 4 producer and 4 consumer warps do not partition "
                   "the warps: the consumers must be the 8 warps"),
            std::string::npos)
      << m;
}

TEST(WarpSpecializeErrors, RegistersPerRoleFitTheFile) {
  using codegen::gpu::role_registers;
  EXPECT_EQ(role_registers({4, 4}).producer, 40);
  EXPECT_EQ(role_registers({4, 4}).consumer, 232);
  EXPECT_EQ(role_registers({4, 8}).consumer, 232); // CUTLASS's cooperative 1 + 2 warpgroups
  // 4 consumer warpgroups: (65536 - 128 x 40) / 512 = 118, rounded down to a multiple of 8.
  EXPECT_EQ(role_registers({4, 16}).consumer, 112);
}

} // namespace
} // namespace tessel::testing
