// Every sample kernel on sm_80 and sm_90a: PTX produced, nvJitLink succeeds, no spills and no
// local memory, 16-byte global accesses for contiguous f32 (8 bytes where only 8 are per thread,
// and f16 rows likewise 16 bytes), reductions through shfl.sync, and line info naming the
// kernel's C++ file.
#include "gpu_test_util.h"

#include "tessel/codegen/transforms.h"
#include "tessel/ir/pass.h"

namespace tessel::codegen::gpu {
namespace {

using testing::compile_sample;

struct Case {
  const char* kernel;
  const char* target;
};

class SampleOnTarget : public ::testing::TestWithParam<Case> {};

TEST_P(SampleOnTarget, CompilesToCubinWithoutSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const Case c = GetParam();
  CompiledKernel k = compile_sample(c.kernel, c.target);
  ASSERT_FALSE(k.ptx.empty());
  EXPECT_NE(k.ptx.find(".target " + std::string(c.target)), std::string::npos);
  EXPECT_NE(k.ptx.find(".entry " + std::string(c.kernel)), std::string::npos);
  ASSERT_FALSE(k.cubin.empty());
  EXPECT_EQ(k.cubin.substr(1, 3), "ELF");
  ASSERT_TRUE(k.resources.parsed) << k.info_log;
  EXPECT_GT(k.resources.registers, 0);
  EXPECT_LE(k.resources.registers, 255);
  EXPECT_EQ(k.resources.spill_stores, 0) << k.info_log;
  EXPECT_EQ(k.resources.spill_loads, 0) << k.info_log;
  EXPECT_EQ(k.resources.stack_bytes, 0) << k.info_log;
  PtxStats s = ptx_stats(k.ptx);
  EXPECT_EQ(s.get("local"), 0);
  // Contiguous f32: only 16-byte global accesses (matmul's loads are 16-byte cp.async copies, the
  // software pipeliner's).
  if (std::string(c.kernel) == "matmul")
    EXPECT_GT(s.get("cp.async"), 0);
  else
    EXPECT_GT(s.get("ld.global.v4"), 0);
  EXPECT_GT(s.get("st.global.v4"), 0);
  EXPECT_EQ(s.get("ld.global"), 0) << "scalar global loads in\n" << k.ptx;
  EXPECT_EQ(s.get("st.global"), 0) << "scalar global stores in\n" << k.ptx;
  EXPECT_EQ(s.get("ld.global.v2"), 0);
  // Line info points at the samples' source.
  EXPECT_NE(k.ptx.find(".loc\t1 "), std::string::npos);
  const char* source = std::string(c.kernel) == "matmul" ? "matmul.cpp\"" : "kernels.cpp\"";
  EXPECT_NE(k.ptx.find(source), std::string::npos);
  EXPECT_LE(k.shared_bytes, k.target.limits().max_shared_bytes);
}

TEST_P(SampleOnTarget, ReductionsUseWarpShuffles) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const Case c = GetParam();
  if (std::string(c.kernel) != "softmax" && std::string(c.kernel) != "layer_norm")
    GTEST_SKIP() << "no reduction";
  CompiledKernel k = compile_sample(c.kernel, c.target, {}, Stage::Ptx);
  PtxStats s = ptx_stats(k.ptx);
  // Two reductions of 1024 elements over 4 warps: 5 butterflies each, then across warps.
  EXPECT_EQ(s.get("shfl.sync"), 10);
  EXPECT_GT(s.get("bar.sync"), 0);
  EXPECT_NE(k.ptx.find("shfl.sync.bfly.b32"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Gpu, SampleOnTarget,
                         ::testing::Values(Case{"vector_add", "sm_80"},
                                           Case{"vector_add", "sm_90a"}, Case{"softmax", "sm_80"},
                                           Case{"softmax", "sm_90a"}, Case{"layer_norm", "sm_80"},
                                           Case{"layer_norm", "sm_90a"}, Case{"matmul", "sm_80"},
                                           Case{"matmul", "sm_90a"}),
                         [](const auto& info) {
                           return std::string(info.param.kernel) + "_" + info.param.target;
                         });

// 256 elements over 128 threads: 2 per thread, so 8-byte vectors.
TEST(SampleVectorWidth, TwoPerThreadGivesV2) {
  CompiledKernel k = compile_sample("vector_add", "sm_90a", {"BLOCK=256"}, Stage::Ptx);
  PtxStats s = ptx_stats(k.ptx);
  EXPECT_EQ(s.get("ld.global.v2"), 2);
  EXPECT_EQ(s.get("st.global.v2"), 1);
  EXPECT_EQ(s.get("ld.global.v4"), 0);
}

// f16 rows: 8 halves per thread, still 16 bytes (ld.global.v4.b32).
TEST(SampleVectorWidth, F16RowsAre16Bytes) {
  CompiledKernel k = compile_sample("softmax", "sm_90a", {"DTYPE=f16"}, Stage::Ptx);
  PtxStats s = ptx_stats(k.ptx);
  EXPECT_EQ(s.get("ld.global.v4"), 1);
  EXPECT_EQ(s.get("st.global.v4"), 1);
  EXPECT_EQ(s.get("ld.global"), 0);
}

// Unaligned pointers: 4-byte accesses only.
TEST(SampleVectorWidth, UnalignedPointersAreScalar) {
  CompiledKernel k = compile_sample("vector_add", "sm_90a", {"a.align=any"}, Stage::Ptx);
  PtxStats s = ptx_stats(k.ptx);
  EXPECT_EQ(s.get("ld.global.v4"), 2); // b
  EXPECT_EQ(s.get("ld.global"), 8);    // a: 8 per thread, one by one
}

// An integer bound not divisible by 16 makes the mask per element: no vectors under a mask.
TEST(SampleVectorWidth, UnknownBoundMasksPerElement) {
  CompiledKernel k = compile_sample("vector_add", "sm_90a", {"n=any"}, Stage::Ptx);
  PtxStats s = ptx_stats(k.ptx);
  EXPECT_EQ(s.get("ld.global.v4"), 0);
  EXPECT_EQ(s.get("ld.global"), 16);
}

TEST(SampleNumWarps, EightWarpsHalveRegistersPerThread) {
  CompiledKernel k4 = compile_sample("softmax", "sm_90a", {}, Stage::Ptx, 4);
  CompiledKernel k8 = compile_sample("softmax", "sm_90a", {}, Stage::Ptx, 8);
  EXPECT_NE(k8.ptx.find(".maxntid 256, 1, 1"), std::string::npos);
  EXPECT_NE(k4.ptx.find(".maxntid 128, 1, 1"), std::string::npos);
  EXPECT_EQ(ptx_stats(k8.ptx).get("ld.global.v4"), 1);
  EXPECT_EQ(ptx_stats(k4.ptx).get("ld.global.v4"), 2);
}

} // namespace
} // namespace tessel::codegen::gpu
