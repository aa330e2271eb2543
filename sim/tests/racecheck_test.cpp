// Racecheck with vector clocks: named barriers between warp groups (bar.sync id, n and
// bar.arrive) order only their participants, and global memory is checked between threads
// of one launch. Each kernel is hand-written PTX whose race (or absence of one) follows
// from the PTX memory model: see sim/README.md, "racecheck".
#include "sim_test_util.h"

#include <string>
#include <vector>

namespace tessel::sim::testing {
namespace {

// A kernel `k(.param .u64 out)` with %r0 = %tid.x, %r1 = warp, %r2 = lane, %r5 = shared
// address of buf[lane] (u32), %rd3 = &out[lane] and %r7 = %ctaid.x; `body` follows.
std::string kernel(const std::string& body) {
  return R"(.version 8.0
.target sm_80
.address_size 64
.shared .align 4 .b8 buf[512];
.visible .entry k(.param .u64 out)
{
  .reg .pred %p<4>;
  .reg .b32 %r<16>;
  .reg .b64 %rd<8>;
  ld.param.u64 %rd1, [out];
  mov.u32 %r0, %tid.x;
  shr.u32 %r1, %r0, 5;
  and.b32 %r2, %r0, 31;
  shl.b32 %r3, %r2, 2;
  mov.u32 %r4, buf;
  add.u32 %r5, %r4, %r3;
  mul.wide.u32 %rd2, %r2, 4;
  add.s64 %rd3, %rd1, %rd2;
  mov.u32 %r7, %ctaid.x;
)" + body +
         R"(
DONE:
  ret;
}
)";
}

LaunchReport run(const std::string& body, uint32_t blocks, uint32_t threads) {
  Device dev;
  uint64_t out = *dev.malloc(4096);
  EXPECT_TRUE(dev.memset(out, 0, 4096).ok());
  std::vector<KernelArg> args = {KernelArg::ptr(out)};
  auto r = dev.launch(kernel(body), "k", {blocks, 1, 1}, {threads, 1, 1}, 0, args);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  return r.ok() ? *r : LaunchReport{};
}

const Error* race(const LaunchReport& r) { return find_error(r, ErrorKind::racecheck); }

// Warps 0-1 and warps 2-3 each synchronise on their own named barrier; warp 2 then reads
// what warp 0 wrote. The two groups never synchronise with each other: a race. (A single
// epoch per CTA, advanced by any barrier, hid it.)
TEST(Racecheck, NamedBarrierOfAnotherGroupDoesNotOrder) {
  auto r = run(R"(
  setp.gt.u32 %p0, %r1, 1;
  @%p0 bra GROUP_B;
  setp.ne.u32 %p1, %r1, 0;
  @%p1 bra A_SYNC;
  st.shared.u32 [%r5], %r0;
A_SYNC:
  bar.sync 1, 64;
  bra DONE;
GROUP_B:
  bar.sync 2, 64;
  setp.ne.u32 %p1, %r1, 2;
  @%p1 bra DONE;
  ld.shared.u32 %r6, [%r5];
  st.global.u32 [%rd3], %r6;
)",
               1, 128);
  const Error* e = race(r);
  ASSERT_NE(e, nullptr) << errors_text(r);
  EXPECT_NE(e->message.find("read-after-write hazard"), std::string::npos) << e->message;
  EXPECT_EQ(e->thread.x, 64u); // warp 2, lane 0 reads what thread 0 wrote
}

// The same groups, but the reader joins the writer's barrier: ordered, clean.
TEST(Racecheck, NamedBarrierOrdersItsParticipants) {
  auto r = run(R"(
  setp.gt.u32 %p0, %r1, 1;
  @%p0 bra DONE;
  setp.ne.u32 %p1, %r1, 0;
  @%p1 bra READ;
  st.shared.u32 [%r5], %r0;
  bar.sync 1, 64;
  bra DONE;
READ:
  bar.sync 1, 64;
  ld.shared.u32 %r6, [%r5];
  st.global.u32 [%rd3], %r6;
)",
               1, 128);
  EXPECT_EQ(race(r), nullptr) << errors_text(r);
}

// Producer (warp 0) fills the buffer and signals "full" with bar.arrive 1; the consumer
// (warp 1) waits on it, reads, and signals "empty" with bar.arrive 2, which the producer
// waits on before refilling: the warp-specialised handshake, clean.
TEST(Racecheck, ProducerConsumerHandshakeIsClean) {
  auto r = run(R"(
  setp.ne.u32 %p0, %r1, 0;
  @%p0 bra CONSUMER;
  st.shared.u32 [%r5], %r0;
  bar.arrive 1, 64;
  bar.sync 2, 64;
  add.u32 %r6, %r0, 1;
  st.shared.u32 [%r5], %r6;
  bra DONE;
CONSUMER:
  bar.sync 1, 64;
  ld.shared.u32 %r6, [%r5];
  st.global.u32 [%rd3], %r6;
  bar.arrive 2, 64;
)",
               1, 64);
  EXPECT_EQ(race(r), nullptr) << errors_text(r);
  EXPECT_TRUE(r.errors.empty()) << errors_text(r);
}

