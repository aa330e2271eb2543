// mbarrier: init, inval, arrive (with a count), arrive.expect_tx, expect_tx, complete_tx,
// try_wait / test_wait with a phase token or a parity. The object's state lives in
// Cta::mbarriers beside its 8 shared bytes. A phase completes when its pending arrivals and
// its transaction bytes both reach zero; a failed wait yields the warp so the others can
// arrive (run_cta reports a round in which nothing can arrive any more as a hang).
// Racecheck: an arrival releases the arriver's clock into the barrier, a successful wait
// acquires what the completed phases released (sim/README.md, "racecheck").
#include "executor.h"

#include <fmt/format.h>

namespace tessel::sim {

namespace {

constexpr uint32_t kMaxCount = (1u << 20) - 1; // PTX ISA: count and tx-count are 20-bit
constexpr int64_t kMaxTx = (1 << 20) - 1;

// The shared offset of lane `l`'s address operand, or false (reported) when it is not an
// 8-byte aligned address inside the CTA's shared memory.
bool mbarrier_offset(Exec& x, const Inst& in, const Operand& a, uint32_t l, uint32_t& off) {
  uint64_t addr =
      (a.index == kNoSlot ? 0 : x.R[size_t(a.index) * 32 + l]) + static_cast<uint64_t>(a.imm);
  if (in.space == Space::shared)
    addr &= 0xffffffffu;
  else if (addr >= kSharedWindow && addr < kSharedWindow + kWindowSize)
    addr -= kSharedWindow;
  else {
    x.report(ErrorKind::memcheck, in, static_cast<int>(l), true, addr,
             fmt::format("mbarrier address {:#x} is not in shared memory", addr));
    return false;
  }
  if (addr % 8 != 0 || addr + 8 > x.launch.smem_bytes) {
    x.report(ErrorKind::memcheck, in, static_cast<int>(l), true, addr,
             fmt::format("mbarrier at shared offset {:#x} is {} (an mbarrier is 8 bytes, 8-byte "
                         "aligned, inside the CTA's {} bytes of shared memory)",
                         addr, addr % 8 ? "misaligned" : "out of bounds", x.launch.smem_bytes));
    return false;
  }
  off = static_cast<uint32_t>(addr);
  return true;
}

uint64_t operand_value(const Exec& x, const Operand& o, uint32_t l) {
  return o.index == kNoSlot ? static_cast<uint64_t>(o.imm) : x.R[size_t(o.index) * 32 + l];
}

MBarrier* find_mbarrier(Exec& x, const Inst& in, uint32_t off, uint32_t l) {
  auto it = x.cta.mbarriers.find(off);
  if (it != x.cta.mbarriers.end())
    return &it->second;
  x.report(ErrorKind::sync, in, static_cast<int>(l), true, off,
           fmt::format("mbarrier at shared offset {:#x} is used before mbarrier.init (or after "
                       "mbarrier.inval)",
                       off));
  return nullptr;
}

void complete_if_done(Cta& cta, MBarrier& mb) {
  if (mb.pending != 0 || mb.tx != 0)
    return;
  ++mb.phase;
  mb.pending = mb.expected;
  mb.released = mb.arrived;
  ++cta.progress;
}

bool add_tx(Exec& x, const Inst& in, MBarrier& mb, uint32_t off, int64_t delta, uint32_t l) {
  int64_t tx = mb.tx + delta;
  if (tx > kMaxTx || tx < -kMaxTx) {
    x.report(ErrorKind::sync, in, static_cast<int>(l), true, off,
             fmt::format("mbarrier at shared offset {:#x}: transaction count {} is outside the "
                         "range of +-{} bytes per phase",
                         off, tx, kMaxTx));
    return false;
  }
  mb.tx = tx;
  return true;
}

void init(Exec& x, const Inst& in, uint32_t mask) {
  for_lanes(mask, [&](uint32_t l) {
    uint32_t off;
    if (!mbarrier_offset(x, in, in.ops[0], l, off))
      return;
    uint64_t count = operand_value(x, in.ops[1], l);
    if (count == 0 || count > kMaxCount) {
      x.report(ErrorKind::sync, in, static_cast<int>(l), true, off,
               fmt::format("mbarrier.init count {} is outside 1..{}", count, kMaxCount));
      return;
    }
    MBarrier mb;
    mb.expected = mb.pending = static_cast<uint32_t>(count);
    x.cta.mbarriers[off] = std::move(mb);
    std::fill_n(x.cta.smem.begin() + off, 8, uint8_t{0});
    for (uint32_t i = 0; i < 8; ++i)
      x.cta.shadow.byte(off + i).initialized = 1;
    ++x.cta.progress;
  });
}

// arrive, arrive.expect_tx (expect first, as the ISA orders them), expect_tx, complete_tx.
void arrive(Exec& x, const Inst& in, uint32_t mask) {
  const bool has_state = in.op == Op::mbarrier_arrive || in.op == Op::mbarrier_arrive_expect_tx;
  const Operand& addr = in.ops[has_state ? 1 : 0];
  const bool counts_arrival = has_state;
  bool released = false;
  for_lanes(mask, [&](uint32_t l) {
    uint32_t off;
    if (!mbarrier_offset(x, in, addr, l, off))
      return;
    MBarrier* mb = find_mbarrier(x, in, off, l);
    if (!mb)
      return;
    const int extra = has_state ? 2 : 1;
    uint64_t arg = in.nops > extra ? operand_value(x, in.ops[extra], l) : 1;
    if (in.op == Op::mbarrier_arrive_expect_tx || in.op == Op::mbarrier_expect_tx)
      if (!add_tx(x, in, *mb, off, static_cast<int64_t>(arg), l))
        return;
    if (in.op == Op::mbarrier_complete_tx && !add_tx(x, in, *mb, off, -int64_t(arg), l))
      return;
    join_clock(mb->arrived, x.warp.vc);
    released = true;
    if (counts_arrival) {
      uint32_t n = in.op == Op::mbarrier_arrive && in.nops > 2 ? static_cast<uint32_t>(arg) : 1;
      if (has_state)
        x.R[size_t(in.ops[0].index) * 32 + l] = mb->phase;
      if (n > mb->pending) {
        x.report(ErrorKind::sync, in, static_cast<int>(l), true, off,
                 fmt::format("mbarrier at shared offset {:#x}: arrive count overflow ({} "
                             "arrivals on a phase with {} of {} pending)",
                             off, n, mb->pending, mb->expected));
        return;
      }
      mb->pending -= n;
    }
    ++x.cta.progress;
    complete_if_done(x.cta, *mb);
  });
  if (released)
    ++x.warp.vc[x.warp.index]; // later accesses are not released by this arrival
}

// try_wait / test_wait: p = whether the phase (token, or parity) has completed.
void wait(Exec& x, const Inst& in, uint32_t mask) {
  uint32_t done = 0;
  uint32_t waited_on = 0;
  bool acquired = false;
  for_lanes(mask, [&](uint32_t l) {
    uint32_t off;
    if (!mbarrier_offset(x, in, in.ops[1], l, off))
      return;
    MBarrier* mb = find_mbarrier(x, in, off, l);
    if (!mb)
      return;
    uint64_t v = operand_value(x, in.ops[2], l);
    bool complete = in.has(kParity) ? (mb->phase & 1) != (v & 1) : mb->phase > v;
    if (complete) {
      done |= 1u << l;
      join_clock(x.warp.vc, mb->released);
      acquired = true;
    } else {
      waited_on = off;
    }
  });
  if (acquired)
    ++x.warp.vc[x.warp.index];
  uint32_t& p = x.P[in.ops[0].index];
  p = (p & ~mask) | done;
  if (done != mask) {
    x.warp.yield = true;
    x.warp.wait_pc = x.pc;
    x.warp.wait_offset = waited_on;
  }
}

void inval(Exec& x, const Inst& in, uint32_t mask) {
  for_lanes(mask, [&](uint32_t l) {
    uint32_t off;
    if (mbarrier_offset(x, in, in.ops[0], l, off) && find_mbarrier(x, in, off, l))
      x.cta.mbarriers.erase(off);
  });
}

} // namespace

bool mbarrier_complete_tx(Exec& x, const Inst& in, uint32_t offset, int64_t bytes, uint32_t lane) {
  MBarrier* mb = find_mbarrier(x, in, offset, lane);
  if (!mb || !add_tx(x, in, *mb, offset, -bytes, lane))
    return false;
  join_clock(mb->arrived, x.warp.vc);
  ++x.cta.progress;
  complete_if_done(x.cta, *mb);
  return true;
}

void exec_mbarrier(Exec& x, const Inst& in, uint32_t mask) {
  if (!mask)
    return;
  switch (in.op) {
  case Op::mbarrier_init:
    return init(x, in, mask);
  case Op::mbarrier_inval:
    return inval(x, in, mask);
  case Op::mbarrier_arrive:
  case Op::mbarrier_arrive_expect_tx:
  case Op::mbarrier_expect_tx:
  case Op::mbarrier_complete_tx:
    return arrive(x, in, mask);
  case Op::mbarrier_try_wait:
  case Op::mbarrier_test_wait:
    return wait(x, in, mask);
  case Op::cp_bulk_tensor:
    return exec_tensor_copy(x, in, mask);
  default:
    return; // other families' ops never reach here
  }
}

} // namespace tessel::sim
