// Address resolution and the memcheck/racecheck/initcheck rules: see memory_access.h.
#include "memory_access.h"

#include "bank_conflicts.h"

#include <fmt/format.h>

namespace tessel::sim {

namespace {

const char* kind_name(AccessKind k) {
  switch (k) {
  case AccessKind::read:
    return "read";
  case AccessKind::write:
    return "write";
  case AccessKind::atomic:
    return "atomic";
  }
  return "access";
}

void shared_checks(Exec& x, const Inst& in, uint32_t off, uint32_t size, uint32_t lane,
                   AccessKind kind) {
  Cta& cta = x.cta;
  const LaunchOptions& opt = x.launch.options;
  const uint32_t tid = x.tid_linear(lane);
  const uint32_t warp = x.warp.index;
  const uint32_t epoch = cta.epoch;
  for (uint32_t i = 0; i < size; ++i) {
    ShadowByte& sh = cta.shadow[off + i];
    if (kind != AccessKind::write) {
      if (sh.pending) {
        x.report(ErrorKind::sync, in, static_cast<int>(lane), true, off + i,
                 fmt::format("shared memory at offset {} is read before the cp.async that writes "
                             "it was waited for (missing cp.async.wait_group/wait_all)",
                             off + i));
      } else if (opt.check_uninitialized && !sh.initialized) {
        x.report(ErrorKind::memcheck, in, static_cast<int>(lane), true, off + i,
                 fmt::format("{} of uninitialised shared memory at offset {}", kind_name(kind),
                             off + i));
      }
    }
    if (kind == AccessKind::atomic) {
      sh.initialized = 1;
      continue;
    }
    if (opt.racecheck) {
      bool other_writer = sh.write_epoch == epoch && sh.writer / 32 != warp;
      if (kind == AccessKind::read && other_writer) {
        x.report(ErrorKind::racecheck, in, static_cast<int>(lane), true, off + i,
                 fmt::format("read-after-write hazard on shared offset {}: written by thread {} "
                             "with no barrier between the write and this read",
                             off + i, sh.writer));
      }
      if (kind == AccessKind::write) {
        if (other_writer)
          x.report(ErrorKind::racecheck, in, static_cast<int>(lane), true, off + i,
                   fmt::format("write-after-write hazard on shared offset {}: also written by "
                               "thread {} with no barrier between",
                               off + i, sh.writer));
        else if (sh.read_epoch == epoch && (sh.multi_warp_read || sh.reader / 32 != warp))
          x.report(ErrorKind::racecheck, in, static_cast<int>(lane), true, off + i,
                   fmt::format("write-after-read hazard on shared offset {}: read by thread {} "
                               "with no barrier between the read and this write",
                               off + i, sh.reader));
      }
    }
    if (kind == AccessKind::write) {
      sh.initialized = 1;
      sh.writer = static_cast<uint16_t>(tid);
      sh.write_epoch = epoch;
      if (sh.pending)
        x.report(ErrorKind::sync, in, static_cast<int>(lane), true, off + i,
                 fmt::format("shared offset {} is written while a cp.async to it is in flight",
                             off + i));
    } else if (sh.read_epoch != epoch) {
      sh.read_epoch = epoch;
      sh.reader = static_cast<uint16_t>(tid);
      sh.multi_warp_read = 0;
    } else if (sh.reader / 32 != warp) {
      sh.multi_warp_read = 1;
    }
  }
}

} // namespace

Resolved access_memory(Exec& x, const Inst& in, Space space, uint64_t addr, uint32_t size,
                       uint32_t align, uint32_t lane, AccessKind kind) {
  Resolved r;
  Launch& L = x.launch;
  auto fail = [&](ErrorKind k, const std::string& msg) {
    x.report(k, in, static_cast<int>(lane), true, addr, msg);
    return Resolved{};
  };
  if (space == Space::generic) {
    if (addr >= kSharedWindow && addr < kSharedWindow + kWindowSize) {
      space = Space::shared;
      addr -= kSharedWindow;
    } else if (addr >= kLocalWindow && addr < kLocalWindow + kWindowSize) {
      space = Space::local;
      addr -= kLocalWindow;
    } else if (addr >= kParamWindow && addr < kParamWindow + kWindowSize) {
      space = Space::param;
    } else {
      space = Space::global;
    }
  }
  if (align > 1 && addr % align != 0)
    return fail(ErrorKind::memcheck,
                fmt::format("misaligned {}-byte {} at address {:#x} ({} space needs {}-byte "
                            "alignment)",
                            size, kind_name(kind), addr, space_name(space), align));
  switch (space) {
  case Space::global:
  case Space::const_:
  case Space::generic: {
    uint8_t* p = L.gmem->host(addr, size);
    if (!p) {
      std::string where = addr == 0 ? " (null pointer)" : "";
      return fail(ErrorKind::memcheck,
                  fmt::format("out-of-bounds global {} of {} bytes at address {:#x}: not inside "
                              "any allocation{}",
                              kind_name(kind), size, addr, where));
    }
    if (space == Space::const_ && kind != AccessKind::read)
      return fail(ErrorKind::memcheck, "write to .const memory");
    r.ptr = p;
    r.space = Space::global;
    return r;
  }
  case Space::shared: {
    if (addr + size > L.smem_bytes || addr >= kWindowSize)
      return fail(ErrorKind::memcheck,
                  fmt::format("out-of-bounds shared {} of {} bytes at offset {:#x}: the CTA has "
                              "{} bytes of shared memory",
                              kind_name(kind), size, addr, L.smem_bytes));
    uint32_t off = static_cast<uint32_t>(addr);
    shared_checks(x, in, off, size, lane, kind);
    r.ptr = x.cta.smem.data() + off;
    r.space = Space::shared;
    r.offset = off;
    return r;
  }
  case Space::param:
    if (addr >= kParamWindow) {
      uint64_t off = addr - kParamWindow;
      if (off + size > L.params.size())
        return fail(ErrorKind::memcheck,
                    fmt::format("parameter {} of {} bytes at offset {} is past the {} bytes of "
                                "kernel parameters",
                                kind_name(kind), size, off, L.params.size()));
      if (kind != AccessKind::read)
        return fail(ErrorKind::memcheck, "write to kernel parameters");
      r.ptr = L.params.data() + off;
      r.space = Space::param;
      return r;
    }
    [[fallthrough]]; // call-site and .func parameters live in the local window
  case Space::local: {
    uint32_t lb = L.module->local_bytes;
    if (addr + size > lb)
      return fail(ErrorKind::memcheck,
                  fmt::format("out-of-bounds local {} of {} bytes at offset {:#x}: the thread has "
                              "{} bytes of local memory",
                              kind_name(kind), size, addr, lb));
    size_t base = size_t(x.tid_linear(lane)) * lb + addr;
    uint8_t* init = x.cta.local_init.data() + base;
    if (kind == AccessKind::write) {
      std::memset(init, 1, size);
    } else if (L.options.check_uninitialized) {
      for (uint32_t i = 0; i < size; ++i)
        if (!init[i]) {
          x.report(ErrorKind::memcheck, in, static_cast<int>(lane), true, addr,
                   fmt::format("read of uninitialised local memory at offset {}", addr + i));
          break;
        }
    }
    r.ptr = x.cta.local.data() + base;
    r.space = Space::local;
    r.offset = static_cast<uint32_t>(addr);
    return r;
  }
  }
  return r;
}

void account_shared(Exec& x, const uint32_t* offsets, uint32_t mask, uint32_t bytes) {
  uint32_t ideal = 0;
  uint32_t wf = shared_wavefronts(offsets, mask, bytes, &ideal);
  uint32_t fi = x.frame.fn_index;
  ++x.launch.shared_requests[fi][x.pc];
  x.launch.wavefronts[fi][x.pc] += wf;
  x.launch.ideal_wavefronts[fi][x.pc] += ideal;
}

void shared_written(Exec& x, const Inst& in, uint32_t offset, uint32_t size, uint32_t lane) {
  shared_checks(x, in, offset, size, lane, AccessKind::write);
}

} // namespace tessel::sim
