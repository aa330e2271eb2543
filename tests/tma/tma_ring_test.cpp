// The TMA ring (issue 15; codegen/gpu/tma_ring.cpp): a K-loop matmul over two tensor descriptors
// compiled for sm_90a streams its boxes through S box slots and S mbarriers, read in place by
// wgmma. PTX (nvJitLink): the expected cp.async.bulk.tensor / mbarrier / wgmma counts, no
// cp.async, zero spills. The simulated sm_90a device (memcheck, racecheck, the mbarrier and wgmma
// checks on) runs it for f16 and bf16 at ragged shapes against an f64 reference, output poisoned
// first, with zero bank conflicts. (A wrong phase or a refill before the wgmma wait makes these
// runs fail: docs/gpu_codegen.md "The TMA ring" says how that was checked.)
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

// A tile of the K loop: BM x BN outputs, BK-wide K steps, on `warps` warps.
struct Tile {
  int bm = kBlock, bn = kBlock, bk = kBlock, warps = 4;
};
// ops::matmul's default f16 tile for M, N >= 128 (stdlib/matmul/config.cpp): b's 32 x 128 box has
// 256-byte rows, two 128-byte column blocks per slot; a's 128 x 32 box is one 64-byte span.
constexpr Tile kDefaultTile{128, 128, 32, 8};

// The swizzle whose span is a box's rows (16-bit elements), 128 for wider rows (column blocks).
tl::Swizzle swizzle_for(int cols) {
  return cols >= 64 ? tl::Swizzle::b128 : cols == 32 ? tl::Swizzle::b64 : tl::Swizzle::b32;
}

// c[M, N] = a[M, K] . b[K, N] (row-major, row strides lda / ldb / ldc), one BM x BN tile per
// program, A and B read through descriptors swizzled by their row bytes.
Kernel ring_matmul(Tile t = {}) {
  return tl::kernel(
      fmt::format("tma_ring_mm_{}x{}x{}", t.bm, t.bn, t.bk), "c, a, b, M, N, K, lda, ldb, ldc",
      [t](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Int M, tl::Int N, tl::Int K, tl::Int lda,
          tl::Int ldb, tl::Int ldc) {
        auto da =
            tl::make_tensor_descriptor(a, {M, K}, {lda, 1}, {t.bm, t.bk}, {swizzle_for(t.bk)});
        auto db =
            tl::make_tensor_descriptor(b, {K, N}, {ldb, 1}, {t.bk, t.bn}, {swizzle_for(t.bn)});
        auto m0 = tl::program_id(0) * t.bm, n0 = tl::program_id(1) * t.bn;
        tl::Tensor acc = tl::zeros({t.bm, t.bn}, tl::f32);
        tl::for_range(0, K, t.bk, [&](tl::Int k) {
          acc = tl::dot(da.load({m0, k}), db.load({k, n0}), acc);
        });
        auto rows = tl::expand_dims(m0 + tl::arange(0, t.bm), 1);
        auto cols = tl::expand_dims(n0 + tl::arange(0, t.bn), 0);
        tl::store(c + rows * ldc + cols, acc, (rows < M) & (cols < N));
      });
}

