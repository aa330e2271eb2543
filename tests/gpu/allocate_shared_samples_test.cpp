// allocate-shared on the sample kernels: the plan's total (`shared(N)` in the IR) is the shared
// memory the emission uses when it compiles the same kernel, for 1, 4 and 8 warps, and every
// planned scratch buffer lies inside that total.
#include "codegen/gpu/scratch.h"
#include "gpu_test_util.h"

#include "support/expect_error.h"
#include "tessel/codegen/gpu.h"
#include "tessel/ir/parser.h"
#include "tessel/ir/pass.h"

#include <gtest/gtest.h>

namespace tessel::codegen::gpu {
namespace {

class AllocateSharedOnSample
    : public ::testing::TestWithParam<std::tuple<const char*, std::vector<std::string>, int>> {};

TEST_P(AllocateSharedOnSample, PlannedTotalIsWhatTheEmissionUses) {
  auto [name, defines, num_warps] = GetParam();
  const Target target = parse_target("sm_80");
  auto planned = samples::trace_kernel(samples::find_kernel(name), defines, /*optimize=*/true);
  auto plain = samples::trace_kernel(samples::find_kernel(name), defines, /*optimize=*/true);
  ir::PassManager pm(/*verify_each=*/true);
  CompileOptions options;
  options.num_warps = num_warps;
  add_gpu_pass(pm, "assign-layouts", target, num_warps);
  add_gpu_pass(pm, "pipeline", target, num_warps, options.num_stages); // matmul's rings
  add_gpu_pass(pm, "prepare-dot-operands", target, num_warps);
  add_gpu_pass(pm, "allocate-shared", target, num_warps);
  pm.run(*planned);
  const ir::Function& f = *planned->functions.front();

  const int64_t emitted =
      compile(*plain->functions.front(), target, options, Stage::Ptx).shared_bytes;
  EXPECT_EQ(f.shared_bytes, emitted) << name << " with " << num_warps << " warps";
  ir::walk(f.body, [&](const ir::Op& op) {
    for (size_t i = 0; i < op.info().attrs.size(); ++i)
      if (op.info().attrs[i].name == "scratch_bytes" && op.attrs()[i].kind == ir::Attr::Kind::Int) {
        EXPECT_LE(op.int_attr("scratch_offset") + op.attrs()[i].i, f.shared_bytes) << op.name();
      }
  });
}

// The shared-memory ops verify, are planned and are emitted (lower_mma.cpp): a 16-byte store.
TEST(AllocateShared, ExplicitSharedMemoryOpsAreEmitted) {
  auto m = ir::parse_module(
      "kernel @staged(%arg0: ptr<i32> {div = 16}) {\n"
      "  %0 = arange {start = 0, end = 8} : tensor<8xi32, #blocked<register=[1], lane=[2,4]>>\n"
      "  %1 = local_alloc {offset = -1} : tensor<8xi32, #shared<register=[1,2,4]>>\n"
      "  local_store %1, %0\n"
      "  barrier\n"
      "  return\n"
      "}\n",
      "staged.tir");
  const std::string ptx = compile(*m->functions.front(), parse_target("sm_80"), {}, Stage::Ptx).ptx;
  EXPECT_NE(ptx.find("st.shared.v2.u32"), std::string::npos) << ptx;
  EXPECT_NE(ptx.find("bar.sync"), std::string::npos) << ptx;
}

// A store, barrier and load round trip through one buffer: st.shared, bar.sync, ld.shared.
// (pipeline_sim_test.cpp runs such a kernel in the simulator.)
TEST(AllocateShared, ExplicitSharedMemoryRoundTripIsEmitted) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  auto m = ir::parse_module(
      "kernel @staged(%arg0: ptr<i32> {div = 16}) {\n"
      "  %0 = arange {start = 0, end = 8} : tensor<8xi32, #blocked<lane=[1,2,4,0,0], warp=[0,0]>>\n"
      "  %1 = local_alloc {offset = -1} : tensor<8xi32, #shared<register=[1,2,4]>>\n"
      "  local_store %1, %0\n"
      "  barrier\n"
      "  %2 = local_load %1 : tensor<8xi32, #blocked<lane=[1,2,4,0,0], warp=[0,0]>>\n"
      "  %3 = splat %arg0 : tensor<8xptr<i32>, #blocked<lane=[1,2,4,0,0], warp=[0,0]>>\n"
      "  %4 = addptr %3, %0 : tensor<8xptr<i32>, #blocked<lane=[1,2,4,0,0], warp=[0,0]>>\n"
      "  store %4, %2\n"
      "  return\n"
      "}\n",
      "staged.tir");
  CompiledKernel k = compile(*m->functions.front(), parse_target("sm_80"), {}, Stage::Ptx);
  EXPECT_NE(k.ptx.find("st.shared"), std::string::npos) << k.ptx;
  EXPECT_NE(k.ptx.find("bar.sync"), std::string::npos) << k.ptx;
  EXPECT_NE(k.ptx.find("ld.shared"), std::string::npos) << k.ptx;
}

INSTANTIATE_TEST_SUITE_P(
    Samples, AllocateSharedOnSample,
    ::testing::Combine(::testing::Values("vector_add", "softmax", "layer_norm", "matmul"),
                       ::testing::Values(std::vector<std::string>{},
                                         std::vector<std::string>{"DTYPE=f16"}),
                       ::testing::Values(1, 4, 8)));

} // namespace
} // namespace tessel::codegen::gpu
