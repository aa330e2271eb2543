// Instruction semantics on hand-written PTX snippets, with expected values worked out from
// the PTX ISA in the comments: shuffles, votes, redux, prmt, lop3, bfe/bfi, conversions,
// comparisons, atomics, packed halves, local memory, calls, and the checks that go with them.
#include "ptx_snippet.h"

#include <bit>
#include <cmath>
#include <cstring>

namespace tessel::sim::testing {
namespace {

TEST(Instructions, ShflModesWithClampAndSegments) {
  // down 3 with c=0x1f: lanes 29..31 have j > 31 and keep their own value.
  auto r = run_snippet("shfl.sync.down.b32 %r1|%p1, %r0, 3, 0x1f, -1;", {});
  for (uint32_t l = 0; l < 32; ++l)
    EXPECT_EQ(r.out[l], l + 3 <= 31 ? l + 3 : l) << l;
  // up 2 with c=0: lanes 0,1 keep their value.
  r = run_snippet("shfl.sync.up.b32 %r1, %r0, 2, 0, -1;", {});
  for (uint32_t l = 0; l < 32; ++l)
    EXPECT_EQ(r.out[l], l >= 2 ? l - 2 : l) << l;
  // bfly 5 in segments of 8 lanes: c = (0x18 << 8) | 7: segmask = 0b11000 keeps lane bits
  // 3-4; maxLane = (lane & 0x18) | 7. j = lane ^ 5 stays inside the segment.
  r = run_snippet("shfl.sync.bfly.b32 %r1, %r0, 5, 0x1807, -1;", {});
  for (uint32_t l = 0; l < 32; ++l)
    EXPECT_EQ(r.out[l], l ^ 5) << l;
  // idx 2 with width 8 (c = 0x1807): j = (lane & 0x18) | (2 & 7).
  r = run_snippet("shfl.sync.idx.b32 %r1, %r0, 2, 0x1807, -1;", {});
  for (uint32_t l = 0; l < 32; ++l)
    EXPECT_EQ(r.out[l], (l & 0x18) | 2) << l;
}

TEST(Instructions, VoteBallotAndReduxUnderDivergence) {
  // Only even lanes vote; ballot of (tid < 10) among them = even lanes 0..8.
  auto r = run_snippet(R"(
  and.b32 %r3, %r0, 1;
  setp.ne.u32 %p1, %r3, 0;
  @%p1 bra DONE;
  setp.lt.u32 %p2, %r0, 10;
  vote.sync.ballot.b32 %r1, %p2, 0x55555555;
DONE:
)",
                       {});
  for (uint32_t l = 0; l < 32; ++l)
    EXPECT_EQ(r.out[l], l % 2 ? 0u : 0x155u) << l;
  r = run_snippet("redux.sync.add.u32 %r1, %r0, -1;", {});
  for (uint32_t l = 0; l < 32; ++l)
    EXPECT_EQ(r.out[l], 496u);
  r = run_snippet("redux.sync.max.s32 %r1, %r2, -1;", {5, static_cast<uint32_t>(-7), 40, 3});
  EXPECT_EQ(r.out[0], 40u);
  r = run_snippet("vote.sync.all.pred %p1, %p0, -1; setp.lt.u32 %p2, %r0, 32; vote.sync.all.pred "
                  "%p3, %p2, -1; selp.u32 %r1, 1, 0, %p3;",
                  {});
  EXPECT_EQ(r.out[5], 1u);
}

TEST(Instructions, PrmtLop3BfeBfi) {
  // prmt: a = 0x33221100 (bytes 0-3), b = 0x77665544 (bytes 4-7); selector 0x7531 picks
  // bytes 1,3,5,7 -> 0x77553311. With 0x8 in a nibble the sign of the byte is replicated.
  auto r = run_snippet(
      "mov.u32 %r3, 0x33221100; mov.u32 %r4, 0x77665544; prmt.b32 %r1, %r3, %r4, 0x7531;", {});
  EXPECT_EQ(r.out[0], 0x77553311u);
  r = run_snippet("mov.u32 %r3, 0x000080ff; prmt.b32 %r1, %r3, 0, 0x4498;", {});
  // byte0 <- sign of byte0 (0xff), byte1 <- sign of byte1 (0x80), bytes 2,3 <- b.byte0 = 0.
  EXPECT_EQ(r.out[0], 0x0000ffffu);
  // lop3 with immLut 0x96 = a ^ b ^ c; 0xe8 = majority.
  r = run_snippet("mov.u32 %r3, 0xf0f0; mov.u32 %r4, 0xff00; mov.u32 %r5, 0xaaaa; lop3.b32 %r1, "
                  "%r3, %r4, %r5, 0x96;",
                  {});
  EXPECT_EQ(r.out[0], 0xf0f0u ^ 0xff00u ^ 0xaaaau);
  r = run_snippet("mov.u32 %r3, 0xf0f0; mov.u32 %r4, 0xff00; mov.u32 %r5, 0xaaaa; lop3.b32 %r1, "
                  "%r3, %r4, %r5, 0xe8;",
                  {});
  EXPECT_EQ(r.out[0], (0xf0f0u & 0xff00u) | (0xf0f0u & 0xaaaau) | (0xff00u & 0xaaaau));
  // bfe.s32 of 0x00000f00 at 8, len 4 = 0b1111 -> sign-extended -1; .u32 -> 15.
  r = run_snippet("mov.u32 %r3, 0xf00; bfe.s32 %r1, %r3, 8, 4;", {});
  EXPECT_EQ(r.out[0], 0xffffffffu);
  r = run_snippet("mov.u32 %r3, 0xf00; bfe.u32 %r1, %r3, 8, 4;", {});
  EXPECT_EQ(r.out[0], 15u);
  // bfi: insert 0b101 at bit 4 of 0xffffffff with len 3 -> ...f(1010 1111)? bits 4-6 = 101.
  r = run_snippet("mov.u32 %r3, 5; mov.u32 %r4, 0xffffffff; bfi.b32 %r1, %r3, %r4, 4, 3;", {});
  EXPECT_EQ(r.out[0], 0xffffffdfu);
  r = run_snippet("mov.u32 %r3, 0x00f0; popc.b32 %r4, %r3; clz.b32 %r5, %r3; brev.b32 %r6, %r3; "
                  "add.u32 %r1, %r4, %r5; xor.b32 %r1, %r1, %r6;",
                  {});
  EXPECT_EQ(r.out[0], (4u + 24u) ^ 0x0f000000u);
}

TEST(Instructions, IntegerWidthsAndDivision) {
  // mul.hi.s32 of -2 * 0x40000000 = -2^31 -> high word 0xffffffff; mul.wide.u32 overflow.
  auto r = run_snippet("mov.u32 %r3, -2; mov.u32 %r4, 0x40000000; mul.hi.s32 %r1, %r3, %r4;", {});
  EXPECT_EQ(r.out[0], 0xffffffffu);
  r = run_snippet("mov.u32 %r3, 0xffffffff; mul.wide.u32 %rd6, %r3, %r3; shr.u64 %rd7, %rd6, 32; "
                  "cvt.u32.u64 %r1, %rd7;",
                  {});
  EXPECT_EQ(r.out[0], 0xfffffffeu);
  r = run_snippet("div.s32 %r1, %r2, -3;", {static_cast<uint32_t>(-7)});
  EXPECT_EQ(r.out[0], 2u); // truncation toward zero
  r = run_snippet("rem.s32 %r1, %r2, 3;", {static_cast<uint32_t>(-7)});
  EXPECT_EQ(static_cast<int32_t>(r.out[0]), -1);
  r = run_snippet("shr.s32 %r1, %r2, 40;", {0x80000000u});
  EXPECT_EQ(r.out[0], 0xffffffffu); // shift amounts past the width clamp to the sign
  r = run_snippet("shl.b32 %r1, %r2, 32;", {1});
  EXPECT_EQ(r.out[0], 0u);
  r = run_snippet("add.sat.s32 %r1, %r2, 0x7fffffff;", {5});
  EXPECT_EQ(r.out[0], 0x7fffffffu);
}

// The carry flag (PTX ISA "Extended-Precision Integer Arithmetic"), as libdevice's Payne-Hanek
// reduction for sin/cos/tan uses it: add.cc/addc chain a 64-bit sum of 32-bit halves, sub.cc/subc
// a borrow, mad.lo.cc/madc.hi a multi-word product; the flag is per lane.
TEST(Instructions, CarryChains) {
  // 0xffffffff + in[tid] (0 or 1 by lane parity): the low word wraps and carries into the high.
  std::vector<uint32_t> parity(32);
  for (uint32_t l = 0; l < 32; ++l)
    parity[l] = l % 2;
  auto r = run_snippet("add.cc.u32 %r3, %r2, 0xffffffff; addc.u32 %r1, 0, 0;", parity);
  for (uint32_t l = 0; l < 32; ++l)
    EXPECT_EQ(r.out[l], l % 2) << l;
  // 5 - 7 borrows: subc of 10 - 3 - borrow = 6.
  r = run_snippet("sub.cc.u32 %r3, 5, 7; subc.u32 %r1, 10, 3;", {});
  EXPECT_EQ(r.out[0], 6u);
  // 0 - 0 does not borrow: 10 - 3 = 7.
  r = run_snippet("sub.cc.u32 %r3, 0, 0; subc.u32 %r1, 10, 3;", {});
  EXPECT_EQ(r.out[0], 7u);
  // The low word of 0xffffffff * 0xffffffff is 1; + 0xffffffff carries. The high word 0xfffffffe
  // plus 0 plus the carry: 0xffffffff. madc.hi.cc adds 1 more and carries again into addc.
  r = run_snippet("mov.u32 %r3, 0xffffffff; mad.lo.cc.u32 %r4, %r3, %r3, %r3; "
                  "madc.hi.u32 %r1, %r3, %r3, 0;",
                  {});
  EXPECT_EQ(r.out[0], 0xffffffffu);
  r = run_snippet("mov.u32 %r3, 0xffffffff; mad.lo.cc.u32 %r4, %r3, %r3, %r3; "
                  "madc.hi.cc.u32 %r5, %r3, %r3, 1; addc.u32 %r1, 7, 0;",
                  {});
  EXPECT_EQ(r.out[0], 8u); // 0xfffffffe + 1 + 1 wraps to 0 with a carry
  // 64 bits: 2^64 - 1 + 1 carries.
  r = run_snippet("mov.u64 %rd6, -1; add.cc.u64 %rd7, %rd6, 1; addc.u32 %r1, 40, 2;", {});
  EXPECT_EQ(r.out[0], 43u);
}

TEST(Instructions, ConversionsAndRounding) {
  // cvt.rni.s32.f32 of 2.5 -> 2 (ties to even); rzi of -2.7 -> -2; rmi -> -3; saturation.
  auto cvt = [](const char* inst, float v) {
    return run_snippet(std::string("mov.b32 %f1, %r2; ") + inst + " %r1, %f1;", {fbits(v)}).out[0];
  };
  EXPECT_EQ(cvt("cvt.rni.s32.f32", 2.5f), 2u);
  EXPECT_EQ(cvt("cvt.rni.s32.f32", 3.5f), 4u);
  EXPECT_EQ(static_cast<int32_t>(cvt("cvt.rzi.s32.f32", -2.7f)), -2);
  EXPECT_EQ(static_cast<int32_t>(cvt("cvt.rmi.s32.f32", -2.7f)), -3);
  EXPECT_EQ(cvt("cvt.rzi.u32.f32", -5.0f), 0u);
  EXPECT_EQ(cvt("cvt.rzi.s32.f32", 3e10f), 0x7fffffffu);
  EXPECT_EQ(cvt("cvt.rzi.s32.f32", std::nanf("")), 0u);
  // f32 -> f16 -> f32: 1/3 rounds to 0x3555 (0.33325195).
  auto r = run_snippet("mov.b32 %f1, %r2; cvt.rn.f16.f32 %h1, %f1; cvt.u32.u16 %r1, %h1;",
                       {fbits(1.0f / 3)});
  EXPECT_EQ(r.out[0], 0x3555u);
  // f16 overflow: 70000 -> inf (0x7c00); bf16 of 1/3 -> 0x3eab.
  r = run_snippet("mov.b32 %f1, %r2; cvt.rn.f16.f32 %h1, %f1; cvt.u32.u16 %r1, %h1;",
                  {fbits(70000.0f)});
  EXPECT_EQ(r.out[0], 0x7c00u);
  r = run_snippet("mov.b32 %f1, %r2; cvt.rn.bf16.f32 %h1, %f1; cvt.u32.u16 %r1, %h1;",
                  {fbits(1.0f / 3)});
  EXPECT_EQ(r.out[0], 0x3eabu);
  // cvt.rn.f16x2.f32 d, a, b puts a in the upper half.
  r = run_snippet(
      "mov.f32 %f1, 0f3F800000; mov.f32 %f2, 0f40000000; cvt.rn.f16x2.f32 %r1, %f1, %f2;", {});
  EXPECT_EQ(r.out[0], 0x3c004000u);
  // Integer narrowing: truncation, and .sat clamping.
  r = run_snippet("cvt.u8.u32 %h1, %r2; cvt.u32.u16 %r1, %h1;", {0x1ff});
  EXPECT_EQ(r.out[0], 0xffu);
  r = run_snippet("cvt.sat.s8.s32 %h1, %r2; cvt.s32.s8 %r1, %h1;", {static_cast<uint32_t>(-1000)});
  EXPECT_EQ(static_cast<int32_t>(r.out[0]), -128);
  // e4m3: 1.0 is 0x38; satfinite clamps 1000 to 448 (0x7e).
  r = run_snippet("mov.f32 %f1, 0f447A0000; mov.f32 %f2, 0f3F800000; cvt.rn.satfinite.e4m3x2.f32 "
                  "%h1, %f1, %f2; cvt.u32.u16 %r1, %h1;",
                  {});
  EXPECT_EQ(r.out[0], 0x7e38u);
}

TEST(Instructions, FloatComparisonsAndSpecials) {
  // setp.lt is ordered (false with NaN), setp.ltu unordered (true with NaN).
  uint32_t nan = fbits(std::nanf(""));
  auto r = run_snippet(
      "mov.b32 %f1, %r2; setp.lt.f32 %p1, %f1, 0f3F800000; selp.u32 %r1, 1, 0, %p1;", {nan});
  EXPECT_EQ(r.out[0], 0u);
  r = run_snippet("mov.b32 %f1, %r2; setp.ltu.f32 %p1, %f1, 0f3F800000; selp.u32 %r1, 1, 0, %p1;",
                  {nan});
  EXPECT_EQ(r.out[0], 1u);
  // min with one NaN returns the other operand.
  r = run_snippet("mov.b32 %f1, %r2; min.f32 %f2, %f1, 0f40000000; mov.b32 %r1, %f2;", {nan});
  EXPECT_EQ(bitsf(r.out[0]), 2.0f);
  // fma.rn.f32 rounds once: (1 + 2^-23) * (1 - 2^-23) - 1 = -2^-46 exactly.
  r = run_snippet("mov.f32 %f1, 0f3F800001; mov.f32 %f2, 0f3F7FFFFE; fma.rn.f32 %f3, %f1, %f2, "
                  "0fBF800000; mov.b32 %r1, %f3;",
                  {});
  EXPECT_EQ(bitsf(r.out[0]), -std::ldexp(1.0f, -46));
  // add.rz rounds toward zero: 1 + 2^-24*1.5 -> 1.
  r = run_snippet("mov.f32 %f1, 0f3F800000; mov.f32 %f2, 0f33C00000; add.rz.f32 %f3, %f1, %f2; "
                  "mov.b32 %r1, %f3;",
                  {});
  EXPECT_EQ(bitsf(r.out[0]), 1.0f);
  r = run_snippet("mov.f32 %f1, 0f3F800000; mov.f32 %f2, 0f33C00000; add.rn.f32 %f3, %f1, %f2; "
                  "mov.b32 %r1, %f3;",
                  {});
  EXPECT_EQ(bitsf(r.out[0]), 1.0f + std::ldexp(1.0f, -23));
  // Packed halves: add.f16x2 of {1, 2} + {0.5, 0.25} = {1.5, 2.25}.
  r = run_snippet("mov.b32 %r3, 0x3c004000; mov.b32 %r4, 0x38003400; add.rn.f16x2 %r1, %r3, %r4;",
                  {});
  EXPECT_EQ(r.out[0], 0x3e004080u);
  r = run_snippet("mov.b32 %f1, %r2; ex2.approx.f32 %f2, %f1; mov.b32 %r1, %f2;", {fbits(3.0f)});
  EXPECT_NEAR(bitsf(r.out[0]), 8.0f, 1e-6);
}

TEST(Instructions, AtomicsOnSharedAndGlobal) {
  // Every lane adds tid to a shared counter and increments a wrapping counter (inc with
  // limit 9: wraps to 0 after 9); lane order is deterministic.
  std::string body = R"(
  mov.u32 %r10, sh;
  setp.eq.u32 %p1, %r0, 0;
  @%p1 st.shared.u32 [%r10], 0;
  @%p1 st.shared.u32 [%r10+4], 0;
  bar.sync 0;
  atom.shared.add.u32 %r3, [%r10], %r0;
  atom.shared.inc.u32 %r4, [%r10+4], 9;
  bar.sync 0;
  ld.shared.u32 %r5, [%r10];
  ld.shared.u32 %r6, [%r10+4];
  mad.lo.u32 %r1, %r6, 1000, %r5;
  atom.global.cas.b32 %r7, [%rd5], 0, 77;
)";
  auto r = run_snippet(body, std::vector<uint32_t>(32, 0), 32, ".shared .align 4 .b8 sh[8];");
  EXPECT_TRUE(r.report.ok()) << errors_text(r.report);
  EXPECT_EQ(r.out[0], (32u % 10) * 1000 + 496);
}

