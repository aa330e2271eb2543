// Tests of codegen/target: parsing target names, limits and feature queries per SM.
#include "tessel/codegen/target.h"

#include "support/expect_error.h"

#include <gtest/gtest.h>

namespace tessel::codegen {
namespace {

TEST(Target, ParsesEverySupportedName) {
  for (const std::string& name : valid_target_names())
    EXPECT_EQ(parse_target(name).name(), name);
  EXPECT_EQ(parse_target("nvptx-sm_86").name(), "sm_86");
  EXPECT_EQ(parse_target("host").kind(), TargetKind::cpu);
}

TEST(Target, Sm90aFeatures) {
  Target t = parse_target("sm_90a");
  EXPECT_TRUE(t.is_nvptx());
  EXPECT_EQ(t.sm(), 90);
  EXPECT_TRUE(t.arch_specific());
  EXPECT_TRUE(t.has_wgmma());
  EXPECT_TRUE(t.has_tma());
  EXPECT_TRUE(t.has_fp8());
  EXPECT_TRUE(t.has_cp_async());
  EXPECT_EQ(t.ptx_version(), 80);
  EXPECT_EQ(t.llvm_features(), "+ptx80");
  EXPECT_EQ(t.arch_option(), "-arch=sm_90a");
  EXPECT_EQ(t.limits().max_shared_bytes, 227 * 1024);
}

TEST(Target, Sm90WithoutAHasNoWgmma) {
  Target t = parse_target("sm_90");
  EXPECT_FALSE(t.has_wgmma());
  EXPECT_TRUE(t.has_tma());
}

TEST(Target, Sm80Features) {
  Target t = parse_target("sm_80");
  EXPECT_TRUE(t.has_cp_async());
  EXPECT_TRUE(t.has_ldmatrix());
  EXPECT_TRUE(t.has_bf16_math());
  EXPECT_FALSE(t.has_fp8());
  EXPECT_FALSE(t.has_tma());
  EXPECT_FALSE(t.has_wgmma());
  EXPECT_EQ(t.limits().max_shared_bytes, 163 * 1024);
  EXPECT_EQ(t.limits().max_threads_per_block, 1024);
  EXPECT_EQ(t.limits().max_registers_per_thread, 255);
}

TEST(Target, Sm89HasFp8AndSmallerSharedMemory) {
  Target t = parse_target("sm_89");
  EXPECT_TRUE(t.has_fp8());
  EXPECT_FALSE(t.has_tma());
  EXPECT_EQ(t.limits().max_shared_bytes, 99 * 1024);
}

TEST(Target, CpuHasNoGpuFeatures) {
  Target t = parse_target("cpu");
  EXPECT_FALSE(t.is_nvptx());
  EXPECT_FALSE(t.has_cp_async());
  EXPECT_EQ(t.name(), "cpu");
}

TEST(TargetErrors, UnknownNameListsValidOnes) {
  for (const char* bad : {"sm_75", "sm_80a", "sm_", "sm_9x", "gfx90a", "", "sm_100a"})
    testing::expect_error(
        [&] { (void)parse_target(bad); },
        {"unsupported target", "valid targets: cpu, sm_80, sm_86, sm_89, sm_90, sm_90a"});
}

TEST(TargetErrors, NvptxConstructorRejectsUnknownSm) {
  testing::expect_error([] { (void)Target::nvptx(70); }, {"sm_70", "valid targets"});
}

} // namespace
} // namespace tessel::codegen