// The same tile loop on pointer tensors with masks at the edges: the cp.async form the pipeliner
// gives every other load (the figures' peer).
Kernel cp_async_matmul(Tile t = {}) {
  return tl::kernel(
      fmt::format("cp_async_mm_{}x{}x{}", t.bm, t.bn, t.bk), "c, a, b, M, N, K, lda, ldb, ldc",
      [t](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Int M, tl::Int N, tl::Int K, tl::Int lda,
          tl::Int ldb, tl::Int ldc) {
        auto rows = tl::expand_dims(tl::program_id(0) * t.bm + tl::arange(0, t.bm), 1);
        auto cols = tl::expand_dims(tl::program_id(1) * t.bn + tl::arange(0, t.bn), 0);
        auto rk = tl::arange(0, t.bk);
        tl::Tensor acc = tl::zeros({t.bm, t.bn}, tl::f32);
        tl::for_range(0, K, t.bk, [&](tl::Int k) {
          auto ka = tl::expand_dims(k + rk, 0), kb = tl::expand_dims(k + rk, 1);
          auto x = tl::load(a + (rows * lda + ka), (rows < M) & (ka < K), 0.0);
          auto y = tl::load(b + (kb * ldb + cols), (kb < K) & (cols < N), 0.0);
          acc = tl::dot(x, y, acc);
        });
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

LaunchOptions sim_options(int stages, int warps = 4) {
  LaunchOptions o = on(DeviceKind::sim);
  o.num_warps = warps;
  o.num_stages = stages;
  return o;
}

// `row_div`: what the row strides are known to divide by (the figures' peer needs 16 to stream
// its masked loads through cp.async at 16 bytes).
Signature signature_of(DType dtype, int row_div = 8) {
  using P = SignatureParam;
  return Signature{{P::pointer(DType::f32, 16, "c"), P::pointer(dtype, 16, "a"),
                    P::pointer(dtype, 16, "b"), P::integer(1, "M"), P::integer(1, "N"),
                    P::integer(1, "K"), P::integer(row_div, "lda"), P::integer(row_div, "ldb"),
                    P::integer(1, "ldc")}};
}

CompileResult compile_ring(DType dtype, int stages, const Kernel& k = ring_matmul(),
                           CacheMode cache = CacheMode::read_write, int row_div = 8,
                           int warps = 4) {
  CompileOptions o;
  o.num_warps = warps;
  o.num_stages = stages;
  o.cache = cache;
  return k.compile(Target::parse("sm_90a"), signature_of(dtype, row_div), o);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

// Runs the kernel on the simulated sm_90a device and compares with an f64 reference.
template <class T>
void run_and_check(const Shape& s, int stages, uint32_t seed, const Tile& t = {}) {
  const int64_t lda = round_up(s.K, 8), ldb = round_up(s.N, 8), ldc = s.N;
  std::vector<T> ha = random_matrix<T>(size_t(s.M * lda), seed);
  std::vector<T> hb = random_matrix<T>(size_t(s.K * ldb), seed + 1);
  Buffer<T> a(DeviceKind::sim, ha), b(DeviceKind::sim, hb);
  Buffer<float> c(DeviceKind::sim, std::vector<float>(size_t(s.M * ldc), kPoison));
  const runtime::simdev::BankTally before = runtime::simdev::bank_tally();
  ring_matmul(t).launch({cdiv(s.M, t.bm), cdiv(s.N, t.bn)}, sim_options(stages, t.warps), c.view(),
                        a.view(), b.view(), int(s.M), int(s.N), int(s.K), int(lda), int(ldb),
                        int(ldc));
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

// The ragged shapes (K of 1 or 2 tiles: the prologue alone fills the ring), and K loops
// of 13 and 10 tiles, which refill every slot and wrap the mbarrier phases several times.
const Shape kShapes[] = {{1, 1, 1},      {17, 33, 65},   {128, 256, 64},
                         {255, 129, 97}, {100, 72, 800}, {64, 64, 617}};

bool have_sim() { return runtime::simdev::available(); }

bool have_toolkit() {
  return std::filesystem::exists(codegen::gpu::libdevice_path()) &&
         std::filesystem::exists(codegen::gpu::nvjitlink_path());
}

#define TESSEL_REQUIRE_CUDA_TOOLKIT()                                                              \
  do {                                                                                             \
    if (!have_toolkit())                                                                           \
      GTEST_SKIP() << "needs libdevice and nvJitLink";                                             \
  } while (0)

TEST(TmaRingPtx, BoxesStreamThroughMbarriers) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (int stages : {2, 3, 4}) {
    SCOPED_TRACE(fmt::format("{} stages", stages));
    CompileResult r = compile_ring(DType::f16, stages);
    const codegen::gpu::PtxStats st = codegen::gpu::ptx_stats(r.ptx);
    EXPECT_EQ(r.tensor_maps, 2);
    // Two copies in the prologue's issue and two in the body's (the prologue's S - 1 stages are
    // unrolled: 2 (S - 1) + 2 in all).
    EXPECT_EQ(st.get("cp.async.bulk.tensor"), 2 * (stages - 1) + 2) << r.ptx;
    EXPECT_EQ(count(r.ptx, "mbarrier.init.shared::cta.b64"), size_t(stages));
    EXPECT_EQ(count(r.ptx, "mbarrier.arrive.expect_tx"), size_t(stages - 1 + 1));
    EXPECT_EQ(count(r.ptx, "mbarrier.try_wait.parity"), 1u) << "one wait, in the body";
    EXPECT_EQ(count(r.ptx, "cp.async.cg"), 0u) << "no cp.async ring";
    EXPECT_EQ(count(r.ptx, "wgmma.wait_group.sync.aligned 1;"), 1u);
    EXPECT_EQ(st.get("wgmma.mma_async"), 4) << "4 x m64n64k16 per 64-wide K step";
    EXPECT_EQ(count(r.ptx, "fence.proxy.async"), size_t(stages))
        << "one per mbarrier init: the boxes reach wgmma without a generic-proxy write";
    ASSERT_TRUE(r.resources.parsed) << r.info_log;
    EXPECT_EQ(r.resources.spill_stores, 0);
    EXPECT_EQ(r.resources.spill_loads, 0);
    EXPECT_EQ(st.get("local"), 0);
    std::printf("[ figures  ] TMA ring f16 64x64x64 4 warps sm_90a, %d stages: %d registers, "
                "%lld bytes shared, %lld PTX instructions\n",
                stages, r.resources.registers, static_cast<long long>(r.shared_bytes),
                static_cast<long long>(st.instructions));
  }
}

// ops::matmul's default tile: b's 32 x 128 box (256-byte rows) fills its slot as two 128-byte
// column blocks, so a stage is 3 copies (a's one, b's two) on one expect_tx of all 16384 bytes.
TEST(TmaRingPtx, ColumnBlocksFillOneSlot) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (int stages : {2, 3, 4}) {
    SCOPED_TRACE(fmt::format("{} stages", stages));
    CompileResult r = compile_ring(DType::f16, stages, ring_matmul(kDefaultTile),
                                   CacheMode::read_write, 8, kDefaultTile.warps);
    const codegen::gpu::PtxStats st = codegen::gpu::ptx_stats(r.ptx);
    EXPECT_EQ(r.tensor_maps, 2);
    EXPECT_EQ(st.get("cp.async.bulk.tensor"), 3 * (stages - 1) + 3) << r.ptx;
    EXPECT_EQ(count(r.ptx, "mbarrier.init.shared::cta.b64"), size_t(stages));
    EXPECT_EQ(count(r.ptx, "mbarrier.arrive.expect_tx"), size_t(stages)) << "one per stage";
    EXPECT_EQ(count(r.ptx, "mbarrier.try_wait.parity"), 1u);
    EXPECT_EQ(count(r.ptx, "cp.async.cg"), 0u) << "no cp.async ring";
    EXPECT_EQ(count(r.ptx, "wgmma.wait_group.sync.aligned 1;"), 1u);
    ASSERT_TRUE(r.resources.parsed) << r.info_log;
    EXPECT_EQ(r.resources.spill_stores, 0);
    EXPECT_EQ(r.resources.spill_loads, 0);
    EXPECT_EQ(st.get("local"), 0);
    std::printf("[ figures  ] TMA ring f16 128x128x32 8 warps sm_90a, %d stages: %d registers, "
                "%lld bytes shared, %lld PTX instructions, %lld wgmma\n",
                stages, r.resources.registers, static_cast<long long>(r.shared_bytes),
                static_cast<long long>(st.instructions),
                static_cast<long long>(st.get("wgmma.mma_async")));
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Figures for bench/RESULTS.md (no thresholds): the TMA ring against the cp.async form of the
// same 64 x 64 x 64 f16 tile loop, 3 stages, 4 warps, sm_90a through nvJitLink, row strides
// divisible by 16 (the cp.async form's 16-byte copies, one wgmma group in flight): PTX
// instructions, registers, shared bytes, and cold compile time (disk cache off), min and median of
// 5 runs each, interleaved in one process.
void figures_against_cp_async(const Tile& t) {
  const Kernel forms[2] = {ring_matmul(t), cp_async_matmul(t)};
  const char* names[2] = {"TMA ring", "cp.async"};
  std::vector<double> ms[2];
  CompileResult last[2];
  for (int run = 0; run < 5; ++run)
    for (int f = 0; f < 2; ++f) {
      last[f] = compile_ring(DType::f16, 3, forms[f], CacheMode::off, /*row_div=*/16, t.warps);
      ms[f].push_back(last[f].times.total_ms());
    }
  for (int f = 0; f < 2; ++f) {
    ASSERT_TRUE(last[f].resources.parsed) << last[f].info_log;
    EXPECT_EQ(last[f].resources.spill_stores, 0);
    const codegen::gpu::PtxStats st = codegen::gpu::ptx_stats(last[f].ptx);
    std::printf("[ figures  ] %dx%dx%d %d warps %s: %lld PTX instructions (%lld "
                "cp.async.bulk.tensor, %lld mbarrier, "
                "%lld cp.async, %lld bar.sync), %d registers, %lld bytes shared, compile %.1f ms "
                "min / %.1f ms median of 5\n",
                t.bm, t.bn, t.bk, t.warps, names[f], static_cast<long long>(st.instructions),
                static_cast<long long>(st.get("cp.async.bulk.tensor")),
                static_cast<long long>(st.get("mbarrier")),
                static_cast<long long>(st.get("cp.async")),
                static_cast<long long>(st.get("bar.sync")), last[f].resources.registers,
                static_cast<long long>(last[f].shared_bytes),
                *std::min_element(ms[f].begin(), ms[f].end()), median(ms[f]));
  }
}

// The same for ops::matmul's default 128 x 128 x 32 tile on 8 warps (b in two column blocks).
TEST(TmaRingPtx, FiguresAgainstTheCpAsyncForm) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const Tile& t : {Tile{}, kDefaultTile})
    figures_against_cp_async(t);
}

TEST(TmaRingSim, DefaultTileColumnBlocksAreExact) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  if (!have_sim())
    GTEST_SKIP() << "built without the simulator";
  setenv("TESSEL_SIM_TARGET", "sm_90a", 1);
  // Long K loops of 25 and 13 steps refill both column blocks of every slot many times.
  const Shape shapes[] = {{1, 1, 1}, {17, 33, 65}, {255, 129, 97}, {100, 72, 800}, {130, 256, 416}};
  for (int stages : {2, 3})
    for (const Shape& s : shapes) {
      SCOPED_TRACE(fmt::format("f16 {}x{}x{}, {} stages", s.M, s.N, s.K, stages));
      run_and_check<half>(s, stages, uint32_t(s.M * 3 + s.K), kDefaultTile);
    }
  for (const Shape& s : shapes) {
    SCOPED_TRACE(fmt::format("bf16 {}x{}x{}", s.M, s.N, s.K));
    run_and_check<bfloat16>(s, 3, uint32_t(s.N * 11 + s.K), kDefaultTile);
  }
  unsetenv("TESSEL_SIM_TARGET");
}

// out = in + (the column within the box), rows x cols (row strides ld), through descriptors of
// 32 x 128 f16 boxes with the 128-byte swizzle: 256-byte rows, two column blocks per box, on the
// plain TMA path (desc_load then desc_store, no loop to ring). The added column makes a wrong
// element order of the load visible (a plain copy would undo it in the store).
Kernel wide_box_copy() {
  return tl::kernel(
      "tma_wide_box_copy", "out, in, rows, cols, ld",
      [](tl::Ptr out, tl::Ptr in, tl::Int rows, tl::Int cols, tl::Int ld) {
        const tl::DescriptorOptions swizzled{tl::Swizzle::b128};
        auto src = tl::make_tensor_descriptor(in, {rows, cols}, {ld, 1}, {32, 128}, swizzled);
        auto dst = tl::make_tensor_descriptor(out, {rows, cols}, {ld, 1}, {32, 128}, swizzled);
        auto r0 = tl::program_id(0) * 32, c0 = tl::program_id(1) * 128;
        auto col = tl::expand_dims(tl::arange(0, 128), 0).to(DType::f16);
        dst.store({r0, c0}, src.load({r0, c0}) + col);
      });
}

// Boxes of column blocks where the ring does not run: ops::matmul's default tile at one stage
// ("no TMA ring: num_stages is 1": each desc_load copies its two blocks and reads its registers
// through box_offset's block order), and a wide-box load and store. Exact; the store leaves the
// rows' padding (poisoned) alone.
TEST(TmaRingSim, WideBoxesWithoutTheRing) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  if (!have_sim())
    GTEST_SKIP() << "built without the simulator";
  setenv("TESSEL_SIM_TARGET", "sm_90a", 1);
  for (const Shape& s : {Shape{17, 33, 65}, Shape{255, 129, 97}, Shape{64, 200, 96}}) {
    SCOPED_TRACE(fmt::format("1 stage {}x{}x{}", s.M, s.N, s.K));
    run_and_check<half>(s, 1, uint32_t(s.K * 13 + 1), kDefaultTile);
  }
  const int64_t rows = 45, cols = 200, ld = 208;
  std::vector<half> host(size_t(rows * ld));
  for (size_t i = 0; i < host.size(); ++i)
    host[i] = half(float(int(i % 1999) - 999) / 8.0f); // exact in f16, and plus 0..127
  const half poison(-77.0f);
  Buffer<half> in(DeviceKind::sim, host),
      out(DeviceKind::sim, std::vector<half>(host.size(), poison));
  wide_box_copy().launch({cdiv(rows, 32), cdiv(cols, 128)}, sim_options(1), out.view(), in.view(),
                         int(rows), int(cols), int(ld));
  const std::vector<half> got = out.read();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < ld; ++c) {
      const float want =
          c < cols ? float(host[size_t(r * ld + c)]) + float(c % 128) : float(poison); // exact
      ASSERT_EQ(float(got[size_t(r * ld + c)]), want) << "at (" << r << ", " << c << ")";
    }
  unsetenv("TESSEL_SIM_TARGET");
}

TEST(TmaRingSim, F16RaggedShapesAreExact) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  if (!have_sim())
    GTEST_SKIP() << "built without the simulator";
  setenv("TESSEL_SIM_TARGET", "sm_90a", 1);
  for (int stages : {2, 3})
    for (const Shape& s : kShapes) {
      SCOPED_TRACE(fmt::format("{}x{}x{}, {} stages", s.M, s.N, s.K, stages));
      run_and_check<half>(s, stages, uint32_t(s.M * 7 + s.K));
    }
  unsetenv("TESSEL_SIM_TARGET");
}

TEST(TmaRingSim, Bf16RaggedShapesAreExact) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  if (!have_sim())
    GTEST_SKIP() << "built without the simulator";
  setenv("TESSEL_SIM_TARGET", "sm_90a", 1);
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(fmt::format("{}x{}x{}", s.M, s.N, s.K));
    run_and_check<bfloat16>(s, 3, uint32_t(s.N * 5 + s.K));
  }
  unsetenv("TESSEL_SIM_TARGET");
}

} // namespace
} // namespace tessel::testing
