// Memory-side instruction semantics: the atomic and reduction operations, cp.async with a
// source size (zero fill) and wait_all, vector packing moves, special registers, dynamic
// shared memory, and the uninitialised-shared-memory check.
#include "ptx_snippet.h"

namespace tessel::sim::testing {
namespace {

TEST(MemoryInstructions, AtomicOperations) {
  // Lane l applies op(l) to a shared word initialised to 100; the final word is checked.
  struct Case {
    const char* op;
    uint32_t expect;
  };
  const Case cases[] = {
      {"atom.shared.min.s32 %r3, [%r10], %r0;", 0},
      {"atom.shared.max.u32 %r3, [%r10], %r0;", 100},
      {"atom.shared.exch.b32 %r3, [%r10], %r0;", 31}, // the last lane's value
      {"atom.shared.and.b32 %r3, [%r10], %r0;", 0},
      {"atom.shared.or.b32 %r3, [%r10], %r0;", 100 | 31},
      {"atom.shared.xor.b32 %r3, [%r10], 1;", 100}, // 32 flips
      {"atom.shared.dec.u32 %r3, [%r10], 200;", 68},
      {"red.shared.add.u32 [%r10], %r0;", 100 + 496},
  };
  for (const Case& c : cases) {
    std::string body = std::string(R"(
  mov.u32 %r10, sh;
  setp.eq.u32 %p1, %r0, 0;
  @%p1 st.shared.u32 [%r10], 100;
  bar.sync 0;
  )") + c.op + R"(
  bar.sync 0;
  ld.shared.u32 %r1, [%r10];
)";
    auto r = run_snippet(body, {}, 32, ".shared .align 4 .b8 sh[4];");
    EXPECT_TRUE(r.report.ok()) << c.op << "\n" << errors_text(r.report);
    EXPECT_EQ(r.out[0], c.expect) << c.op;
  }
}

TEST(MemoryInstructions, CpAsyncZeroFillAndWaitAll) {
  // 16-byte copies with src-size 8: bytes 8..15 of the destination are zero-filled.
  std::string body = R"(
  mov.u32 %r10, buf;
  and.b32 %r11, %r0, 3;
  shl.b32 %r12, %r11, 4;
  add.u32 %r13, %r10, %r12;
  setp.lt.u32 %p1, %r0, 4;
  @%p1 cp.async.ca.shared.global [%r13], [%rd2], 16, 8;
  cp.async.wait_all;
  bar.sync 0;
  shl.b32 %r14, %r0, 2;
  and.b32 %r14, %r14, 63;
  add.u32 %r15, %r10, %r14;
  ld.shared.u32 %r1, [%r15];
)";
  auto r = run_snippet(body, {7, 8, 9, 10}, 32, ".shared .align 16 .b8 buf[64];");
  ASSERT_TRUE(r.report.ok()) << errors_text(r.report);
  for (uint32_t l = 0; l < 32; ++l) {
    uint32_t word = l % 16, within = word % 4;
    EXPECT_EQ(r.out[l], within < 2 ? 7 + within : 0u) << l;
  }
}

TEST(MemoryInstructions, PackAndUnpackMoves) {
  auto r = run_snippet("mov.b32 {%h1, %h2}, %r2; mov.b32 %r1, {%h2, %h1};", {0x11112222u});
  EXPECT_EQ(r.out[0], 0x22221111u);
  r = run_snippet("mov.b64 %rd6, {%r2, %r0}; mov.b64 {%r3, %r4}, %rd6; add.u32 %r1, %r3, %r4;",
                  {5});
  EXPECT_EQ(r.out[3], 3u);
  EXPECT_EQ(r.out[0], 5u);
}

TEST(MemoryInstructions, SpecialRegisters) {
  auto r = run_snippet(R"(
  mov.u32 %r3, %laneid;
  mov.u32 %r4, %warpid;
  mov.u32 %r5, %nwarpid;
  mov.u32 %r6, %smid;
  mov.u32 %r7, %lanemask_lt;
  popc.b32 %r7, %r7;
  mov.u32 %r8, %dynamic_smem_size;
  mad.lo.u32 %r1, %r4, 100, %r3;
  mad.lo.u32 %r1, %r5, 10000, %r1;
  add.u32 %r1, %r1, %r6;
  sub.u32 %r9, %r7, %r3;
  add.u32 %r1, %r1, %r9;
  add.u32 %r1, %r1, %r8;
  mov.u64 %rd6, %clock64;
)",
                       {}, 64);
  ASSERT_TRUE(r.report.ok()) << errors_text(r.report);
  for (uint32_t t = 0; t < 64; ++t)
    EXPECT_EQ(r.out[t], 20000 + (t / 32) * 100 + t % 32) << t;
}

