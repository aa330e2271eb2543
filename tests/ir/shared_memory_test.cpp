// The shared-memory ops of the GPU stage (ops.def: local_alloc, local_load, local_store, barrier),
// the optional scratch attributes and the kernel's `shared(N)`: one test per parse and verify
// diagnostic.
#include "support/expect_error.h"
#include "tessel/ir/parser.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/verifier.h"

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
  EXPECT_NE(
      m.find("'local_alloc' result must be a tensor type with a #shared layout (a "
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
  auto m = parse_module("kernel @k() {\n" + kValue +
                            "  %1 = reduce_sum %0 {axis = 0} : i32\n"
                            "  return\n}\n",
                        "p.tir");
  Op& reduce = **std::next(m->functions[0]->body.ops().begin());
  EXPECT_NE(print(*m).find("  %1 = reduce_sum %0 {axis = 0} : i32\n"), std::string::npos)
      << print(*m);
  reduce.attrs()[1] = Attr::of_int(16);
  reduce.attrs()[2] = Attr::of_int(32);
  m->functions[0]->shared_bytes = 48;
  EXPECT_NE(print(*m).find(
                "  %1 = reduce_sum %0 {axis = 0, scratch_offset = 16, scratch_bytes = 32} : i32\n"),
            std::string::npos)
      << print(*m);
  EXPECT_NE(print(*m).find("kernel @k() shared(48) {"), std::string::npos) << print(*m);
}

// ---- the software pipeliner's ops: rings, slots, cp.async (codegen/gpu/pipeline.cpp) ----------

const std::string kPtrs = "tensor<8xptr<i32>, #blocked<register=[1], lane=[2,4]>>";
const std::string kMask = "tensor<8xi1, #blocked<register=[1], lane=[2,4]>>";
// %1: the pointers, %2: a mask, %3: a 2-slot ring, %4: slot 0 of it.
const std::string kAsyncPrelude = "  %0 = splat %arg1 : " + kPtrs +
                                  "\n  %1 = arange {start = 0, end = 8} : " + kRegs +
                                  "\n  %2 = cmp_lt %1, %1 : " + kMask +
                                  "\n  %3 = local_alloc {offset = -1, slots = 2} : " + kBuf +
                                  "\n  %4 = local_slot %3, %arg0 : " + kBuf + "\n";

std::string verify_async(const std::string& body) {
  auto m = parse_module("kernel @k(%arg0: i32, %arg1: ptr<i32>) {\n" + kAsyncPrelude + body +
                            "  return\n}\n",
                        "v.tir");
  auto e = verify(*m);
  return e ? e->message : "";
}

TEST(SharedMemoryVerify, PipelinedKernelVerifies) {
  EXPECT_EQ(verify_async("  async_copy %0, %4, %2 {vec = 1}\n  async_copy %0, %4 {vec = 1}\n"
                         "  async_commit\n  async_wait {pending = 1}\n  barrier\n"
                         "  %5 = local_load %4 : " +
                         kRegs + "\n"),
            "");
}

TEST(SharedMemoryVerify, LocalAllocSlotsAtLeastOne) {
  std::string m =
      verify_message(kValue + "  %1 = local_alloc {offset = -1, slots = 0} : " + kBuf + "\n");
  EXPECT_NE(m.find("'local_alloc' slots must be at least 1, found 0"), std::string::npos) << m;
}

TEST(SharedMemoryVerify, LocalSlotIndexIsAnI32) {
  std::string m = verify_async("  %5 = local_slot %3, %1 : " + kBuf + "\n");
  EXPECT_NE(m.find("'local_slot' the slot index must be an i32 scalar, found tensor<8xi32"),
            std::string::npos)
      << m;
}

TEST(SharedMemoryVerify, LocalSlotHasTheBufferType) {
  std::string m =
      verify_async("  %5 = local_slot %3, %arg0 : tensor<8xi32, #shared<register=[4,2,1]>>\n");
  EXPECT_NE(m.find("'local_slot' result must have the buffer's type tensor<8xi32, "
                   "#shared<register=[1,2,4]>>, found tensor<8xi32, #shared<register=[4,2,1]>>"),
            std::string::npos)
      << m;
}

TEST(SharedMemoryVerify, LocalSlotOfABuffer) {
  std::string m = verify_async("  %5 = local_slot %1, %arg0 : " + kRegs + "\n");
  EXPECT_NE(m.find("'local_slot' buffer must be a tensor type with a #shared layout"),
            std::string::npos)
      << m;
}

TEST(SharedMemoryVerify, AsyncCopyReadsGlobalPointers) {
  std::string m = verify_async("  async_copy %1, %4 {vec = 1}\n");
  EXPECT_NE(m.find("'async_copy' the source must be a tensor of global pointers with a layout, "
                   "found tensor<8xi32"),
            std::string::npos)
      << m;
}

TEST(SharedMemoryVerify, AsyncCopyWritesABufferOfThePointee) {
  std::string m = verify_async("  async_copy %0, %1 {vec = 1}\n");
  EXPECT_NE(m.find("'async_copy' the destination must be a #shared buffer of the source's shape "
                   "and pointee"),
            std::string::npos)
      << m;
}

// The third operand is an i1 mask or (the pipeliner's prefix-mask copies) i32 byte counts;
// anything else, e.g. i64, is an error.
TEST(SharedMemoryVerify, AsyncCopyMaskIsBooleanInTheSourceLayout) {
  std::string m = verify_async("  %5 = cast %1 : tensor<8xi64, #blocked<register=[1], "
                               "lane=[2,4]>>\n  async_copy %0, %4, %5 {vec = 1}\n");
  EXPECT_NE(m.find("'async_copy' the mask must be i1 (or the i32 bytes of each copy) of the "
                   "source's shape and layout"),
            std::string::npos)
      << m;
  EXPECT_EQ(verify_async("  async_copy %0, %4, %1 {vec = 1}\n"), "");
}

TEST(SharedMemoryVerify, AsyncCopyMovesFourEightOrSixteenBytes) {
  std::string m = verify_async("  async_copy %0, %4 {vec = 8}\n");
  EXPECT_NE(m.find("'async_copy' vec = 8 elements of i32 is not a 4, 8 or 16-byte copy"),
            std::string::npos)
      << m;
}

TEST(SharedMemoryVerify, AsyncCopyTakesTwoOrThreeOperands) {
  std::string m = verify_async("  async_copy %0 {vec = 1}\n");
  EXPECT_NE(m.find("'async_copy' takes a pointer tensor, a buffer and an optional mask, found 1 "
                   "operands"),
            std::string::npos)
      << m;
}

TEST(SharedMemoryVerify, AsyncWaitPendingNotNegative) {
  std::string m = verify_async("  async_wait {pending = -1}\n");
  EXPECT_NE(m.find("'async_wait' pending must be >= 0, found -1"), std::string::npos) << m;
}

// wgmma_wait (issue 15): pending >= 0, the result of the accumulator's type.
TEST(SharedMemoryVerify, WgmmaWaitPendingAndType) {
  std::string m = verify_async("  %9 = wgmma_wait %1 {pending = -1} : " + kRegs + "\n");
  EXPECT_NE(m.find("'wgmma_wait' pending must be >= 0, found -1"), std::string::npos) << m;
  m = verify_async("  %9 = wgmma_wait %1 {pending = 1} : " + kMask + "\n");
  EXPECT_NE(m.find("'wgmma_wait' the result must have the accumulator's type"), std::string::npos)
      << m;
  EXPECT_EQ(verify_async("  %9 = wgmma_wait %1 {pending = 1} : " + kRegs + "\n"), "");
}

TEST(SharedMemoryVerify, AsyncCommitOnlyAfterGpuLoweringStarts) {
  std::string m = verify_message("  async_commit\n");
  EXPECT_NE(m.find("'async_commit' may only appear once GPU lowering has started"),
            std::string::npos)
      << m;
}

// wgmma's fence (issue 15): fence_async_shared between an async_wait and a barrier verifies, and
// is a GPU-stage op like the other shared-memory ops.
TEST(SharedMemoryVerify, FenceAsyncSharedIsAGpuStageOp) {
  EXPECT_EQ(verify_async("  async_copy %0, %4, %2 {vec = 1}\n  async_commit\n"
                         "  async_wait {pending = 0}\n  fence_async_shared\n  barrier\n"),
            "");
  std::string m = verify_message("  fence_async_shared\n");
  EXPECT_NE(m.find("'fence_async_shared' may only appear once GPU lowering has started"),
            std::string::npos)
      << m;
}

TEST(SharedMemoryVerify, ForNumStagesInRange) {
  std::string m =
      verify_message("  %0 = constant {value = 0} : i32\n  for %0, %0, %0 {num_stages = 0} {\n"
                     "  ^(%i: i32):\n    yield\n  }\n");
  EXPECT_NE(m.find("'for' num_stages must be between 1 and 16, found 0"), std::string::npos) << m;
}

} // namespace
} // namespace tessel::ir
