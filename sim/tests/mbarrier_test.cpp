// mbarrier phases, transaction counts, misuse reports (hang, arrive overflow, use before
// init) and racecheck through mbarrier arrivals; elect.sync, setmaxnreg, fence.proxy.async.
// Hand-written PTX: the expected results follow from the PTX ISA's definitions (a phase
// completes when its pending arrivals and tx-count are both zero; try_wait.parity P succeeds
// once the phase of parity P has completed, i.e. while the current phase's parity is not P).
#include "sim_test_util.h"

#include <string>
#include <vector>

namespace tessel::sim::testing {
namespace {

// k(.param .u64 out): %r0 tid, %r1 warp, %r2 lane, %r5 = shared &buf[lane], %rd3 = &out[tid],
// %r10 = shared &bars[0] (full), %r12 = &bars[1] (empty).
std::string kernel(const std::string& body, const std::string& target = "sm_90a") {
  return ".version 8.0\n.target " + target + R"(
.address_size 64
.shared .align 8 .b8 bars[16];
.shared .align 4 .b8 buf[512];
.visible .entry k(.param .u64 out)
{
  .reg .pred %p<8>;
  .reg .b32 %r<32>;
  .reg .b64 %rd<8>;
  ld.param.u64 %rd1, [out];
  mov.u32 %r0, %tid.x;
  shr.u32 %r1, %r0, 5;
  and.b32 %r2, %r0, 31;
  shl.b32 %r3, %r2, 2;
  mov.u32 %r4, buf;
  add.u32 %r5, %r4, %r3;
  mul.wide.u32 %rd2, %r0, 4;
  add.s64 %rd3, %rd1, %rd2;
  mov.u32 %r10, bars;
  add.u32 %r12, %r10, 8;
)" + body +
         R"(
DONE:
  ret;
}
)";
}

struct KernelRun {
  std::vector<uint32_t> out;
  LaunchReport report;
};

KernelRun run(const std::string& body, uint32_t threads, LaunchOptions options = {}) {
  Device dev;
  uint64_t out = *dev.malloc(threads * 4);
  std::vector<uint32_t> poison(threads, 0xdeadbeefu);
  EXPECT_TRUE(dev.memcpy_to_device(out, poison.data(), threads * 4).ok());
  std::vector<KernelArg> args = {KernelArg::ptr(out)};
  auto r = dev.launch(kernel(body), "k", {1, 1, 1}, {threads, 1, 1}, 0, args, options);
  KernelRun result;
  if (!r.ok()) {
    ADD_FAILURE() << r.error().to_string();
    return result;
  }
  result.report = *r;
  result.out.resize(threads);
  EXPECT_TRUE(dev.memcpy_to_host(result.out.data(), out, threads * 4).ok());
  return result;
}

// Warp 0 produces three rounds into buf, warp 1 consumes them: "full" (32 arrivals) and
// "empty" (32 arrivals) mbarriers, phases tracked by parity. The consumer stores the sum of
// what it read, sum_i (100 i + lane) = 300 + 3 lane; the producer stores 7.
const char* kPipeline = R"(
  setp.ne.u32 %p0, %r0, 0;
  @%p0 bra INITED;
  mbarrier.init.shared::cta.b64 [%r10], 32;
  mbarrier.init.shared::cta.b64 [%r12], 32;
INITED:
  fence.mbarrier_init.release.cluster;
  bar.sync 0;
  mov.u32 %r20, 0;
  mov.u32 %r21, 0;
  setp.ne.u32 %p0, %r1, 0;
  @%p0 bra CONSUMER;
PRODUCE:
  xor.b32 %r22, %r20, 1;
  and.b32 %r22, %r22, 1;
WAIT_EMPTY:
  mbarrier.try_wait.parity.shared::cta.b64 %p1, [%r12], %r22;
  @!%p1 bra WAIT_EMPTY;
  mul.lo.u32 %r23, %r20, 100;
  add.u32 %r23, %r23, %r2;
  st.shared.u32 [%r5], %r23;
  mbarrier.arrive.release.cta.shared::cta.b64 %rd5, [%r10];
  add.u32 %r20, %r20, 1;
  setp.lt.u32 %p2, %r20, 3;
  @%p2 bra PRODUCE;
  mov.u32 %r21, 7;
  st.global.u32 [%rd3], %r21;
  bra DONE;