TEST(Instructions, LocalMemoryAndUninitialisedReads) {
  std::string body = R"(
  mov.u64 %rd6, buf;
  st.local.u32 [%rd6+4], %r0;
  ld.local.u32 %r1, [%rd6+4];
  ld.local.u32 %r3, [%rd6+8];
)";
  auto r = run_snippet(".local .align 4 .b8 buf[16];\n" + body, {}, 32);
  for (uint32_t l = 0; l < 32; ++l)
    EXPECT_EQ(r.out[l], l);
  const Error* e = find_error(r.report, ErrorKind::memcheck);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->message.find("uninitialised local"), std::string::npos) << e->to_string();
}

TEST(Instructions, MisalignedAndSharedOutOfBounds) {
  auto r = run_snippet("ld.global.u32 %r1, [%rd5+2];", {}, 32);
  const Error* e = find_error(r.report, ErrorKind::memcheck);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->message.find("misaligned"), std::string::npos) << e->to_string();
  r = run_snippet("mov.u32 %r10, sh; ld.shared.u32 %r1, [%r10+64];", {}, 32,
                  ".shared .align 4 .b8 sh[64];");
  e = find_error(r.report, ErrorKind::memcheck);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->message.find("out-of-bounds shared"), std::string::npos) << e->to_string();
}

