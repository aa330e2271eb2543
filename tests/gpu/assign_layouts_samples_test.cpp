// assign-layouts on every sample kernel: the IR after the pass verifies, and every tensor value
// carries exactly the layout LayoutPlan gives the original kernel, so that the emission, which
// reads the IR's layouts, generates the code the side table did.
#include "codegen/gpu/layout_assignment.h"
#include "codegen/transforms/passes.h"
#include "gpu_test_util.h"

#include "tessel/codegen/gpu.h"
#include "tessel/ir/pass.h"

#include <gtest/gtest.h>

namespace tessel::codegen::gpu {
namespace {

// The tensor values of `f` (results, region arguments) in walk order, convert_layout results left
// out: the values the kernel had before the pass.
std::vector<const ir::Value*> tensor_values(const ir::Function& f) {
  std::vector<const ir::Value*> out;
  ir::walk(f.body, [&](const ir::Op& op) {
    if (op.opcode() == ir::Opcode::ConvertLayout)
      return;
    for (const ir::Value* r : op.results())
      if (r->type()->rank() != 0)
        out.push_back(r);
    for (size_t i = 0; i < op.num_regions(); ++i)
      for (const ir::Value* a : op.region(i).args())
        if (a->type()->rank() != 0)
          out.push_back(a);
  });
  return out;
}

class AssignLayoutsOnSample : public ::testing::TestWithParam<std::tuple<const char*, int>> {};

TEST_P(AssignLayoutsOnSample, IrLayoutsAreThePlansLayouts) {
  auto [name, num_warps] = GetParam();
  auto module = samples::trace_kernel(samples::find_kernel(name), {}, /*optimize=*/true);
  const ir::Function& f = *module->functions.front();
  analysis::AxisAnalysis axis(f);
  LayoutPlan plan(f, axis, num_warps);
  std::vector<LinearLayout> before;
  for (const ir::Value* v : tensor_values(f))
    before.push_back(*plan.of(v));

  ir::PassManager pm(/*verify_each=*/true);
  pm.add(assign_layouts_pass(parse_target("sm_80"), num_warps));
  pm.run(*module);

  std::vector<const ir::Value*> after = tensor_values(f);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    ASSERT_NE(after[i]->type()->layout(), nullptr) << i;
    EXPECT_EQ(from_attr(*after[i]->type()->layout(), after[i]->type()->dims()), before[i])
        << name << " value " << i << ": " << after[i]->type()->str();
  }
}

// The emission reads layouts and conversions from the IR: a kernel that went through
// assign-layouts and cse already (as `tessel-opt --passes=assign-layouts,cse` prints it) compiles
// to the same PTX as the plain kernel, which compile() sends through those two passes itself.
TEST(AssignLayouts, LaidOutIrCompilesToTheSamePtx) {
  for (const char* name : {"softmax", "matmul"}) {
    auto plain = samples::trace_kernel(samples::find_kernel(name), {}, /*optimize=*/true);
    auto laid_out = samples::trace_kernel(samples::find_kernel(name), {}, /*optimize=*/true);
    ir::PassManager pm;
    pm.add(assign_layouts_pass(parse_target("sm_80")));
    pm.add(codegen::cse_pass());
    pm.run(*laid_out);
    std::string a = compile(*plain->functions.front(), parse_target("sm_80"), {}, Stage::Ptx).ptx;
    std::string b =
        compile(*laid_out->functions.front(), parse_target("sm_80"), {}, Stage::Ptx).ptx;
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, b) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Samples, AssignLayoutsOnSample,
                         ::testing::Combine(::testing::Values("vector_add", "softmax", "layer_norm",
                                                              "matmul"),
                                            ::testing::Values(1, 4, 8)));

} // namespace
} // namespace tessel::codegen::gpu