CONSUMER:
  and.b32 %r22, %r20, 1;
WAIT_FULL:
  mbarrier.try_wait.parity.shared::cta.b64 %p1, [%r10], %r22;
  @!%p1 bra WAIT_FULL;
  ld.shared.u32 %r23, [%r5];
  add.u32 %r21, %r21, %r23;
  mbarrier.arrive.shared::cta.b64 _, [%r12];
  add.u32 %r20, %r20, 1;
  setp.lt.u32 %p2, %r20, 3;
  @%p2 bra CONSUMER;
  st.global.u32 [%rd3], %r21;
)";

TEST(Mbarrier, ProducerConsumerPhasesByParity) {
  KernelRun r = run(kPipeline, 64);
  EXPECT_TRUE(r.report.errors.empty()) << errors_text(r.report);
  for (uint32_t t = 0; t < 64; ++t)
    EXPECT_EQ(r.out[t], t < 32 ? 7u : 300u + 3u * (t - 32)) << "thread " << t;
}

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

// The producer skips waiting for "empty": it overwrites what the consumer has not read.
TEST(Mbarrier, RacecheckFollowsArrivals) {
  std::string racy = replaced(kPipeline, "  @!%p1 bra WAIT_EMPTY;\n", "");
  KernelRun r = run(racy, 64);
  const Error* e = find_error(r.report, ErrorKind::racecheck);
  ASSERT_NE(e, nullptr) << errors_text(r.report);
  EXPECT_NE(e->message.find("hazard on shared offset"), std::string::npos) << e->message;
}