TEST(Instructions, NestedDivergenceReconverges) {
  // A loop whose trip count is the lane id, inside a branch on parity; after both the
  // warp votes: the ballot must see all 32 lanes again.
  std::string body = R"(
  mov.u32 %r3, 0;
  and.b32 %r4, %r0, 1;
  setp.eq.u32 %p1, %r4, 0;
  @%p1 bra EVEN;
  mov.u32 %r5, 0;
LOOP:
  add.u32 %r3, %r3, 2;
  add.u32 %r5, %r5, 1;
  setp.lt.u32 %p2, %r5, %r0;
  @%p2 bra LOOP;
  bra.uni JOIN;
EVEN:
  mov.u32 %r3, 1;
JOIN:
  activemask.b32 %r6;
  setp.eq.u32 %p3, %r6, -1;
  selp.u32 %r7, 1000, 0, %p3;
  add.u32 %r1, %r3, %r7;
)";
  auto r = run_snippet(body, {});
  ASSERT_TRUE(r.report.ok()) << errors_text(r.report);
  for (uint32_t l = 0; l < 32; ++l)
    EXPECT_EQ(r.out[l], 1000 + (l % 2 ? 2 * l : 1)) << l;
}

TEST(Instructions, CallWithParametersAndReturnValue) {
  std::string decls = R"(
.func (.param .b32 ret) add_twice(.param .b32 a, .param .b32 b)
{
  .reg .b32 %t<4>;
  ld.param.b32 %t1, [a];
  ld.param.b32 %t2, [b];
  add.u32 %t3, %t1, %t2;
  add.u32 %t3, %t3, %t2;
  st.param.b32 [ret], %t3;
  ret;
}
)";
  std::string body = R"(
  {
  .param .b32 p0;
  .param .b32 p1;
  .param .b32 r0;
  st.param.b32 [p0], %r0;
  st.param.b32 [p1], 100;
  call.uni (r0), add_twice, (p0, p1);
  ld.param.b32 %r1, [r0];
  }
)";
  auto r = run_snippet(body, {}, 32, decls);
  ASSERT_TRUE(r.report.ok()) << errors_text(r.report);
  for (uint32_t l = 0; l < 32; ++l)
    EXPECT_EQ(r.out[l], l + 200) << l;
}