// The producer refills without waiting for "empty": its second write races the consumer.
TEST(Racecheck, ProducerRefillingBeforeEmptyIsReported) {
  auto r = run(R"(
  setp.ne.u32 %p0, %r1, 0;
  @%p0 bra CONSUMER;
  st.shared.u32 [%r5], %r0;
  bar.arrive 1, 64;
  add.u32 %r6, %r0, 1;
  st.shared.u32 [%r5], %r6;
  bra DONE;
CONSUMER:
  bar.sync 1, 64;
  ld.shared.u32 %r6, [%r5];
  st.global.u32 [%rd3], %r6;
)",
               1, 64);
  const Error* e = race(r);
  ASSERT_NE(e, nullptr) << errors_text(r);
  EXPECT_NE(e->message.find("hazard on shared offset"), std::string::npos) << e->message;
}

// The consumer reads, and the producer (who never waits for "empty") overwrites after the
// consumer has run: a write-after-read race, found through the remembered reader.
TEST(Racecheck, WriteAfterReadAcrossGroupsIsReported) {
  auto r = run(R"(
  setp.ne.u32 %p0, %r1, 0;
  @%p0 bra CONSUMER;
  st.shared.u32 [%r5], %r0;
  bar.arrive 1, 64;
  bar.sync 3, 64;
  add.u32 %r6, %r0, 1;
  st.shared.u32 [%r5], %r6;
  bra DONE;
CONSUMER:
  bar.sync 1, 64;
  ld.shared.u32 %r6, [%r5];
  st.global.u32 [%rd3], %r6;
  bar.sync 4, 32;
  bar.arrive 3, 64;
)",
               1, 64);
  // bar.sync 4, 32 is the consumer's own barrier: it orders nothing with the producer, but
  // the later bar.arrive 3 does, so this one is clean...
  EXPECT_EQ(race(r), nullptr) << errors_text(r);
  // ...while arriving on 3 *before* reading releases nothing of the read.
  auto bad = run(R"(
  setp.ne.u32 %p0, %r1, 0;
  @%p0 bra CONSUMER;
  st.shared.u32 [%r5], %r0;
  bar.arrive 1, 64;
  bar.sync 3, 64;
  add.u32 %r6, %r0, 1;
  st.shared.u32 [%r5], %r6;
  bra DONE;
CONSUMER:
  bar.sync 1, 64;
  bar.arrive 3, 64;
  ld.shared.u32 %r6, [%r5];
  st.global.u32 [%rd3], %r6;
)",
                 1, 64);
  const Error* e = race(bad);
  ASSERT_NE(e, nullptr) << errors_text(bad);
}

// --- global memory ---

TEST(GlobalRacecheck, TwoBlocksWritingDifferentValuesIsReported) {
  auto r = run("  st.global.u32 [%rd1], %r7;\n", 2, 32);
  const Error* e = race(r);
  ASSERT_NE(e, nullptr) << errors_text(r);
  EXPECT_NE(e->message.find("global write-after-write hazard"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("block 0"), std::string::npos) << e->message;
  EXPECT_EQ(e->block.x, 1u);
}

// Documented exception: every thread storing the same bytes (a broadcast scalar store).
TEST(GlobalRacecheck, IdenticalValuesAreBenign) {
  auto r = run("  mov.u32 %r8, 7;\n  st.global.u32 [%rd1], %r8;\n", 2, 64);
  EXPECT_EQ(race(r), nullptr) << errors_text(r);
}

TEST(GlobalRacecheck, DisjointElementsAreClean) {
  auto r = run(R"(
  mul.wide.u32 %rd4, %r7, 128;
  add.s64 %rd5, %rd3, %rd4;
  st.global.u32 [%rd5], %r0;
  ld.global.u32 %r8, [%rd5];
  add.u32 %r8, %r8, 1;
  st.global.u32 [%rd5], %r8;
)",
               4, 32);
  EXPECT_EQ(race(r), nullptr) << errors_text(r);
}

