// The pass registry: every pass is found by name with a summary, unknown names are a user error
// listing the valid ones, and the default pipeline runs its passes in order (contract-fma last,
// only with fp_fusion; strip-device-asserts first, unless debug; then expand-tensor-descriptors).
#include "tessel/codegen/transforms.h"
#include "tessel/ir/parser.h"
#include "tessel/ir/printer.h"

#include <gtest/gtest.h>

namespace tessel::codegen {
namespace {

TEST(PassRegistry, EveryPassHasANameAndASummary) {
  std::vector<std::string> names;
  for (const ir::PassInfo& pass : registered_passes()) {
    names.push_back(pass.name);
    EXPECT_FALSE(pass.summary.empty()) << pass.name;
    EXPECT_EQ(find_pass(pass.name), &pass);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"canonicalize", "cse", "dce", "licm", "contract-fma",
                                             "strip-device-asserts", "expand-tensor-descriptors"}));
  EXPECT_EQ(find_pass("inline"), nullptr);
}

TEST(PassRegistry, UnknownPassListsTheValidNames) {
  ir::PassManager pm;
  try {
    add_pass(pm, "gvn");
    FAIL() << "add_pass accepted an unknown pass";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "unknown pass 'gvn'; valid passes: canonicalize, cse, dce, licm, contract-fma, "
                 "strip-device-asserts, expand-tensor-descriptors");
  }
  EXPECT_TRUE(pm.passes().empty());
}

TEST(PassRegistry, DefaultPipeline) {
  ir::PassManager pm;
  add_default_pipeline(pm);
  std::vector<std::string> names;
  for (const ir::PassInfo& pass : pm.passes())
    names.push_back(pass.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"strip-device-asserts", "expand-tensor-descriptors",
                                      "canonicalize", "cse", "licm", "dce", "contract-fma"}));

  auto m = ir::parse_module("kernel @k(%arg0: i32, %arg1: ptr<i32>) {\n"
                            "  %0 = constant {value = 2} : i32\n"
                            "  %1 = mul %0, %0 : i32\n"
                            "  %2 = add %arg0, %1 : i32\n"
                            "  %3 = add %1, %arg0 : i32\n"
                            "  %4 = mul %2, %3 : i32\n"
                            "  store %arg1, %4\n"
                            "  return\n"
                            "}\n");
  pm.run(*m);
  EXPECT_EQ(ir::print(*m), "kernel @k(%arg0: i32, %arg1: ptr<i32>) {\n"
                           "  %0 = constant {value = 4} : i32\n"
                           "  %1 = add %arg0, %0 : i32\n"
                           "  %2 = mul %1, %1 : i32\n"
                           "  store %arg1, %2\n"
                           "  return\n"
                           "}\n");
}

TEST(PassRegistry, PassesReportStatistics) {
  auto m = ir::parse_module("kernel @k(%arg0: i32, %arg1: ptr<i32>) {\n"
                            "  %0 = add %arg0, %arg0 : i32\n"
                            "  %1 = add %arg0, %arg0 : i32\n"
                            "  %2 = mul %0, %1 : i32\n"
                            "  store %arg1, %2\n"
                            "  return\n"
                            "}\n");
  ir::PassStats stats;
  find_pass("cse")->run(*m, stats);
  EXPECT_EQ(stats["eliminated"], 1);
}

TEST(PassRegistry, DefaultPipelineWithoutFpFusionHasNoContraction) {
  ir::PassManager pm;
  add_default_pipeline(pm, PipelineOptions{.fp_fusion = false});
  std::vector<std::string> names;
  for (const ir::PassInfo& pass : pm.passes())
    names.push_back(pass.name);
  EXPECT_EQ(names, (std::vector<std::string>{"strip-device-asserts", "expand-tensor-descriptors",
                                             "canonicalize", "cse", "licm", "dce"}));
}

TEST(PassRegistry, DefaultPipelineWithDebugKeepsDeviceAsserts) {
  ir::PassManager pm;
  add_default_pipeline(pm, PipelineOptions{.debug = true});
  std::vector<std::string> names;
  for (const ir::PassInfo& pass : pm.passes())
    names.push_back(pass.name);
  EXPECT_EQ(names, (std::vector<std::string>{"expand-tensor-descriptors", "canonicalize", "cse",
                                             "licm", "dce", "contract-fma"}));
}

} // namespace
} // namespace tessel::codegen