TEST(Instructions, BarrierInDivergentCodeDeadlocks) {
  // Warp 1 exits before the barrier is reached by warp 0's lanes... a barrier with an
  // explicit count that is never reached is a deadlock, reported as a sync error.
  auto r = run_snippet("bar.sync 1, 128;", {}, 64);
  const Error* e = find_error(r.report, ErrorKind::sync);
  ASSERT_NE(e, nullptr) << errors_text(r.report);
  EXPECT_NE(e->message.find("deadlock"), std::string::npos);
}

TEST(Instructions, EndlessLoopHitsTheBudget) {
  LaunchOptions o;
  o.max_warp_instructions = 10000;
  auto r = run_snippet("SPIN: bra.uni SPIN;", {}, 32, "", o);
  const Error* e = find_error(r.report, ErrorKind::limit);
  ASSERT_NE(e, nullptr);
  // The message names the knobs that exist (there is no tessel::LaunchOptions field for it).
  EXPECT_NE(e->message.find("budget of 10000 warp instructions"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("sim::LaunchOptions::max_warp_instructions"), std::string::npos);
  EXPECT_NE(e->message.find("tessel-sim run: --max-instructions N"), std::string::npos);
}

TEST(Instructions, MmaM16n8k8Tf32AndS8) {
  // Fragments built per the ISA layouts with A = all ones, B[k][n] = n + 1 and C = lane:
  // every D[i][j] = K * (j + 1) + C[i][j]. With tf32 K = 8; with s8 m16n8k32 K = 32.
  // Lane l holds C/D elements (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1) with g = l/4,
  // t = l%4, so d0 = K*(2t+1) + l and d1 = K*(2t+2) + l.
  std::string tf32 = R"(
  mov.f32 %f1, 0f3F800000;
  shr.u32 %r3, %r0, 2;
  add.u32 %r3, %r3, 1;
  cvt.rn.f32.u32 %f2, %r3;
  cvt.rn.f32.u32 %f4, %r0;
  mov.f32 %f5, %f4;
  mov.f32 %f6, %f4;
  mov.f32 %f7, %f4;
  mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%f8,%f9,%f10,%f11}, {%f1,%f1,%f1,%f1}, {%f2,%f2}, {%f4,%f5,%f6,%f7};
  cvt.rzi.u32.f32 %r4, %f8;
  cvt.rzi.u32.f32 %r5, %f9;
  mad.lo.u32 %r1, %r5, 1000, %r4;
)";
  auto r = run_snippet(tf32, {});
  ASSERT_TRUE(r.report.ok()) << errors_text(r.report);
  for (uint32_t l = 0; l < 32; ++l) {
    uint32_t t = l % 4;
    EXPECT_EQ(r.out[l], (8 * (2 * t + 2) + l) * 1000 + 8 * (2 * t + 1) + l) << l;
  }
  std::string s8 = R"(
  mov.u32 %r10, 0x01010101;
  shr.u32 %r3, %r0, 2;
  add.u32 %r3, %r3, 1;
  mul.lo.u32 %r11, %r3, 0x01010101;
  mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%r12,%r13,%r14,%r15}, {%r10,%r10,%r10,%r10}, {%r11,%r11}, {%r0,%r0,%r0,%r0};
  mad.lo.u32 %r1, %r13, 1000, %r12;
)";
  r = run_snippet(s8, {});
  ASSERT_TRUE(r.report.ok()) << errors_text(r.report);
  for (uint32_t l = 0; l < 32; ++l) {
    uint32_t t = l % 4;
    EXPECT_EQ(r.out[l], (32 * (2 * t + 2) + l) * 1000 + 32 * (2 * t + 1) + l) << l;
  }
}