TEST(MemoryInstructions, UninitialisedSharedReadIsReported) {
  auto r = run_snippet("mov.u32 %r10, sh; ld.shared.u32 %r1, [%r10];", {}, 32,
                       ".shared .align 4 .b8 sh[4];");
  const Error* e = find_error(r.report, ErrorKind::memcheck);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->message.find("uninitialised shared"), std::string::npos) << e->to_string();
  LaunchOptions o;
  o.check_uninitialized = false;
  r = run_snippet("mov.u32 %r10, sh; ld.shared.u32 %r1, [%r10];", {}, 32,
                  ".shared .align 4 .b8 sh[4];", o);
  EXPECT_TRUE(r.report.ok()) << errors_text(r.report);
}

TEST(MemoryInstructions, GenericAddressesOfSharedMemory) {
  // cvta.shared gives a generic address; a generic st/ld through it reaches shared memory and
  // is accounted for bank conflicts like ld.shared.
  auto r = run_snippet(R"(
  mov.u64 %rd6, sh;
  cvta.shared.u64 %rd7, %rd6;
  mul.wide.u32 %rd8, %r0, 4;
  add.s64 %rd9, %rd7, %rd8;
  st.u32 [%rd9], %r0;
  bar.sync 0;
  xor.b32 %r3, %r0, 1;
  mul.wide.u32 %rd10, %r3, 4;
  add.s64 %rd11, %rd7, %rd10;
  ld.u32 %r1, [%rd11];
  isspacep.shared %p1, %rd11;
  @!%p1 mov.u32 %r1, 999;
  cvta.to.shared.u64 %rd12, %rd11;
  cvt.u32.u64 %r4, %rd12;
  ld.shared.u32 %r5, [%r4];
  setp.ne.u32 %p2, %r5, %r1;
  @%p2 mov.u32 %r1, 777;
)",
                       {}, 32, ".shared .align 4 .b8 sh[128];");
  ASSERT_TRUE(r.report.ok()) << errors_text(r.report);
  for (uint32_t l = 0; l < 32; ++l)
    EXPECT_EQ(r.out[l], l ^ 1) << l;
  auto st = shared_totals(r.report.profile, "st.u32");
  EXPECT_EQ(st.requests, 1u);
  EXPECT_EQ(st.wavefronts, 1u);
}

TEST(MemoryInstructions, HintsAreAccepted) {
  // Cache policies, prefetches, sleeps and fences change nothing in the simulation.
  auto r = run_snippet(R"(
  createpolicy.fractional.L2::evict_last.b64 %rd6, 1.0;
  ld.global.L2::cache_hint.u32 %r1, [%rd5], %rd6;
  prefetch.global.L2 [%rd5];
  nanosleep.u32 100;
  membar.gl;
  fence.acq_rel.gpu;
  discard.global.L2 [%rd5], 128;
)",
                       {42});
  ASSERT_TRUE(r.report.ok()) << errors_text(r.report);
  EXPECT_EQ(r.out[0], 42u);
}

} // namespace
} // namespace tessel::sim::testing