TEST(GlobalRacecheck, ReadOfAnotherBlocksWriteIsReported) {
  auto r = run(R"(
  setp.ne.u32 %p0, %r7, 0;
  @%p0 bra READER;
  mov.u32 %r8, 1;
  st.global.u32 [%rd1], %r8;
  bra DONE;
READER:
  ld.global.u32 %r8, [%rd1];
  st.global.u32 [%rd3+64], %r8;
)",
               2, 32);
  const Error* e = race(r);
  ASSERT_NE(e, nullptr) << errors_text(r);
  EXPECT_NE(e->message.find("global read-after-write hazard"), std::string::npos) << e->message;
}

TEST(GlobalRacecheck, WriteAfterAnotherBlocksReadIsReported) {
  auto r = run(R"(
  setp.ne.u32 %p0, %r7, 0;
  @%p0 bra WRITER;
  ld.global.u32 %r8, [%rd1];
  st.global.u32 [%rd3+64], %r8;
  bra DONE;
WRITER:
  mov.u32 %r8, 5;
  st.global.u32 [%rd1], %r8;
)",
               2, 32);
  const Error* e = race(r);
  ASSERT_NE(e, nullptr) << errors_text(r);
  EXPECT_NE(e->message.find("global write-after-read hazard"), std::string::npos) << e->message;
}

// Warp 0 reads, warp 1 then overwrites the same elements: ordered by bar.sync 0, a
// write-after-read race without it. (A read of what a thread of the same block wrote is the
// documented exception, so the race is shown in this direction.)
TEST(GlobalRacecheck, BarrierOrdersWarpsOfOneBlock) {
  const std::string read = R"(
  setp.ne.u32 %p0, %r1, 0;
  @%p0 bra SKIP;
  ld.global.u32 %r8, [%rd3];
  st.global.u32 [%rd3+128], %r8;
SKIP:
)";
  const std::string write = R"(
  @!%p0 bra DONE;
  st.global.u32 [%rd3], %r0;
)";
  auto clean = run(read + "  bar.sync 0;\n" + write, 1, 64);
  EXPECT_EQ(race(clean), nullptr) << errors_text(clean);
  auto racy = run(read + write, 1, 64);
  const Error* e = race(racy);
  ASSERT_NE(e, nullptr) << errors_text(racy);
  EXPECT_NE(e->message.find("global write-after-read hazard"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("of this block"), std::string::npos) << e->message;
}

TEST(GlobalRacecheck, AtomicsAreNotRaces) {
  auto r = run("  mov.u32 %r8, 1;\n  red.global.add.u32 [%rd1], %r8;\n", 4, 64);
  EXPECT_EQ(race(r), nullptr) << errors_text(r);
}

// Documented limit: past 1 GiB of shadow (36 bytes per byte) a device stops racechecking
// further allocations; a small one allocated first is still checked.
TEST(GlobalRacecheck, AllocationsPastTheShadowBudgetAreNotChecked) {
  Device dev;
  uint64_t small = *dev.malloc(64), big = *dev.malloc(40u << 20);
  const std::string ptx = kernel("  st.global.u32 [%rd1], %r7;\n");
  for (uint64_t out : {small, big}) {
    std::vector<KernelArg> args = {KernelArg::ptr(out)};
    auto r = dev.launch(ptx, "k", {2, 1, 1}, {32, 1, 1}, 0, args);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(race(*r) != nullptr, out == small) << errors_text(*r);
  }
}

// Block 0 writes then bumps a flag atomically; block 1 bumps it and then overwrites: the
// atomics order the two writes (acquire-release). Without block 1's atomic, a race.
TEST(GlobalRacecheck, AtomicsOrderAccessesAcrossBlocks) {
  const std::string head = R"(
  setp.ne.u32 %p0, %r0, 0;
  @%p0 bra DONE;
  setp.ne.u32 %p1, %r7, 0;
  @%p1 bra SECOND;
  st.global.u32 [%rd1], %r7;
  atom.global.add.u32 %r8, [%rd1+64], 1;
  bra DONE;
SECOND:
)";
  auto ordered =
      run(head + "  atom.global.add.u32 %r8, [%rd1+64], 1;\n  st.global.u32 [%rd1], %r7;\n", 2, 32);
  EXPECT_EQ(race(ordered), nullptr) << errors_text(ordered);
  auto racy = run(head + "  st.global.u32 [%rd1], %r7;\n", 2, 32);
  EXPECT_NE(race(racy), nullptr) << errors_text(racy);
}