TEST(Instructions, LdmatrixTransposeAndStmatrix) {
  // Shared tile of 8x8 b16 with element (r, c) = r * 8 + c. ldmatrix.x1: lane l gets row
  // l/4, columns 2(l%4), 2(l%4)+1. With .trans: column l/4, rows 2(l%4), 2(l%4)+1.
  std::string body = R"(
  mov.u32 %r10, tile;
  shl.b32 %r11, %r0, 2;
  add.u32 %r12, %r10, %r11;
  shl.b32 %r13, %r0, 1;
  add.u32 %r14, %r13, 1;
  shl.b32 %r14, %r14, 16;
  or.b32 %r15, %r13, %r14;
  st.shared.u32 [%r12], %r15;
  bar.sync 0;
  and.b32 %r16, %r0, 7;
  shl.b32 %r16, %r16, 4;
  add.u32 %r17, %r10, %r16;
  ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%r1}, [%r17];
  stmatrix.sync.aligned.m8n8.x1.shared.b16 [%r17], {%r1};
  ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%r18}, [%r17];
  setp.ne.u32 %p1, %r18, %r1;
  @%p1 mov.u32 %r1, 0xdead;
)";
  auto r = run_snippet(body, {}, 32, ".shared .align 16 .b8 tile[128];");
  ASSERT_TRUE(r.report.ok()) << errors_text(r.report);
  for (uint32_t l = 0; l < 32; ++l) {
    uint32_t c = l / 4, r0 = 2 * (l % 4);
    EXPECT_EQ(r.out[l], (r0 * 8 + c) | ((r0 + 1) * 8 + c) << 16) << l;
  }
  // 8 rows of 16 bytes at consecutive addresses: one conflict-free wavefront per ldmatrix.
  for (auto& line : r.report.profile.lines) {
    if (line.opcode.rfind("ldmatrix", 0) != 0)
      continue;
    EXPECT_EQ(line.wavefronts, 1u) << line.opcode;
  }
}

