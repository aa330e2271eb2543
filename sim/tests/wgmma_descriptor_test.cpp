// The wgmma matrix descriptor decoded bit by bit and the canonical layouts it addresses, and
// one expected failure per wgmma diagnostic of the simulator (in-flight register access,
// missing wait, partial warpgroup, divergent lanes, missing fence, register accessed after the
// fence, bad descriptor swizzle,
// shared operand overwritten before the wait, shapes and operand forms the ISA does not define).
#include "sim_test_util.h"

#include "../src/wgmma.h"

#include <string>
#include <vector>

namespace tessel::sim::testing {
namespace {

uint64_t descriptor(uint32_t start, uint32_t lbo, uint32_t sbo, uint32_t base, uint32_t swizzle) {
  return uint64_t(start >> 4) | uint64_t(lbo >> 4) << 16 | uint64_t(sbo >> 4) << 32 |
         uint64_t(base) << 49 | uint64_t(swizzle) << 62;
}

TEST(WgmmaDescriptor, DecodesEveryField) {
  MatrixDescriptor d = decode_matrix_descriptor(descriptor(0x3fff0, 0x3fff0, 0x120, 5, 2));
  EXPECT_EQ(d.start, 0x3fff0u);
  EXPECT_EQ(d.leading, 0x3fff0u);
  EXPECT_EQ(d.stride, 0x120u);
  EXPECT_EQ(d.base_offset, 5u);
  EXPECT_EQ(d.swizzle, WgmmaSwizzle::b64);
  // Bits outside the fields (14-15, 30-31, 46-48, 52-61) are ignored.
  MatrixDescriptor e =
      decode_matrix_descriptor(descriptor(0x100, 0x10, 0x400, 0, 1) | 0x3ff1'c000'c000'c000ull);
  EXPECT_EQ(e.start, 0x100u);
  EXPECT_EQ(e.leading, 0x10u);
  EXPECT_EQ(e.stride, 0x400u);
  EXPECT_EQ(e.base_offset, 0u);
  EXPECT_EQ(e.swizzle, WgmmaSwizzle::b128);
}

TEST(WgmmaDescriptor, KMajorInterleaveUsesCoreMatrices) {
  // Core matrix = 8 rows x 16 bytes; LBO steps K by 16 bytes, SBO steps M/N by 8 rows.
  MatrixDescriptor d = decode_matrix_descriptor(descriptor(0x400, 128, 512, 0, 0));
  EXPECT_EQ(descriptor_element_address(d, 0, 0, 2, false), 0x400u);
  EXPECT_EQ(descriptor_element_address(d, 3, 5, 2, false), 0x400u + 3 * 16 + 10);
  EXPECT_EQ(descriptor_element_address(d, 3, 9, 2, false), 0x400u + 3 * 16 + 2 + 128);
  EXPECT_EQ(descriptor_element_address(d, 11, 9, 2, false), 0x400u + 512 + 3 * 16 + 2 + 128);
}

TEST(WgmmaDescriptor, KMajorSwizzleXorsChunkWithRow) {
  // 128B: row r is 128 bytes; chunk c of row r lands at chunk c ^ (r % 8).
  MatrixDescriptor d = decode_matrix_descriptor(descriptor(0x800, 16, 1024, 0, 1));
  EXPECT_EQ(descriptor_element_address(d, 0, 0, 2, false), 0x800u);
  EXPECT_EQ(descriptor_element_address(d, 5, 9, 2, false), 0x800u + 5 * 128 + ((1 ^ 5) * 16) + 2);
  EXPECT_EQ(descriptor_element_address(d, 13, 0, 2, false), 0x800u + 1024 + 5 * 128 + 5 * 16);
  // A start advanced by 32 bytes along K (the second k16 step) is swizzled on absolute bits.
  MatrixDescriptor k1 = decode_matrix_descriptor(descriptor(0x820, 16, 1024, 0, 1));
  EXPECT_EQ(descriptor_element_address(k1, 3, 0, 2, false), 0x800u + 3 * 128 + (2 ^ 3) * 16);
  // 32B: rows of 32 bytes, chunk bit 4 XOR address bit 7 (row / 4).
  MatrixDescriptor s = decode_matrix_descriptor(descriptor(0, 16, 256, 0, 3));
  EXPECT_EQ(descriptor_element_address(s, 4, 0, 2, false), 4u * 32 + 16);
  EXPECT_EQ(descriptor_element_address(s, 3, 8, 2, false), 3u * 32 + 16);
  // 64B: rows of 64 bytes, chunk bits 4-5 XOR address bits 7-8 (row / 2).
  MatrixDescriptor m = decode_matrix_descriptor(descriptor(0, 16, 512, 0, 2));
  EXPECT_EQ(descriptor_element_address(m, 7, 0, 2, false), 7u * 64 + (3 * 16 ^ 0));
}

TEST(WgmmaDescriptor, MnMajorLayouts) {
  // Interleave: 16 bytes of MN per core-matrix row, k rows of 16 bytes; SBO steps MN by 16
  // bytes' worth of elements, LBO steps K by 8 rows.
  MatrixDescriptor d = decode_matrix_descriptor(descriptor(0, 1024, 128, 0, 0));
  EXPECT_EQ(descriptor_element_address(d, 9, 3, 2, true), 128u + 2 + 3 * 16);
  EXPECT_EQ(descriptor_element_address(d, 9, 11, 2, true), 128u + 2 + 3 * 16 + 1024);
  // 128B: 64 f16 of MN per 128-byte row, rows along K; LBO steps MN by 64 elements, SBO K by 8.
  MatrixDescriptor s = decode_matrix_descriptor(descriptor(0, 2048, 1024, 0, 1));
  EXPECT_EQ(descriptor_element_address(s, 8, 1, 2, true), 128u + (1 ^ 1) * 16);
  EXPECT_EQ(descriptor_element_address(s, 70, 9, 2, true), 2048u + 1024 + 128 + (0 ^ 1) * 16 + 12);
}

TEST(WgmmaDescriptor, BaseOffsetMustMatchTheStartsPatternPhase) {
  EXPECT_EQ(descriptor_error(decode_matrix_descriptor(descriptor(0x400, 16, 1024, 0, 1))), "");
  EXPECT_EQ(descriptor_error(decode_matrix_descriptor(descriptor(0x480, 16, 1024, 1, 1))), "");
  EXPECT_NE(descriptor_error(decode_matrix_descriptor(descriptor(0x480, 16, 1024, 0, 1))), "");
  // 32B repeats every 256 bytes: a 256-aligned start needs no base offset.
  EXPECT_EQ(descriptor_error(decode_matrix_descriptor(descriptor(0x100, 16, 256, 0, 3))), "");
  EXPECT_EQ(descriptor_error(decode_matrix_descriptor(descriptor(0x480, 16, 256, 0, 0))), "");
}

// One warpgroup; A (64 x 16 f16, interleave) at shared 0, B (8 x 16) at 2048, all zero;
// %f0..%f3 the accumulators, %rd2/%rd3 the descriptors, %p0 true. Each thread stores its
// accumulators to out[tid * 4 ..].
std::string kernel(const std::string& body) {
  return R"(.version 8.0
.target sm_90a
.address_size 64
.shared .align 1024 .b8 tile[4096];
.visible .entry k(.param .u64 out)
{
  .reg .pred %p<4>;
  .reg .b32 %r<16>;
  .reg .f32 %f<8>;
  .reg .b64 %rd<16>;
  ld.param.u64 %rd1, [out];
  mov.u32 %r0, %tid.x;
  shl.b32 %r1, %r0, 4;
  mov.u32 %r2, tile;
  add.u32 %r3, %r2, %r1;
  mov.u32 %r4, 0;
  st.shared.v4.u32 [%r3], {%r4, %r4, %r4, %r4};
  st.shared.v4.u32 [%r3+2048], {%r4, %r4, %r4, %r4};
  bar.sync 0;
  mov.f32 %f0, 0f3F800000;
  mov.f32 %f1, 0f3F800000;
  mov.f32 %f2, 0f3F800000;
  mov.f32 %f3, 0f3F800000;
  mov.b64 %rd2, 0x0000001000080000;
  mov.b64 %rd3, 0x0000001000080080;
  setp.eq.u32 %p0, %r4, 0;
)" + body +
         R"(
  mul.wide.u32 %rd4, %r0, 16;
  add.s64 %rd5, %rd1, %rd4;
  st.global.v4.f32 [%rd5], {%f0, %f1, %f2, %f3};
  ret;
}
)";
}

const char* kMma =
    "  wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16 {%f0, %f1, %f2, %f3}, %rd2, "
    "%rd3, %p0, 1, 1, 0, 0;\n";

Result<LaunchReport> run(const std::string& body, uint32_t threads = 128) {
  Device dev;
  uint64_t out = *dev.malloc(threads * 16);
  std::vector<KernelArg> args = {KernelArg::ptr(out)};
  return dev.launch(kernel(body), "k", {1, 1, 1}, {threads, 1, 1}, 0, args);
}

const Error* find(const LaunchReport& r, const std::string& text) {
  for (const Error& e : r.errors)
    if (e.message.find(text) != std::string::npos)
      return &e;
  return nullptr;
}

std::string all(const LaunchReport& r) {
  std::string s;
  for (const Error& e : r.errors)
    s += e.to_string() + "\n";
  return s;
}

TEST(WgmmaErrors, CleanPipelineHasNoErrors) {
  auto r = run(std::string("  wgmma.fence.sync.aligned;\n") + kMma +
               "  wgmma.commit_group.sync.aligned;\n  wgmma.wait_group.sync.aligned 0;\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->errors.empty()) << all(*r);
}

TEST(WgmmaErrors, AccumulatorReadWhileInFlight) {
  auto r = run(std::string("  wgmma.fence.sync.aligned;\n") + kMma +
               "  wgmma.commit_group.sync.aligned;\n  add.f32 %f5, %f1, %f1;\n"
               "  wgmma.wait_group.sync.aligned 0;\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const Error* e = find(*r, "still in flight");
  ASSERT_NE(e, nullptr) << all(*r);
  EXPECT_EQ(e->kind, ErrorKind::sync);
  EXPECT_EQ(e->instruction, "add.f32");
  EXPECT_NE(e->message.find("%f1, an accumulator register of the wgmma.mma_async at ptx line"),
            std::string::npos)
      << e->message;
}

TEST(WgmmaErrors, MissingWait) {
  auto r = run(std::string("  wgmma.fence.sync.aligned;\n") + kMma +
               "  wgmma.commit_group.sync.aligned;\n  ret;\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const Error* e = find(*r, "still in flight when the warp exits");
  ASSERT_NE(e, nullptr) << all(*r);
  EXPECT_EQ(e->instruction, "wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16");
  EXPECT_NE(e->message.find("never completed by a wgmma.wait_group"), std::string::npos);
}

TEST(WgmmaErrors, UncommittedWgmmaIsNotCoveredByTheWait) {
  auto r = run(std::string("  wgmma.fence.sync.aligned;\n") + kMma +
               "  wgmma.wait_group.sync.aligned 0;\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_NE(find(*r, "reads or writes %f0"), nullptr) << all(*r); // the final store
  EXPECT_NE(find(*r, "never committed"), nullptr) << all(*r);
}

TEST(WgmmaErrors, WaitGroupLeavesTheNewestGroupsInFlight) {
  // Two groups on different accumulators; wait_group 1 completes only the first.
  const std::string second = "  wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16 {%f4, %f5, %f6, "
                             "%f7}, %rd2, %rd3, %p0, 1, 1, 0, 0;\n";
  auto r = run(std::string("  mov.f32 %f4, 0f00000000;\n  mov.f32 %f5, 0f00000000;\n"
                           "  mov.f32 %f6, 0f00000000;\n  mov.f32 %f7, 0f00000000;\n"
                           "  wgmma.fence.sync.aligned;\n") +
               kMma + "  wgmma.commit_group.sync.aligned;\n" + second +
               "  wgmma.commit_group.sync.aligned;\n  wgmma.wait_group.sync.aligned 1;\n"
               "  add.f32 %f0, %f0, %f1;\n  add.f32 %f6, %f6, %f7;\n"
               "  wgmma.wait_group.sync.aligned 0;\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->errors.size(), 1u) << all(*r);
  EXPECT_NE(r->errors[0].message.find("reads or writes %f6, an accumulator register"),
            std::string::npos)
      << all(*r);
}

TEST(WgmmaErrors, DescriptorOutsideSharedMemory) {
  auto r = run(std::string("  mov.b64 %rd3, 0x0000001000083f00;\n  wgmma.fence.sync.aligned;\n") +
               kMma + "  wgmma.commit_group.sync.aligned;\n  wgmma.wait_group.sync.aligned 0;\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_FALSE(r->errors.empty());
  EXPECT_EQ(r->errors[0].kind, ErrorKind::memcheck) << all(*r);
  EXPECT_EQ(r->errors[0].instruction, "wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16");
  EXPECT_NE(r->errors[0].message.find("out-of-bounds shared read"), std::string::npos) << all(*r);
}

TEST(WgmmaErrors, PartialWarpgroup) {
  auto r = run(std::string("  wgmma.fence.sync.aligned;\n") + kMma +
                   "  wgmma.commit_group.sync.aligned;\n  wgmma.wait_group.sync.aligned 0;\n",
               96);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const Error* e = find(*r, "needs a full warpgroup of 4 warps");
  ASSERT_NE(e, nullptr) << all(*r);
  EXPECT_NE(e->message.find("a CTA of 96 threads"), std::string::npos) << e->message;
}

TEST(WgmmaErrors, WarpOfTheWarpgroupSkipsTheWgmma) {
  // Warp 2 branches around the whole pipeline.
  auto r =
      run(std::string("  shr.u32 %r5, %r0, 5;\n  setp.eq.u32 %p1, %r5, 2;\n  @%p1 bra SKIP;\n"
                      "  wgmma.fence.sync.aligned;\n") +
          kMma + "  wgmma.commit_group.sync.aligned;\n  wgmma.wait_group.sync.aligned 0;\nSKIP:\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const Error* e = find(*r, "all 4 warps of a warpgroup must execute each wgmma instruction");
  ASSERT_NE(e, nullptr) << all(*r);
  EXPECT_NE(e->message.find("time(s) in warp 2 of warpgroup 0"), std::string::npos) << e->message;
}

TEST(WgmmaErrors, DescriptorDiffersBetweenWarps) {
  // Warp 3 points B at the A tile.
  auto r =
      run(std::string("  shr.u32 %r5, %r0, 5;\n  setp.eq.u32 %p1, %r5, 3;\n"
                      "  @%p1 mov.b64 %rd3, 0x0000001000080000;\n  wgmma.fence.sync.aligned;\n") +
          kMma + "  wgmma.commit_group.sync.aligned;\n  wgmma.wait_group.sync.aligned 0;\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const Error* e = find(*r, "got different descriptors or scale-d in warps 0 and 3 of warpgroup 0");
  ASSERT_NE(e, nullptr) << all(*r);
}

TEST(WgmmaErrors, DivergentLanes) {
  auto r =
      run(std::string("  and.b32 %r5, %r0, 1;\n  setp.eq.u32 %p1, %r5, 0;\n"
                      "  wgmma.fence.sync.aligned;\n  @%p1 ") +
          (kMma + 2) + "  wgmma.commit_group.sync.aligned;\n  wgmma.wait_group.sync.aligned 0;\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const Error* e = find(*r, "is .sync.aligned over a warpgroup, but only lanes 0x55555555");
  ASSERT_NE(e, nullptr) << all(*r);
}

TEST(WgmmaErrors, MissingFence) {
  auto r = run(std::string(kMma) +
               "  wgmma.commit_group.sync.aligned;\n  wgmma.wait_group.sync.aligned 0;\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_NE(find(*r, "has no wgmma.fence before it"), nullptr) << all(*r);
}

TEST(WgmmaErrors, RegisterWrittenAfterTheFence) {
  auto r = run(std::string("  wgmma.fence.sync.aligned;\n  mov.f32 %f2, 0f40000000;\n") + kMma +
               "  wgmma.commit_group.sync.aligned;\n  wgmma.wait_group.sync.aligned 0;\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const Error* e = find(*r, "accessed it after the last wgmma.fence");
  ASSERT_NE(e, nullptr) << all(*r);
  EXPECT_NE(e->message.find("uses %f2 as an accumulator, but 'mov.f32' at ptx line"),
            std::string::npos)
      << e->message;
  // Fenced again after the write: clean.
  auto ok = run(std::string("  wgmma.fence.sync.aligned;\n  mov.f32 %f2, 0f40000000;\n"
                            "  wgmma.fence.sync.aligned;\n") +
                kMma + "  wgmma.commit_group.sync.aligned;\n  wgmma.wait_group.sync.aligned 0;\n");
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_TRUE(ok->errors.empty()) << all(*ok);
}

TEST(WgmmaErrors, BadDescriptorSwizzle) {
  // B as 128B-swizzled at shared 0x880: one 128-byte row past the pattern's 1024-byte repeat,
  // with base offset 0.
  auto r = run(std::string("  mov.b64 %rd3, 0x4000004000010088;\n  wgmma.fence.sync.aligned;\n") +
               kMma + "  wgmma.commit_group.sync.aligned;\n  wgmma.wait_group.sync.aligned 0;\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const Error* e = find(*r, "bad B descriptor 0x4000004000010088");
  ASSERT_NE(e, nullptr) << all(*r);
  EXPECT_NE(e->message.find("the 128B swizzle pattern repeats every 1024 bytes, but the start "
                            "address 0x880 is 128 bytes past a repeat and the base offset is 0"),
            std::string::npos)
      << e->message;
}

TEST(WgmmaErrors, SharedOperandOverwrittenBeforeTheWait) {
  auto r = run(std::string("  wgmma.fence.sync.aligned;\n") + kMma +
               "  wgmma.commit_group.sync.aligned;\n  mov.u32 %r6, 0x3c003c00;\n"
               "  st.shared.u32 [%r3+2048], %r6;\n  wgmma.wait_group.sync.aligned 0;\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const Error* e = find(*r, "shared memory of operand B");
  ASSERT_NE(e, nullptr) << all(*r);
  EXPECT_NE(e->message.find("was overwritten after the wgmma was issued and before the "
                            "wgmma.wait_group that completes it"),
            std::string::npos);
}

Error parse_failure(const std::string& inst) {
  auto m = parse_module(kernel(std::string("  wgmma.fence.sync.aligned;\n") + inst));
  EXPECT_FALSE(m.ok()) << inst;
  return m.ok() ? Error{} : m.error();
}

// Every N from 8 to 256 in steps of 8 for each input type: accepted exactly where the ISA lists
// the shape (s8/u8: 8, 16, 24 and multiples of 16), with A from a descriptor and from registers.
TEST(WgmmaForms, AcceptsEveryShapeTheIsaLists) {
  struct Form {
    const char *types, *tail_desc, *tail_regs;
    unsigned k, per_reg; // K, accumulator elements per register
    bool integer;
  };
  const Form forms[] = {
      {"f32.f16.f16", ", 1, 1, 0, 1", ", 1, 1, 1", 16, 1, false},
      {"f16.f16.f16", ", 1, -1, 1, 0", ", -1, 1, 0", 16, 2, false},
      {"f32.bf16.bf16", ", 1, 1, 0, 0", ", 1, 1, 0", 16, 1, false},
      {"f32.tf32.tf32", ", 1, 1", ", 1, 1", 8, 1, false},
      {"f32.e4m3.e5m2", ", 1, 1", ", 1, 1", 32, 1, false},
      {"f16.e5m2.e4m3", ", 1, 1", ", 1, 1", 32, 2, false},
      {"s32.s8.u8", "", "", 32, 1, true},
  };
  for (const Form& f : forms)
    for (unsigned n = 8; n <= 256; n += 8)
      for (bool regs : {false, true}) {
        std::string d;
        for (unsigned i = 0; i < n / 2 / f.per_reg; ++i)
          d += (i ? ", %r" : "%r") + std::to_string(i);
        std::string inst = "wgmma.mma_async.sync.aligned.m64n" + std::to_string(n) + "k" +
                           std::to_string(f.k) + "." + f.types + " {" + d + "}, " +
                           (regs ? "{%r0, %r1, %r2, %r3}" : "%rd0") + ", %rd1, %p0" +
                           (regs ? f.tail_regs : f.tail_desc) + ";";
        auto m = parse_module(".version 8.0\n.target sm_90a\n.address_size 64\n.visible .entry "
                              "k()\n{\n  .reg .pred %p<1>;\n  .reg .b32 %r<128>;\n  .reg .b64 "
                              "%rd<2>;\n  " +
                              inst + "\n}\n");
        const bool listed = !f.integer || n <= 24 || n % 16 == 0;
        EXPECT_EQ(m.ok(), listed) << inst << (m.ok() ? "" : ": " + m.error().to_string());
      }
}

TEST(WgmmaErrors, ShapeTheDtypeDoesNotAllow) {
  Error e = parse_failure("  wgmma.mma_async.sync.aligned.m64n8k32.f32.f16.f16 {%f0, %f1, %f2, "
                          "%f3}, %rd2, %rd3, %p0, 1, 1, 0, 0;\n");
  EXPECT_EQ(e.kind, ErrorKind::parse);
  EXPECT_NE(e.message.find("shape m64n8k32 does not exist for .f16 inputs: M is 64, K is 16"),
            std::string::npos)
      << e.to_string();
  Error n = parse_failure(
      "  wgmma.mma_async.sync.aligned.m64n40k32.s32.s8.s8 {%r0, %r1, %r2, %r3, %r4, %r5, %r6, "
      "%r7, %r8, %r9, %r10, %r11, %r12, %r13, %r14, %r15, %r0, %r1, %r2, %r3}, %rd2, %rd3, "
      "%p0;\n");
  EXPECT_NE(n.message.find("N is 8, 16, 24 or 32..256 in steps of 16"), std::string::npos)
      << n.to_string();
}

TEST(WgmmaErrors, OperandFormsAreChecked) {
  Error count = parse_failure("  wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16 {%f0, %f1, "
                              "%f2, %f3}, %rd2, %rd3, %p0, 1, 1;\n");
  EXPECT_NE(count.message.find("takes 8 operands (d, a-desc, b-desc, scale-d, imm-scale-a, "
                               "imm-scale-b, imm-trans-a, imm-trans-b), found 6"),
            std::string::npos)
      << count.to_string();
  Error acc = parse_failure("  wgmma.mma_async.sync.aligned.m64n16k16.f32.f16.f16 {%f0, %f1, "
                            "%f2, %f3}, %rd2, %rd3, %p0, 1, 1, 0, 0;\n");
  EXPECT_NE(acc.message.find("a braced list of 8 registers (N = 16), found 4"), std::string::npos)
      << acc.to_string();
  Error types = parse_failure("  wgmma.mma_async.sync.aligned.m64n8k16.f16.bf16.bf16 {%f0, %f1}, "
                              "%rd2, %rd3, %p0, 1, 1, 0, 0;\n");
  EXPECT_NE(types.message.find(".bf16 inputs accumulate into .f32"), std::string::npos)
      << types.to_string();
  Error constant = parse_failure("  wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16 {%f0, %f1, "
                                 "%f2, 7}, %rd2, %rd3, %p0, 1, 1, 0, 0;\n");
  EXPECT_NE(constant.message.find("the accumulator list must name registers"), std::string::npos)
      << constant.to_string();
  Error scale = parse_failure("  wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16 {%f0, %f1, "
                              "%f2, %f3}, %rd2, %rd3, %p0, 2, 1, 0, 0;\n");
  EXPECT_NE(scale.message.find("(imm-scale) must be the immediate 1 or -1"), std::string::npos)
      << scale.to_string();
}

TEST(WgmmaErrors, WaitGroupNeedsItsCount) {
  Error e = parse_failure("  wgmma.wait_group.sync.aligned;\n");
  EXPECT_NE(e.message.find("takes one immediate: the number of wgmma groups left in flight"),
            std::string::npos)
      << e.to_string();
}

} // namespace
} // namespace tessel::sim::testing