// The consumer waits for a fourth round that is never produced.
TEST(Mbarrier, WaitOnAPhaseThatNeverCompletesIsAHang) {
  std::string hang = replaced(kPipeline, "  setp.lt.u32 %p2, %r20, 3;\n  @%p2 bra CONSUMER;",
                              "  setp.lt.u32 %p2, %r20, 4;\n  @%p2 bra CONSUMER;");
  KernelRun r = run(hang, 64);
  const Error* e = find_error(r.report, ErrorKind::sync);
  ASSERT_NE(e, nullptr) << errors_text(r.report);
  EXPECT_NE(e->message.find("mbarrier hang"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("phase 3, 32 of 32 arrivals"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("budget"), std::string::npos) << e->message;
}

TEST(Mbarrier, ArriveCountOverflowIsReported) {
  KernelRun r = run(R"(
  setp.ne.u32 %p0, %r0, 0;
  @%p0 bra INITED;
  mbarrier.init.shared::cta.b64 [%r10], 16;
INITED:
  bar.sync 0;
  setp.ne.u32 %p0, %r0, 3;
  @%p0 bra DONE;
  mbarrier.arrive.shared::cta.b64 %rd5, [%r10], 10;
  mbarrier.arrive.shared::cta.b64 %rd5, [%r10], 10;
)",
                    32);
  // 10 of 16 arrive, then 10 more on a phase with 6 pending (per-lane arrivals past a
  // phase's count are the next phase's, as on hardware; a count larger than what is
  // pending is the undefined case).
  const Error* e = find_error(r.report, ErrorKind::sync);
  ASSERT_NE(e, nullptr) << errors_text(r.report);
  EXPECT_NE(e->message.find("arrive count overflow (10 arrivals on a phase with 6 of 16"),
            std::string::npos)
      << e->message;
  EXPECT_EQ(e->thread.x, 3u);
}

TEST(Mbarrier, UseBeforeInitIsReported) {
  KernelRun r = run("  mbarrier.arrive.shared::cta.b64 %rd5, [%r10];\n", 32);
  const Error* e = find_error(r.report, ErrorKind::sync);
  ASSERT_NE(e, nullptr) << errors_text(r.report);
  EXPECT_NE(e->message.find("before mbarrier.init"), std::string::npos) << e->message;
}

TEST(Mbarrier, MisalignedAddressIsReported) {
  KernelRun r = run("  add.u32 %r13, %r10, 4;\n  mbarrier.init.shared::cta.b64 [%r13], 1;\n", 32);
  const Error* e = find_error(r.report, ErrorKind::memcheck);
  ASSERT_NE(e, nullptr) << errors_text(r.report);
  EXPECT_NE(e->message.find("misaligned"), std::string::npos) << e->message;
}

// One thread: arrive.expect_tx 64 leaves the phase open until complete_tx delivers the 64
// bytes; the token of the arrival is phase 0; test_wait sees the phase open, then complete.
// out[0..3] = {token, open?, done?, parity-1 wait on phase 0 (already "complete")}.
TEST(Mbarrier, TransactionBytesCompleteThePhase) {
  KernelRun r = run(R"(
  setp.ne.u32 %p0, %r0, 0;
  @%p0 bra DONE;
  mbarrier.init.shared::cta.b64 [%r10], 1;
  mbarrier.arrive.expect_tx.shared::cta.b64 %rd5, [%r10], 64;
  cvt.u32.u64 %r20, %rd5;
  st.global.u32 [%rd1], %r20;
  mbarrier.test_wait.shared::cta.b64 %p1, [%r10], %rd5;
  selp.u32 %r21, 1, 0, %p1;
  st.global.u32 [%rd1+4], %r21;
  mbarrier.complete_tx.shared::cta.b64 [%r10], 64;
  mbarrier.test_wait.shared::cta.b64 %p1, [%r10], %rd5;
  selp.u32 %r21, 1, 0, %p1;
  st.global.u32 [%rd1+8], %r21;
  mov.u32 %r22, 1;
  mbarrier.test_wait.parity.shared::cta.b64 %p1, [%r10], %r22;
  selp.u32 %r21, 1, 0, %p1;
  st.global.u32 [%rd1+12], %r21;
  mbarrier.inval.shared::cta.b64 [%r10];
)",
                    32);
  EXPECT_TRUE(r.report.errors.empty()) << errors_text(r.report);
  EXPECT_EQ(r.out[0], 0u);
  EXPECT_EQ(r.out[1], 0u);
  EXPECT_EQ(r.out[2], 1u);
  EXPECT_EQ(r.out[3], 0u); // phase 1 (parity 1) is now the open one
}

// Lanes 5..31 elect: every one of them gets 5, only lane 5 a true predicate.
TEST(Elect, LowestActiveMemberLeads) {
  KernelRun r = run(R"(
  setp.lt.u32 %p0, %r2, 5;
  mov.u32 %r20, 99;
  @%p0 bra STORE;
  elect.sync %r20|%p1, 0xffffffe0;
  selp.u32 %r21, 1000, 0, %p1;
  add.u32 %r20, %r20, %r21;
STORE:
  st.global.u32 [%rd3], %r20;
)",
                    32);
  EXPECT_TRUE(r.report.errors.empty()) << errors_text(r.report);
  for (uint32_t l = 0; l < 32; ++l)
    EXPECT_EQ(r.out[l], l < 5 ? 99u : l == 5 ? 1005u : 5u) << "lane " << l;
}

TEST(Setmaxnreg, AcceptedWithinTheRules) {
  KernelRun ok = run("  setmaxnreg.inc.sync.aligned.u32 240;\n  fence.proxy.async.shared::cta;\n"
                     "  griddepcontrol.launch_dependents;\n  griddepcontrol.wait;\n",
                     32);
  EXPECT_TRUE(ok.report.errors.empty()) << errors_text(ok.report);
  KernelRun bad = run("  setmaxnreg.dec.sync.aligned.u32 100;\n", 32);
  const Error* e = find_error(bad.report, ErrorKind::sync);
  ASSERT_NE(e, nullptr) << errors_text(bad.report);
  EXPECT_NE(e->message.find("multiple of 8"), std::string::npos) << e->message;
}

} // namespace
} // namespace tessel::sim::testing