TEST(Instructions, StmatrixX4Transposed) {
  // Lane (g, t) holds in register m the elements (g, 2t) and (g, 2t + 1) of matrix m, valued
  // 64 m + 8 row + column; lane l gives the address of row l % 8 of matrix l / 8. With .trans
  // memory row r of matrix m is the fragment's column r: byte 2 (8 r + c) of matrix m holds
  // 64 m + 8 c + r. Each thread then reads word l of the 4 matrices and combines them.
  std::string body = R"(
  and.b32 %r20, %r0, 3;
  shr.u32 %r21, %r0, 2;
  shl.b32 %r22, %r21, 3;
  shl.b32 %r23, %r20, 1;
  add.u32 %r24, %r22, %r23;
  add.u32 %r25, %r24, 1;
  shl.b32 %r25, %r25, 16;
  or.b32 %r26, %r24, %r25;
  mov.u32 %r27, 0x00400040;
  add.u32 %r28, %r26, %r27;
  add.u32 %r29, %r28, %r27;
  add.u32 %r30, %r29, %r27;
  mov.u32 %r10, tile;
  shr.u32 %r31, %r0, 3;
  shl.b32 %r31, %r31, 7;
  and.b32 %r32, %r0, 7;
  shl.b32 %r32, %r32, 4;
  add.u32 %r33, %r31, %r32;
  add.u32 %r33, %r33, %r10;
  stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%r33], {%r26, %r28, %r29, %r30};
  bar.sync 0;
  shl.b32 %r34, %r0, 2;
  add.u32 %r34, %r34, %r10;
  ld.shared.u32 %r35, [%r34];
  ld.shared.u32 %r36, [%r34+128];
  ld.shared.u32 %r37, [%r34+256];
  ld.shared.u32 %r38, [%r34+384];
  mad.lo.u32 %r1, %r36, 3, %r35;
  mad.lo.u32 %r1, %r37, 5, %r1;
  mad.lo.u32 %r1, %r38, 7, %r1;
)";
  auto r = run_snippet(body, {}, 32, ".shared .align 16 .b8 tile[512];");
  ASSERT_TRUE(r.report.ok()) << errors_text(r.report);
  for (uint32_t l = 0; l < 32; ++l) {
    uint32_t row = l / 4, c0 = 2 * (l % 4), want = 0;
    for (uint32_t m = 0; m < 4; ++m) {
      uint32_t word = (64 * m + 8 * c0 + row) | (64 * m + 8 * (c0 + 1) + row) << 16;
      want += word * (2 * m + 1);
    }
    EXPECT_EQ(r.out[l], want) << l;
  }
}

