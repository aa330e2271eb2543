// cp.async and its groups. A cp.async reads its global source when it is issued (with
// memcheck) and marks its shared destination "pending"; the bytes land in shared memory
// only when a cp.async.wait_group/wait_all completes the group, so a kernel that reads the
// destination too early is reported (and would see stale data). Groups are kept per warp:
// commit_group closes the open group, wait_group N completes all but the N newest.
#include "executor.h"
#include "memory_access.h"

#include <cstring>
#include <fmt/format.h>

namespace tessel::sim {

namespace {

// Closes the warp's open group; its successor reuses the storage of a completed group, so a
// pipelined loop does not allocate per commit.
void commit_open_group(Warp& w) {
  w.groups.push_back(std::move(w.open_group));
  w.open_group.clear();
  if (!w.spare_groups.empty()) {
    w.open_group = std::move(w.spare_groups.back());
    w.spare_groups.pop_back();
  }
}

// Marks the destination of a cp.async in flight; a byte already in flight is reported.
void mark_pending(Exec& x, const Inst& in, uint32_t dst, uint32_t size, uint32_t lane) {
  // No copy in flight to any byte and one state for all (the usual case): per word.
  if (ShadowByte* w = x.cta.shadow.uniform_words(dst, size); w && !w->pending) {
    w->pending = 1;
    x.cta.shadow.fill_words(dst, size);
    return;
  }
  for (uint32_t i = 0; i < size; ++i) {
    ShadowByte& sh = x.cta.shadow.byte(dst + i);
    if (sh.pending)
      x.report(ErrorKind::sync, in, static_cast<int>(lane), true, dst + i,
               fmt::format("cp.async to shared offset {} while an earlier cp.async to it is "
                           "still in flight",
                           dst + i));
    sh.pending = 1;
  }
}

} // namespace

void complete_async_groups(Exec& x, const Inst& in, size_t keep) {
  Warp& w = x.warp;
  if (keep == 0 && !w.open_group.empty())
    commit_open_group(w);
  while (w.groups.size() > keep) {
    std::vector<AsyncCopy>& group = w.groups.front();
    for (const AsyncCopy& c : group) {
      x.cta.shadow.clear_pending(c.dst, c.size);
      shared_written(x, in, c.dst, c.size, c.lane);
      std::memcpy(x.cta.smem.data() + c.dst, c.bytes, c.size);
    }
    group.clear();
    w.spare_groups.push_back(std::move(group));
    w.groups.pop_front();
  }
}

void exec_async(Exec& x, const Inst& in, uint32_t mask) {
  switch (in.op) {
  case Op::cp_async: {
    if (!mask)
      return;
    const Operand& dst = in.ops[0];
    const Operand& src = in.ops[1];
    const uint32_t size = static_cast<uint32_t>(in.ops[2].imm);
    if (size != 4 && size != 8 && size != 16) {
      x.report(ErrorKind::unsupported, in, -1, false, 0,
               fmt::format("cp.async copy size {} (must be 4, 8 or 16)", size));
      return;
    }
    const uint64_t* db = dst.index == kNoSlot ? nullptr : x.reg(dst.index);
    const uint64_t* sb = src.index == kNoSlot ? nullptr : x.reg(src.index);
    const uint64_t* src_size =
        in.nops >= 4 && in.ops[3].kind != OperandKind::none ? x.src(in, 3) : nullptr;
    uint32_t offsets[32];
    uint32_t shared_mask = 0;
    for_lanes(mask, [&](uint32_t l) {
      uint64_t d = ((db ? db[l] : 0) + static_cast<uint64_t>(dst.imm)) & 0xffffffffu;
      uint64_t s = (sb ? sb[l] : 0) + static_cast<uint64_t>(src.imm);
      if (d % size != 0 || d + size > x.launch.smem_bytes) {
        x.report(ErrorKind::memcheck, in, static_cast<int>(l), true, d,
                 fmt::format("cp.async destination offset {:#x} is {} ({} bytes of shared memory)",
                             d, d % size ? "misaligned" : "out of bounds", x.launch.smem_bytes));
        return;
      }
      AsyncCopy c{};
      c.lane = l;
      c.dst = static_cast<uint32_t>(d);
      c.size = size;
      uint32_t n = src_size ? std::min<uint32_t>(static_cast<uint32_t>(src_size[l]), size) : size;
      if (n > 0) {
        Resolved r =
            access_memory(x, in, Space::global, s, n, n == size ? size : 1, l, AccessKind::read);
        if (r.ptr)
          std::memcpy(c.bytes, r.ptr, n);
      }
      mark_pending(x, in, c.dst, size, l);
      offsets[l] = c.dst;
      shared_mask |= 1u << l;
      x.warp.open_group.push_back(c);
    });
    if (shared_mask)
      account_shared(x, offsets, shared_mask, size);
    return;
  }
  case Op::cp_async_commit:
    if (!mask)
      return;
    commit_open_group(x.warp);
    return;
  case Op::cp_async_wait_group:
    if (!mask)
      return;
    complete_async_groups(x, in, static_cast<size_t>(in.ops[0].imm));
    return;
  case Op::cp_async_wait_all:
    if (!mask)
      return;
    complete_async_groups(x, in, 0);
    return;
  default:
    return;
  }
}

} // namespace tessel::sim