// Memory-ordered ld/st (tessel's atomic_load / atomic_store) are atomic accesses: two blocks
// storing different values with st.release and reading with ld.acquire do not race, and a
// release store then an acquire load order the plain accesses around them as atom does; the
// same plain ld/st race.
TEST(GlobalRacecheck, AcquireLoadsAndReleaseStoresAreAtomicAccesses) {
  auto atomic = run(R"(
  st.release.gpu.global.u32 [%rd1], %r7;
  ld.acquire.gpu.global.u32 %r8, [%rd1];
  ld.relaxed.cta.global.u32 %r9, [%rd1];
  st.relaxed.sys.global.u32 [%rd1], %r9;
)",
                    2, 32);
  EXPECT_EQ(race(atomic), nullptr) << errors_text(atomic);
  auto plain = run(R"(
  st.global.u32 [%rd1], %r7;
  ld.global.u32 %r8, [%rd1];
)",
                   2, 32);
  EXPECT_NE(race(plain), nullptr) << errors_text(plain);
  const std::string head = R"(
  setp.ne.u32 %p0, %r0, 0;
  @%p0 bra DONE;
  setp.ne.u32 %p1, %r7, 0;
  @%p1 bra SECOND;
  st.global.u32 [%rd1], %r7;
  st.release.gpu.global.u32 [%rd1+64], %r7;
  bra DONE;
SECOND:
  ld.acquire.gpu.global.u32 %r8, [%rd1+64];
  st.global.u32 [%rd1], %r7;
)";
  auto ordered = run(head, 2, 32);
  EXPECT_EQ(race(ordered), nullptr) << errors_text(ordered);
}

TEST(GlobalRacecheck, ConsecutiveLaunchesAreOrdered) {
  Device dev;
  uint64_t out = *dev.malloc(64);
  std::vector<KernelArg> args = {KernelArg::ptr(out)};
  const std::string ptx = kernel("  st.global.u32 [%rd1], %r7;\n");
  for (uint32_t i = 0; i < 2; ++i) {
    auto r = dev.launch(ptx, "k", {1, 1, 1}, {32, 1, 1}, 0, args);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(race(*r), nullptr) << errors_text(*r);
  }
}

// The shadow is stored per word (src/word_shadow.h) but decided per byte. A byte store splits
// word 0 of buf; a whole-word read after the barrier then finds bytes 0, 1 and 3 never written:
// one initcheck report for the first (offset 0), the other two counted as dropped repeats.
TEST(ShadowWords, ByteStoreSplitsAWordAndTheWordReadIsCheckedPerByte) {
  auto r = run(R"(
  setp.ne.u32 %p0, %r0, 32;
  @%p0 bra SYNC;
  add.u32 %r8, %r4, 2;
  st.shared.u8 [%r8], %r0;
SYNC:
  bar.sync 0;
  setp.ne.u32 %p1, %r0, 0;
  @%p1 bra DONE;
  ld.shared.u32 %r6, [%r4];
  st.global.u32 [%rd3], %r6;
)",
               1, 64);
  const Error* e = find_error(r, ErrorKind::memcheck);
  ASSERT_NE(e, nullptr) << errors_text(r);
  EXPECT_NE(e->message.find("uninitialised shared memory at offset 0"), std::string::npos)
      << e->message;
  EXPECT_EQ(e->thread.x, 0u);
  EXPECT_EQ(r.errors.size(), 1u) << errors_text(r);
  EXPECT_EQ(r.dropped_errors, 2u); // bytes 1 and 3
}

// Four byte stores by thread 0 give the bytes of word 0 one state again (merged), and a word
// read by warp 1 with no barrier races with each byte: reported once, at offset 0, naming
// thread 0, with the three other bytes counted as repeats.
TEST(ShadowWords, MergedWordStillRacesPerByte) {
  auto r = run(R"(
  setp.ne.u32 %p0, %r0, 0;
  @%p0 bra READER;
  st.shared.u8 [%r4], %r0;
  add.u32 %r8, %r4, 1;
  st.shared.u8 [%r8], %r0;
  add.u32 %r8, %r4, 2;
  st.shared.u8 [%r8], %r0;
  add.u32 %r8, %r4, 3;
  st.shared.u8 [%r8], %r0;
  bra DONE;
READER:
  setp.ne.u32 %p1, %r0, 32;
  @%p1 bra DONE;
  ld.shared.u32 %r6, [%r4];
  st.global.u32 [%rd3], %r6;
)",
               1, 64);
  const Error* e = race(r);
  ASSERT_NE(e, nullptr) << errors_text(r);
  EXPECT_NE(e->message.find("read-after-write hazard on shared offset 0: written by thread 0"),
            std::string::npos)
      << e->message;
  EXPECT_EQ(e->thread.x, 32u);
  EXPECT_EQ(r.errors.size(), 1u) << errors_text(r);
  EXPECT_EQ(r.dropped_errors, 3u); // bytes 1, 2 and 3
}

} // namespace
} // namespace tessel::sim::testing