TEST(Instructions, BankRulesForWideAccesses) {
  // 8-byte accesses by 32 lanes to consecutive addresses: two half-warp phases of 128 bytes,
  // each conflict-free: 2 wavefronts, ideal 2. 16-byte accesses with a 32-byte stride:
  // quarter-warp phases of 8 lanes spanning 256 bytes -> each bank twice: 2 per phase,
  // 8 wavefronts against an ideal of 4.
  std::string body = R"(
  mov.u32 %r10, buf;
  shl.b32 %r11, %r0, 3;
  add.u32 %r12, %r10, %r11;
  st.shared.v2.u32 [%r12], {%r0, %r0};
  shl.b32 %r13, %r0, 5;
  add.u32 %r14, %r10, %r13;
  st.shared.v4.u32 [%r14], {%r0, %r0, %r0, %r0};
)";
  auto r = run_snippet(body, {}, 32, ".shared .align 16 .b8 buf[1024];");
  ASSERT_TRUE(r.report.ok()) << errors_text(r.report);
  auto v2 = shared_totals(r.report.profile, "st.shared.v2");
  auto v4 = shared_totals(r.report.profile, "st.shared.v4");
  EXPECT_EQ(v2.wavefronts, 2u);
  EXPECT_EQ(v2.ideal, 2u);
  EXPECT_EQ(v4.wavefronts, 8u);
  EXPECT_EQ(v4.ideal, 4u);
}

