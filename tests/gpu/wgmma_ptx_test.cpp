// The matmul sample on sm_90a through nvJitLink with tl::dot on wgmma (issue 15): for f16 and bf16
// operands and several tiles, the PTX holds the wgmma.mma_async instructions the shapes call for
// (BLOCK_K / 16 per repetition of the instruction over a warpgroup's tile, once in the K loop),
// one wgmma.fence / commit_group / wait_group per dot, fence.proxy.async before the barriers that
// hand the operands over, no mma.sync and no ldmatrix for the dot; nothing spills and there is no
// local memory. sm_80 keeps mma.sync for the same kernels, and tiles wgmma cannot take stay on
// mma.sync on sm_90a.
#include "gpu_test_util.h"

#include <fmt/format.h>

#include <cstdio>

namespace tessel::codegen::gpu {
namespace {

using testing::compile_sample;

struct Tile {
  const char* dtype;
  int bm, bn, bk, warps;
  int wgmma; // static wgmma.mma_async instructions expected
};

class WgmmaMatmulSample : public ::testing::TestWithParam<Tile> {};

TEST_P(WgmmaMatmulSample, CompilesToWgmmaWithoutSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const Tile t = GetParam();
  const std::vector<std::string> defines = {
      fmt::format("DTYPE={}", t.dtype), fmt::format("BLOCK_M={}", t.bm),
      fmt::format("BLOCK_N={}", t.bn), fmt::format("BLOCK_K={}", t.bk)};
  CompiledKernel k = compile_sample("matmul", "sm_90a", defines, Stage::Cubin, t.warps);
  ASSERT_TRUE(k.resources.parsed) << k.info_log;
  EXPECT_EQ(k.resources.spill_stores, 0);
  EXPECT_EQ(k.resources.spill_loads, 0);
  const PtxStats s = ptx_stats(k.ptx);
  EXPECT_EQ(s.get("local"), 0);
  EXPECT_EQ(s.get("wgmma.mma_async"), t.wgmma) << k.ptx;
  EXPECT_EQ(s.get("wgmma.fence"), 1);
  EXPECT_EQ(s.get("wgmma.commit_group"), 1);
  EXPECT_EQ(s.get("wgmma.wait_group"), 1);
  EXPECT_NE(k.ptx.find("wgmma.wait_group.sync.aligned 0;"), std::string::npos);
  EXPECT_GE(s.get("fence.proxy.async"), 1);
  EXPECT_EQ(s.get("mma"), 0) << "the dot should not fall back to mma.sync";
  EXPECT_EQ(s.get("ldmatrix"), 0);
  EXPECT_EQ(s.get("fma"), 0);
  // The registers and shared memory of each tile (docs/gpu_codegen.md, "Hopper: wgmma").
  std::printf("[ figures  ] matmul %s %dx%dx%d %d warps sm_90a: %d registers, %lld bytes shared, "
              "%lld wgmma.mma_async\n",
              t.dtype, t.bm, t.bn, t.bk, t.warps, k.resources.registers,
              static_cast<long long>(k.shared_bytes), static_cast<long long>(t.wgmma));
}

// wgmma count: (BLOCK_K / 16) x (M / 64 per warpgroup) x (N per warpgroup / min(256, N per wg)).
INSTANTIATE_TEST_SUITE_P(
    Tiles, WgmmaMatmulSample,
    ::testing::Values(Tile{"f16", 64, 64, 32, 4, 2}, Tile{"bf16", 64, 64, 32, 4, 2},
                      Tile{"f16", 128, 128, 32, 8, 2}, Tile{"bf16", 128, 64, 64, 4, 8},
                      Tile{"f16", 64, 128, 64, 4, 4}, Tile{"f16", 64, 16, 16, 4, 1}),
    [](const auto& info) {
      const Tile& t = info.param;
      return fmt::format("{}_{}x{}x{}_w{}", t.dtype, t.bm, t.bn, t.bk, t.warps);
    });

// The same kernel for sm_80 stays on mma.sync, and on sm_90a tiles wgmma cannot take (M below 64,
// 2 warps: no warpgroup) stay on mma.sync too.
TEST(WgmmaMatmulSample, OtherTargetsAndTilesKeepMmaSync) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  struct Case {
    const char* target;
    int bm, warps;
  };
  for (const Case c : {Case{"sm_80", 64, 4}, Case{"sm_90a", 32, 4}, Case{"sm_90a", 64, 2}}) {
    SCOPED_TRACE(fmt::format("{} BLOCK_M={} {} warps", c.target, c.bm, c.warps));
    CompiledKernel k = compile_sample("matmul", c.target,
                                      {"DTYPE=f16", fmt::format("BLOCK_M={}", c.bm), "BLOCK_K=32"},
                                      Stage::Cubin, c.warps);
    const PtxStats s = ptx_stats(k.ptx);
    EXPECT_EQ(s.get("wgmma"), 0);
    EXPECT_GT(s.get("mma"), 0);
    EXPECT_GT(s.get("ldmatrix"), 0);
    EXPECT_EQ(k.resources.spill_stores, 0);
  }
}

} // namespace
} // namespace tessel::codegen::gpu
