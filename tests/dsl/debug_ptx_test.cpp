// The debugging ops for sm_80 and sm_90a through the compile API: with `debug`, device_print and
// device_assert become vprintf / __assertfail calls that nvJitLink accepts, without spills; without
// it an assert leaves nothing (no device_assert in the optimised IR; no vprintf, __assertfail or
// trap in the PTX: the kernel is the one without the assert). Also the IR text of both ops: it
// round-trips, strings with quotes, `%` and newlines included, and the verifier checks the mask.
#include "dsl/debug_test_util.h"

#include "tessel/ir/parser.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/verifier.h"

#include <filesystem>

namespace tl = tessel::lang;

namespace tessel::testing {
namespace {

const Kernel& print_and_assert() {
  static const Kernel k = tl::kernel("print_and_assert", [](tl::Ptr x, tl::Int n) {
    auto offs = tl::program_id(0) * 256 + tl::arange(0, 256);
    auto mask = offs < n;
    auto v = tl::load(x + offs, mask);
    tl::device_print("v = ", v, mask);
    tl::device_assert(v == v, "v is NaN", mask);
    tl::store(x + offs, v * 2, mask);
  });
  return k;
}

bool has(const std::string& text, const std::string& s) {
  return text.find(s) != std::string::npos;
}

void require_toolkit() {
  if (!std::filesystem::exists(codegen::gpu::nvjitlink_path()) ||
      !std::filesystem::exists(codegen::gpu::libdevice_path()))
    GTEST_SKIP() << "CUDA toolkit (libdevice, nvJitLink) not found";
}

TEST(DebugPtx, PrintAndAssertCompileForSm80AndSm90aWithoutSpills) {
  require_toolkit();
  float buf[8] = {};
  for (const char* target : {"sm_80", "sm_90a"}) {
    CompileOptions o;
    o.debug = true;
    CompileResult r =
        print_and_assert().compile(Target::parse(target), Signature::from_args(buf, 1000), o);
    EXPECT_TRUE(r.resources.parsed) << target << ": " << r.info_log;
    EXPECT_EQ(r.resources.spill_stores, 0) << target;
    EXPECT_EQ(r.resources.spill_loads, 0) << target;
    EXPECT_TRUE(has(r.ptx, "vprintf")) << target;
    EXPECT_TRUE(has(r.ptx, "__assertfail")) << target;
    EXPECT_TRUE(has(r.optimized_ir, "device_assert")) << target;
    EXPECT_FALSE(r.binary.empty()) << target;
  }
}

TEST(DebugPtx, AssertWithoutDebugLeavesNothing) {
  require_toolkit();
  static const Kernel k = tl::kernel("assert_only", [](tl::Ptr x, tl::Int n) {
    auto offs = tl::program_id(0) * 256 + tl::arange(0, 256);
    auto v = tl::load(x + offs, offs < n);
    tl::device_assert(v >= 0, "negative", offs < n);
    tl::store(x + offs, v + 1, offs < n);
  });
  float buf[8] = {};
  for (const char* target : {"sm_80", "sm_90a"}) {
    CompileResult r = k.compile(Target::parse(target), Signature::from_args(buf, 1000));
    EXPECT_TRUE(has(r.traced_ir, "device_assert")) << target;
    EXPECT_FALSE(has(r.optimized_ir, "device_assert")) << target;
    EXPECT_FALSE(has(r.ptx, "vprintf")) << target;
    EXPECT_FALSE(has(r.ptx, "__assertfail")) << target;
    EXPECT_FALSE(has(r.ptx, "trap")) << target;
  }
}

TEST(DebugIr, PrintAndAssertRoundTrip) {
  const std::string text = "kernel @k(%arg0: i32) {\n"
                           "  %0 = arange {start = 0, end = 4} : tensor<4xi32>\n"
                           "  %1 = cmp_gt %0, %0 : tensor<4xi1>\n"
                           "  device_print %0 {prefix = \"say \\\"hi\\\" 100% \\x0a\"}\n"
                           "  device_print %0, %1 {prefix = \"\"}\n"
                           "  device_assert %1 {message = \"x \\\\ y\"}\n"
                           "  device_print %arg0 {prefix = \"n\"}\n"
                           "  return\n"
                           "}\n";
  auto m = ir::parse_module(text);
  ir::verify_or_throw(*m, "parsing");
  std::string printed = ir::print(*m, {.locations = false});
  EXPECT_EQ(ir::print(*ir::parse_module(printed), {.locations = false}), printed);
  EXPECT_TRUE(has(printed, "{prefix = \"say \\\"hi\\\" 100% \\n\"}")) << printed;
  const ir::Op& first = **std::next(m->functions.front()->body.ops().begin(), 2);
  EXPECT_EQ(first.attr("prefix").s, "say \"hi\" 100% \n");
}

TEST(DebugIr, VerifierRejectsAMaskOfAnotherShape) {
  const std::string text = "kernel @k(%arg0: i32) {\n"
                           "  %0 = arange {start = 0, end = 4} : tensor<4xi32>\n"
                           "  %1 = arange {start = 0, end = 8} : tensor<8xi32>\n"
                           "  %2 = cmp_gt %1, %1 : tensor<8xi1>\n"
                           "  device_print %0, %2 {prefix = \"x\"}\n"
                           "  return\n"
                           "}\n";
  try {
    ir::verify_or_throw(*ir::parse_module(text), "parsing");
    ADD_FAILURE() << "expected a verifier error";
  } catch (const Error& e) {
    EXPECT_TRUE(has(e.what(), "mask must be i1 of the shape of the printed value")) << e.what();
  }
}

} // namespace
} // namespace tessel::testing