TEST(Instructions, LdmatrixBankConflictsAndXorSwizzle) {
  // An 8x8 b16 matrix whose rows are 64 bytes apart (an unpadded tile of 32 halves per row):
  // row r covers words 16r..16r+3, i.e. banks 0-3 for even rows and 16-19 for odd rows, so
  // banks 0-3 must deliver 4 distinct words: 4 wavefronts (3 conflicts). With the 16-byte
  // chunk XOR-swizzled by (r / 2) % 4, row r starts at word 16r + 4 * ((r / 2) % 4): banks
  // 0-3, 16-19, 4-7, 20-23, 8-11, 24-27, 12-15, 28-31, all distinct: 1 wavefront.
  auto run = [](bool swizzle) {
    std::string body = std::string(R"(
  mov.u32 %r10, tile;
  and.b32 %r11, %r0, 7;
  shl.b32 %r12, %r11, 6;
  shr.u32 %r13, %r11, 1;
  and.b32 %r13, %r13, 3;
  shl.b32 %r13, %r13, 4;
  )") + (swizzle ? "add.u32 %r12, %r12, %r13;" : "") +
                       R"(
  add.u32 %r14, %r10, %r12;
  shl.b32 %r15, %r0, 4;
  add.u32 %r16, %r10, %r15;
  st.shared.v4.u32 [%r16], {%r0, %r0, %r0, %r0};
  bar.sync 0;
  ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%r1}, [%r14];
)";
    return run_snippet(body, {}, 32, ".shared .align 16 .b8 tile[512];");
  };
  auto plain = run(false);
  ASSERT_TRUE(plain.report.ok()) << errors_text(plain.report);
  auto lm = shared_totals(plain.report.profile, "ldmatrix");
  EXPECT_EQ(lm.wavefronts, 4u);
  EXPECT_EQ(lm.ideal, 1u);
  auto swizzled = run(true);
  ASSERT_TRUE(swizzled.report.ok()) << errors_text(swizzled.report);
  lm = shared_totals(swizzled.report.profile, "ldmatrix");
  EXPECT_EQ(lm.wavefronts, 1u);
  EXPECT_EQ(lm.ideal, 1u);
}

TEST(Instructions, MembermaskMismatchIsReported) {
  // Only lanes 0-15 execute a shuffle whose membermask names all 32 lanes.
  auto r =
      run_snippet("setp.lt.u32 %p1, %r0, 16; @%p1 shfl.sync.bfly.b32 %r1, %r0, 1, 31, -1;", {});
  const Error* e = find_error(r.report, ErrorKind::sync);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->message.find("0xffff0000"), std::string::npos) << e->to_string();
  // A lane that executes but is not named.
  r = run_snippet("vote.sync.ballot.b32 %r1, %p0, 0x0000ffff;", {});
  e = find_error(r.report, ErrorKind::sync);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->message.find("not named"), std::string::npos) << e->to_string();
  // Lanes that exited are exempt: a full-mask shuffle after half the warp returned is fine.
  r = run_snippet("setp.ge.u32 %p1, %r0, 16; @%p1 exit; shfl.sync.bfly.b32 %r1, %r0, 1, 31, -1;",
                  {});
  EXPECT_TRUE(r.report.ok()) << errors_text(r.report);
}

} // namespace
} // namespace tessel::sim::testing
