// The emission reads layouts from the IR and decides none (docs/gpu_codegen.md "The pass
// sequence"): a laid-out kernel whose scan or FMA dot operands are not in the layouts their
// algorithms read -- IR that skipped the pass that converts them -- is refused with an error
// naming the op and the pass to run, never lowered with a conversion made up in the emission.
#include "support/expect_error.h"
#include "tessel/codegen/gpu.h"
#include "tessel/codegen/target.h"
#include "tessel/ir/parser.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace tessel::codegen::gpu {
namespace {

void compile_text(const char* text, const char* target = "sm_80", int num_warps = 1) {
  auto module = ir::parse_module(text, "emission.tir");
  CompileOptions options;
  options.num_warps = num_warps;
  compile(*module->functions.front(), parse_target(target), options, Stage::Llvm);
}

// A dot on two shared buffers (wgmma's form) whose buffers are plain row-major, or on a target
// without wgmma: prepare-dot-operands did not write this IR.
const char* const kWgmmaDot =
    "kernel @bad_wgmma() shared(16384) {\n"
    "  %0 = local_alloc {offset = 0} : tensor<64x64xf16, #shared<register=[[0,1],[0,2],[0,4],"
    "[0,8],[0,16],[0,32],[1,0],[2,0],[4,0],[8,0],[16,0],[32,0]]>>\n"
    "  %1 = local_alloc {offset = 8192} : tensor<64x64xf16, #shared<register=[[0,1],[0,2],[0,4],"
    "[0,8],[0,16],[0,32],[1,0],[2,0],[4,0],[8,0],[16,0],[32,0]]>>\n"
    "  %2 = constant {value = 0.0} : tensor<64x64xf32, #mma<register=[[0,1],[8,0],[0,8],[0,16],"
    "[0,32]], lane=[[0,2],[0,4],[1,0],[2,0],[4,0]], warp=[[16,0],[32,0]]>>\n"
    "  %3 = dot %0, %1, %2 : tensor<64x64xf32, #mma<register=[[0,1],[8,0],[0,8],[0,16],[0,32]], "
    "lane=[[0,2],[0,4],[1,0],[2,0],[4,0]], warp=[[16,0],[32,0]]>> loc(\"wgmma.cpp\":20:7)\n"
    "  return\n"
    "}\n";

TEST(EmissionReadsIr, WgmmaOperandNotInAWgmmaLayoutIsAnError) {
  testing::expect_error([] { compile_text(kWgmmaDot, "sm_90a", 4); },
                        {"wgmma.cpp:20", "cannot lower `dot`",
                         "its a buffer is not in a wgmma layout (run prepare-dot-operands)"});
}

TEST(EmissionReadsIr, DotOnSharedBuffersWithoutWgmmaIsAnError) {
  testing::expect_error([] { compile_text(kWgmmaDot, "sm_80", 4); },
                        {"wgmma.cpp:20", "cannot lower `dot`", "no wgmma takes this dot on sm_80"});
}

// The K-major rule (wgmma_needs_k_major): wgmma reads tf32 and 8-bit operands from shared memory
// K-major only, the transposed layouts being for 16-bit types. A tf32 dot whose b buffer is a
// wgmma layout contiguous along N (MN-major, which f16 would read with imm-trans-b = 1) is
// refused at the dot's line; the same dot with b contiguous along K lowers.
std::string tf32_wgmma_dot(bool b_k_major) {
  const std::string a = "tensor<64x32xf32, #shared<register=[[0,1],[0,2],[0,4],[0,8],[0,16],"
                        "[1,4],[2,8],[4,16],[8,0],[16,0],[32,0]]>>";
  const std::string b = b_k_major ? "tensor<32x64xf32, #shared<register=[[1,0],[2,0],[4,0],[8,0],"
                                    "[16,0],[4,1],[8,2],[16,4],[0,8],[0,16],[0,32]]>>"
                                  : "tensor<32x64xf32, #shared<register=[[0,1],[0,2],[0,4],[0,8],"
                                    "[0,16],[1,4],[2,8],[4,16],[8,0],[16,0],[0,32]]>>";
  const std::string acc = "tensor<64x64xf32, #mma<register=[[0,1],[8,0],[0,8],[0,16],[0,32]], "
                          "lane=[[0,2],[0,4],[1,0],[2,0],[4,0]], warp=[[16,0],[32,0]]>>";
  return "kernel @tf32_wgmma() shared(16384) {\n"
         "  %0 = local_alloc {offset = 0} : " +
         a + "\n  %1 = local_alloc {offset = 8192} : " + b +
         "\n  %2 = constant {value = 0.0} : " + acc + "\n  %3 = dot %0, %1, %2 : " + acc +
         " loc(\"tf32.cpp\":30:5)\n  %4 = wgmma_wait %3 {pending = 0} : " + acc + "\n  return\n}\n";
}

TEST(EmissionReadsIr, Tf32WgmmaOperandThatIsNotKMajorIsAnError) {
  const std::string bad = tf32_wgmma_dot(/*b_k_major=*/false);
  testing::expect_error([&] { compile_text(bad.c_str(), "sm_90a", 4); },
                        {"tf32.cpp:30", "cannot lower `dot`", "its b buffer is MN-major",
                         "wgmma reads tf32 operands K-major only"});
  const std::string good = tf32_wgmma_dot(/*b_k_major=*/true);
  EXPECT_NO_THROW(compile_text(good.c_str(), "sm_90a", 4));
}

// The codegen check of wgmma_in_flight.h: a wgmma dot's result is in flight until a
// wgmma_wait {pending = 0}; an add reading it directly, or after a wait that leaves one group
// pending, is refused at the add's line, naming the dot's.
TEST(EmissionReadsIr, AccumulatorReadWhileTheWgmmaIsInFlightIsAnError) {
  const std::string acc = "tensor<64x64xf32, #mma<register=[[0,1],[8,0],[0,8],[0,16],[0,32]], "
                          "lane=[[0,2],[0,4],[1,0],[2,0],[4,0]], warp=[[16,0],[32,0]]>>";
  const std::string dot = kWgmmaDot;
  const std::string prefix = dot.substr(0, dot.find("  return"));
  const std::string add = " = add %{}, %2 : " + acc + " loc(\"wgmma.cpp\":21:9)\n";
  const std::string reads[] = {"  %4" + fmt::format(fmt::runtime(add), 3),
                               "  %4 = wgmma_wait %3 {pending = 1} : " + acc + "\n  %5" +
                                   fmt::format(fmt::runtime(add), 4)};
  for (const std::string& read : reads) {
    const std::string text = prefix + read + "  return\n}\n";
    SCOPED_TRACE(text);
    testing::expect_error([&] { compile_text(text.c_str(), "sm_90a", 4); },
                          {"wgmma.cpp:21",
                           "`add` reads the accumulator of the wgmma dot at wgmma.cpp:20",
                           "may still be in flight", "wgmma_wait {pending = 0}"});
  }
}

// Registers along the columns first: a scan down the rows cannot run in it (scan_ready).
TEST(EmissionReadsIr, ScanOperandNotInAScanLayoutIsAnError) {
  testing::expect_error(
      [] {
        compile_text("kernel @bad_scan() shared(0) {\n"
                     "  %0 = constant {value = 1.0} : tensor<4x64xf32, "
                     "#blocked<register=[[0,1],[0,2],[2,0]], "
                     "lane=[[0,4],[0,8],[0,16],[0,32],[1,0]]>> loc(\"scan.cpp\":7:3)\n"
                     "  %1 = scan_sum %0 {axis = 0} : tensor<4x64xf32, "
                     "#blocked<register=[[0,1],[0,2],[2,0]], "
                     "lane=[[0,4],[0,8],[0,16],[0,32],[1,0]]>> loc(\"scan.cpp\":8:5)\n"
                     "  return\n"
                     "}\n");
      },
      {"scan.cpp:8", "cannot lower `scan_sum`", "run assign-layouts"});
}

// a and b in the result's layout, not each thread's rows of a and columns of b with all of K.
TEST(EmissionReadsIr, FmaDotOperandsNotInTheirLayoutsIsAnError) {
  testing::expect_error(
      [] {
        compile_text(
            "kernel @bad_dot() shared(0) {\n"
            "  %0 = constant {value = 1.0} : tensor<8x8xf32, #blocked<register=[[0,1]], "
            "lane=[[0,2],[0,4],[1,0],[2,0],[4,0]]>>\n"
            "  %1 = dot %0, %0, %0 {precision = 0} : tensor<8x8xf32, #blocked<register=[[0,1]], "
            "lane=[[0,2],[0,4],[1,0],[2,0],[4,0]]>> loc(\"dot.cpp\":12:9)\n"
            "  return\n"
            "}\n");
      },
      {"dot.cpp:12", "cannot lower `dot`", "run prepare-dot-operands"});
}

} // namespace
} // namespace tessel::codegen::gpu
