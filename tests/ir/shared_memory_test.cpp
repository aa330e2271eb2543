// The shared-memory ops of the GPU stage (ops.def: local_alloc, local_load, local_store, barrier),
// the optional scratch attributes and the kernel's `shared(N)`: one test per parse and verify
// diagnostic.
#include "tessel/ir/parser.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/verifier.h"
#include "support/expect_error.h"

#include "tessel/error.h"

#include <gtest/gtest.h>

namespace tessel::ir {
namespace {

std::string verify_message(const std::string& body) {
  auto m = parse_module("kernel @k(%arg0: i32) {\n" + body + "  return\n}\n", "v.tir");
  auto e = verify(*m);
  return e ? e->message : "";
}

const std::string kRegs = "tensor<8xi32, #blocked<register=[1], lane=[2,4]>>";
const std::string kBuf = "tensor<8xi32, #shared<register=[1,2,4]>>";
const std::string kValue = "  %0 = arange {start = 0, end = 8} : " + kRegs + "\n";

TEST(SharedMemoryVerify, StagedKernelVerifies) {
  EXPECT_EQ(verify_message(kValue + "  %1 = local_alloc {offset = -1} : " + kBuf +
                           "\n  local_store %1, %0\n  barrier\n  %2 = local_load %1 : " + kRegs +
                           "\n"),
            "");
}

TEST(SharedMemoryVerify, LocalAllocNeedsASharedLayout) {
  std::string m = verify_message(kValue + "  %1 = local_alloc {offset = 0} : " + kRegs + "\n");
  EXPECT_NE(m.find("'local_alloc' result must be a tensor type with a #shared layout (a "
                   "shared-memory buffer), found tensor<8xi32, #blocked<register=[1], lane=[2,4]>>"),
            std::string::npos)
      << m;
}

TEST(SharedMemoryVerify, LocalAllocOffsetIsABytOffsetOrUnassigned) {
  std::string m = verify_message(kValue + "  %1 = local_alloc {offset = -2} : " + kBuf + "\n");
  EXPECT_NE(m.find("'local_alloc' offset must be a byte offset >= 0, or -1 before "
                   "allocate-shared, found -2"),
            std::string::npos)
      << m;
}

TEST(SharedMemoryVerify, LocalLoadReadsABuffer) {
  std::string m = verify_message(kValue + "  %1 = local_load %0 : " + kRegs + "\n");
  EXPECT_NE(m.find("'local_load' buffer must be a tensor type with a #shared layout, found "
                   "tensor<8xi32, #blocked<register=[1], lane=[2,4]>>"),
            std::string::npos)
      << m;
}

TEST(SharedMemoryVerify, LocalStoreValueMatchesTheBuffer) {
  std::string m = verify_message("  %0 = arange {start = 0, end = 4} : tensor<4xi32, "
                                 "#blocked<lane=[1,2]>>\n  %1 = local_alloc {offset = -1} : " +
                                 kBuf + "\n  local_store %1, %0\n");
  EXPECT_NE(m.find("'local_store' value must be the buffer's shape and element in a register "
                   "layout, found tensor<8xi32, #shared<register=[1,2,4]>> and tensor<4xi32, "
                   "#blocked<lane=[1,2]>>"),
            std::string::npos)
      << m;
}

TEST(SharedMemoryVerify, BarrierOnlyAfterGpuLoweringStarts) {
  std::string m = verify_message("  barrier\n");
  EXPECT_NE(m.find("'barrier' may only appear once GPU lowering has started"), std::string::npos)
      << m;
}

TEST(SharedMemoryParse, KernelSharedBytesAreNotNegative) {
  testing::expect_error([] { parse_module("kernel @k() shared(-4) {\n  return\n}\n", "p.tir"); },
                        {"p.tir:1:20: expected a byte count >= 0, found -4"});
}

TEST(SharedMemoryPrint, OptionalAttributesAppearOnceSet) {
  auto m = parse_module("kernel @k() {\n" + kValue + "  %1 = reduce_sum %0 {axis = 0} : i32\n"
                        "  return\n}\n", "p.tir");
  Op& reduce = **std::next(m->functions[0]->body.ops().begin());
  EXPECT_NE(print(*m).find("  %1 = reduce_sum %0 {axis = 0} : i32\n"), std::string::npos) << print(*m);
  reduce.attrs()[1] = Attr::of_int(16);
  reduce.attrs()[2] = Attr::of_int(32);
  m->functions[0]->shared_bytes = 48;
  EXPECT_NE(print(*m).find("  %1 = reduce_sum %0 {axis = 0, scratch_offset = 16, scratch_bytes = 32} : i32\n"),
            std::string::npos)
      << print(*m);
  EXPECT_NE(print(*m).find("kernel @k() shared(48) {"), std::string::npos) << print(*m);
}

} // namespace
} // namespace tessel::ir
