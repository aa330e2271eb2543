// What sm_90a makes of tensor descriptors, compiled without a GPU (nvJitLink): each box a
// cp.async.bulk.tensor (a load with its mbarrier init / arrive.expect_tx / try_wait / inval, a
// store with commit and wait), one `.param .align 64 .b8 [128]` tensor map per descriptor after
// the arguments, no spills or local memory; sm_80 gets masked global loads and stores instead.
// Also the IR: assign-tensor-maps gives only descriptors the host can build a `tmap`.
#include "support/expect_error.h"
#include "tessel/codegen/gpu.h"
#include "tessel/ir/printer.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace tessel::testing {
namespace {

namespace tl = tessel::lang;

alignas(16) float g_a[64], g_b[64];

bool have_toolkit() {
  return std::filesystem::exists(codegen::gpu::libdevice_path()) &&
         std::filesystem::exists(codegen::gpu::nvjitlink_path());
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

const Kernel& copy() {
  static const Kernel k =
      tl::kernel("tma_copy", [](tl::Ptr out, tl::Ptr in, tl::Int m, tl::Int n, tl::Int ld) {
        auto src = tl::make_tensor_descriptor(in, {m, n}, {ld, 1}, {64, 64});
        auto dst = tl::make_tensor_descriptor(out, {m, n}, {ld, 1}, {64, 64});
        auto r = tl::program_id(0) * 64, c = tl::program_id(1) * 64;
        dst.store({r, c}, src.load({r, c}));
      });
  return k;
}

CompileResult build(const Kernel& k, const char* target) {
  return k.compile(Target::parse(target), Signature::from_args(g_a, g_b, 100, 90, 96));
}

TEST(TmaPtx, CopyIsTwoBulkTensorCopies) {
  if (!have_toolkit())
    GTEST_SKIP() << "needs libdevice and nvJitLink";
  CompileResult r = build(copy(), "sm_90a");
  codegen::gpu::PtxStats s = codegen::gpu::ptx_stats(r.ptx);
  EXPECT_EQ(r.tensor_maps, 2);
  EXPECT_EQ(s.get("cp.async.bulk.tensor"), 2) << r.ptx;
  EXPECT_EQ(count(r.ptx, "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::"
                         "complete_tx::bytes"),
            1u);
  EXPECT_EQ(count(r.ptx, "cp.async.bulk.tensor.2d.global.shared::cta.bulk_group"), 1u);
  EXPECT_EQ(s.get("mbarrier"), 4) << "init, arrive.expect_tx, try_wait, inval";
  EXPECT_EQ(count(r.ptx, ".param .align 64 .b8 tma_copy_param_5[128]"), 1u) << r.ptx;
  EXPECT_EQ(count(r.ptx, ".param .align 64 .b8 tma_copy_param_6[128]"), 1u);
  EXPECT_EQ(s.get("ld.global") + s.get("ld.global.v4") + s.get("st.global.v4"), 0)
      << "the box travels by TMA, not by the threads";
  EXPECT_EQ(s.get("local"), 0);
  ASSERT_TRUE(r.resources.parsed) << r.info_log;
  EXPECT_EQ(r.resources.spill_stores, 0);
  EXPECT_EQ(r.resources.spill_loads, 0);
  // The load's box and the store's live at different times: they share the bytes.
  EXPECT_EQ(r.shared_bytes, 64 * 64 * 4 + 16) << "one 64x64 f32 box and an mbarrier";
}

TEST(TmaPtx, Sm80CopiesWithMaskedVectorAccesses) {
  if (!have_toolkit())
    GTEST_SKIP() << "needs libdevice and nvJitLink";
  CompileResult r = build(copy(), "sm_80");
  codegen::gpu::PtxStats s = codegen::gpu::ptx_stats(r.ptx);
  EXPECT_EQ(r.tensor_maps, 0);
  EXPECT_EQ(s.get("cp.async.bulk"), 0);
  EXPECT_EQ(s.get("mbarrier"), 0);
  EXPECT_GT(s.get("ld.global.v4") + s.get("ld.global"), 0) << r.ptx;
  EXPECT_EQ(r.resources.spill_stores, 0);
}

TEST(TmaPtx, SwizzledTransposeHasNoSpills) {
  if (!have_toolkit())
    GTEST_SKIP() << "needs libdevice and nvJitLink";
  auto k =
      tl::kernel("tma_transpose", [](tl::Ptr out, tl::Ptr in, tl::Int m, tl::Int n, tl::Int ld) {
        auto src = tl::make_tensor_descriptor(in, {m, n}, {ld, 1}, {32, 32},
                                              {.swizzle = tl::Swizzle::b128});
        auto dst = tl::make_tensor_descriptor(out, {n, m}, {ld, 1}, {32, 32},
                                              {.swizzle = tl::Swizzle::b128});
        auto r = tl::program_id(0) * 32, c = tl::program_id(1) * 32;
        dst.store({c, r}, tl::trans(src.load({r, c})));
      });
  CompileResult r = build(k, "sm_90a");
  codegen::gpu::PtxStats s = codegen::gpu::ptx_stats(r.ptx);
  EXPECT_EQ(s.get("cp.async.bulk.tensor"), 2);
  EXPECT_EQ(s.get("local"), 0);
  EXPECT_EQ(r.resources.spill_stores, 0);
}

// A descriptor whose base the kernel computes cannot be built by the host: it stays a masked
// load (no tmap), next to one that goes through TMA.
TEST(TmaIr, ComputedBaseIsExpanded) {
  auto k = tl::kernel("tma_mixed", [](tl::Ptr out, tl::Ptr in, tl::Int n) {
    auto d_in = tl::make_tensor_descriptor(in + n, {n}, {1}, {64});
    auto d_out = tl::make_tensor_descriptor(out, {n}, {1}, {64});
    d_out.store({tl::program_id(0) * 64}, d_in.load({tl::program_id(0) * 64}));
  });
  if (!have_toolkit())
    GTEST_SKIP() << "needs libdevice and nvJitLink";
  CompileOptions o;
  o.until = CompileUntil::ptx;
  CompileResult r = k.compile(Target::parse("sm_90a"), Signature::from_args(g_a, g_b, 64), o);
  EXPECT_EQ(r.tensor_maps, 1);
  codegen::gpu::PtxStats s = codegen::gpu::ptx_stats(r.ptx);
  EXPECT_EQ(s.get("cp.async.bulk.tensor"), 1) << r.ptx;
}

} // namespace
} // namespace tessel::testing
