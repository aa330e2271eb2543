// What sm_90a makes of block pointers, compiled without a GPU (nvJitLink): a block-pointer matmul
// whose K loop advances its operands gets one cp.async.bulk.tensor per box (the two loads in the
// loop, the store after it) and one tensor map per block pointer, with no spills; sm_80 gets
// masked global loads (which the pipeliner streams through cp.async: block_ptr_pipeline_test.cpp).
// Also the IR: the offsets an advance changes are the loop's carried values, the others (advanced
// by 0) are not.
#include "tessel/codegen/gpu.h"
#include "tessel/ir/printer.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

namespace tessel::testing {
namespace {

namespace tl = tessel::lang;

alignas(16) float g_c[64];
alignas(16) half g_a[64], g_b[64];

bool have_toolkit() {
  return std::filesystem::exists(codegen::gpu::libdevice_path()) &&
         std::filesystem::exists(codegen::gpu::nvjitlink_path());
}

const Kernel& matmul() {
  static const Kernel k =
      tl::kernel("bp_mm", [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Int M, tl::Int N, tl::Int K,
                             tl::Int lda, tl::Int ldb, tl::Int ldc) {
        constexpr int BM = 64, BN = 64, BK = 32;
        auto rm = tl::program_id(0) * BM, rn = tl::program_id(1) * BN;
        auto pa = tl::make_block_ptr(a, {M, K}, {lda, 1}, {rm, 0}, {BM, BK}, {1, 0});
        auto pb = tl::make_block_ptr(b, {K, N}, {ldb, 1}, {0, rn}, {BK, BN}, {1, 0});
        tl::Tensor acc = tl::zeros({BM, BN}, tl::f32);
        tl::for_range(0, K, BK, [&](tl::Int) {
          acc = tl::dot(tl::load(pa, {0, 1}), tl::load(pb, {0, 1}), acc);
          pa = tl::advance(pa, {0, BK});
          pb = tl::advance(pb, {BK, 0});
        });
        tl::store(tl::make_block_ptr(c, {M, N}, {ldc, 1}, {rm, rn}, {BM, BN}, {1, 0}), acc);
      });
  return k;
}

CompileResult build(const char* target) {
  return matmul().compile(Target::parse(target),
                          Signature::from_args(g_c, g_a, g_b, 256, 256, 256, 256, 256, 256));
}

// Two carried offsets (a's column, b's row) besides the accumulator: the loop's `for` takes its
// bounds, its step and three initial values.
TEST(BlockPtrIr, AdvanceCarriesOnlyTheOffsetsItChanges) {
  const std::string ir = matmul().ir_for(false, g_c, g_a, g_b, 256, 256, 256, 256, 256, 256);
  const size_t at = ir.find("= for ");
  ASSERT_NE(at, std::string::npos) << ir;
  const std::string operands = ir.substr(at, ir.find(" : ", at) - at);
  const size_t commas = size_t(std::count(operands.begin(), operands.end(), ','));
  EXPECT_EQ(commas + 1, 3u + 3u) << "lo, hi, step, acc, a's column, b's row: " << operands;
}

TEST(BlockPtrPtx, Sm90aMatmulCopiesEveryBoxByTma) {
  if (!have_toolkit())
    GTEST_SKIP() << "needs libdevice and nvJitLink";
  CompileResult r = build("sm_90a");
  codegen::gpu::PtxStats s = codegen::gpu::ptx_stats(r.ptx);
  EXPECT_EQ(r.tensor_maps, 3);
  EXPECT_EQ(s.get("cp.async.bulk.tensor"), 3) << r.ptx;
  EXPECT_EQ(s.get("local"), 0);
  ASSERT_TRUE(r.resources.parsed) << r.info_log;
  EXPECT_EQ(r.resources.spill_stores, 0);
  EXPECT_EQ(r.resources.spill_loads, 0);
}

TEST(BlockPtrPtx, Sm80MatmulUsesMaskedLoads) {
  if (!have_toolkit())
    GTEST_SKIP() << "needs libdevice and nvJitLink";
  CompileResult r = build("sm_80");
  codegen::gpu::PtxStats s = codegen::gpu::ptx_stats(r.ptx);
  EXPECT_EQ(r.tensor_maps, 0);
  EXPECT_EQ(s.get("cp.async.bulk"), 0);
  EXPECT_GT(s.get("mma"), 0) << r.ptx;
  EXPECT_EQ(r.resources.spill_stores, 0);
}

} // namespace
} // namespace tessel::testing
